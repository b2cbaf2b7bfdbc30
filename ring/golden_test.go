package ring

import (
	"encoding/binary"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestRing_golden pins the placement: nodes that run different builds must
// still compute the same walks, so any change to these digests is a breaking
// change to the cluster protocol (mixed-version clusters would disagree on
// ownership). Update a digest only for a deliberate, versioned change.
func TestRing_golden(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		members []string
		want    uint64
	}{
		{"default 5", DefaultConfig(), memberNames("node-", 5), 0x1d4c8c71aec6c409},
		{"default 30", DefaultConfig(), memberNames("node-", 30), 0x3fd4c3a36e541a30},
		{"plain 7", Config{Partitions: 256, Tokens: 64}, memberNames("n", 7), 0x310016c147f20c66},
		{"tight 9", Config{Partitions: 16, Tokens: 8, NVal: 2, MaxLoad: 1}, memberNames("m", 9), 0xb5c25598133fc315},
	}
	for _, tc := range tests {
		r := mustNew(t, tc.cfg, tc.members)
		var d xxhash.Digest
		d.Reset()
		for p := range tc.cfg.Partitions {
			for _, m := range r.Walk(p) {
				d.Write(binary.AppendUvarint(nil, uint64(len(m))))
				d.WriteString(m)
			}
		}
		if got := d.Sum64(); got != tc.want {
			t.Errorf("%s: walks digest = %#x, want %#x", tc.name, got, tc.want)
		}
	}
}
