package antientropy

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

var update = flag.Bool("update", false, "rewrite testdata/wire.golden")

type message struct {
	kind     uint8
	from, to string
	response bool
	body     []byte
}

// recordedExchange runs a small deterministic exchange and reap between
// two nodes and returns every message.
func recordedExchange(t testing.TB) ([]message, *cluster) {
	t.Helper()
	c := newCluster(t, clusterOpts{nodes: 2, partitions: 2, nval: 2, cfg: func(c *Config) { c.Segments = 16 }})
	n1, n2 := c.rep("n1"), c.rep("n2")
	fill(t, c, 0, 60, 4, n1, n2)
	n1.write(t, keyN(3), val("new", c.clock.Now()), 2, true)
	n2.write(t, keyN(70), val("only-n2", c.clock.Now()), 3, true)
	n2.set(t, keyN(5), versioning.Clock{})
	k := keyN(9)
	cl, _ := n1.get(t, k)
	del := versioning.Update(versioning.New(versioning.Join(cl), tomb(c.clock.Now())), cl, 1)
	n1.set(t, k, del)
	n2.set(t, k, del)

	var mu sync.Mutex
	var msgs []message
	c.net.Hook(func(m *transport.Msg) bool {
		mu.Lock()
		defer mu.Unlock()
		msgs = append(msgs, message{m.Kind, m.From, m.To, m.Response, bytes.Clone(m.Body)})
		return true
	})
	if _, err := n1.ae.Load().ExchangePeer(t.Context(), "n2"); err != nil {
		t.Fatal(err)
	}
	requireConverged(t, n1, n2)
	c.clock.advance(25 * time.Hour)
	p := c.members.Ring().Partition(k.Hash)
	first := c.members.Ring().Preflist(p, 2)[0]
	if st, err := c.rep(first).ae.Load().ReapPartition(t.Context(), p); err != nil || st.Reaped != 1 {
		t.Fatalf("reap: %+v, %v", st, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return msgs, c
}

// TestWire_golden pins the bytes of every message kind, requests and
// replies. Run with -update after reading the diff.
func TestWire_golden(t *testing.T) {
	msgs, _ := recordedExchange(t)
	var b strings.Builder
	kinds := map[uint8]bool{}
	for _, m := range msgs {
		dir := "request"
		if m.response {
			dir = "response"
		}
		kinds[m.kind] = true
		fmt.Fprintf(&b, "%s %s %s->%s %s\n", KindName(m.kind), dir, m.from, m.to, hex.EncodeToString(m.body))
	}
	for k := KindBase; k < kindEnd; k++ {
		if !kinds[k] {
			t.Errorf("no %s message in the recorded exchange", KindName(k))
		}
	}
	path := filepath.Join("testdata", "wire.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("wire format changed at line %d:\n got %s\nwant %s", i+1, g, w)
			}
		}
	}
}

// TestServe_rejectsMalformed: bad requests are refused with ErrMalformed
// (or answered with a mismatch) and change nothing.
func TestServe_rejectsMalformed(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 1, partitions: 2, nval: 1, cfg: func(c *Config) { c.Segments = 16 }})
	r := c.rep("n1")
	fill(t, c, 0, 50, 4, r)
	a := r.ae.Load()
	hdr := func() *encoder {
		e := &encoder{}
		e.header(a.geo)
		return e
	}
	obj := storage.AppendObject(nil, versioning.Update(versioning.New(nil, val("x", c.clock.Now())), versioning.Clock{}, 5))
	k := keyN(1)
	p := a.geo.partition(k.Hash)
	plo, phi := a.geo.partRange(p)
	tests := []struct {
		name string
		kind uint8
		body func() []byte
	}{
		{"empty", KindRoots, func() []byte { return nil }},
		{"unknown kind", KindBase + 40, func() []byte { return hdr().B }},
		{"truncated roots", KindRoots, func() []byte { e := hdr(); e.int(2); e.int(0); return e.B }},
		{"partition out of range", KindBranches, func() []byte { e := hdr(); e.int(2); e.Fixed64(0); return e.B }},
		{"trailing bytes", KindBranches, func() []byte { e := hdr(); e.int(0); e.Fixed64(0); e.Byte(1); return e.B }},
		{"huge count", KindLeaves, func() []byte { e := hdr(); e.int(0); e.Uvarint(1 << 40); return e.B }},
		{"branch out of range", KindLeaves, func() []byte { e := hdr(); e.int(0); e.int(1); e.int(99); return e.B }},
		{"range outside partition", KindRanges, func() []byte {
			e := hdr()
			e.int(p)
			e.int(1)
			e.Fixed64(plo)
			e.Fixed64(phi + 1)
			return e.B
		}},
		{"inverted range", KindRanges, func() []byte {
			e := hdr()
			e.int(p)
			e.int(1)
			e.Fixed64(phi)
			e.Fixed64(plo)
			return e.B
		}},
		{"sync object under another hash", KindSync, func() []byte {
			e := hdr()
			e.int(p)
			e.int(1)
			e.Fixed64(k.Hash)
			e.int(1)
			e.Str(k.Bucket)
			e.Str("other key")
			e.Str(string(obj))
			return e.B
		}},
		{"sync corrupt object", KindSync, func() []byte {
			e := hdr()
			e.int(p)
			e.int(1)
			e.Fixed64(k.Hash)
			e.int(1)
			e.Str(k.Bucket)
			e.Str(k.Key)
			bad := bytes.Clone(obj)
			bad[len(bad)-1] ^= 1
			e.Str(string(bad))
			return e.B
		}},
		{"sync hash outside partition", KindSync, func() []byte {
			e := hdr()
			e.int(p)
			e.int(1)
			e.Fixed64(phi + 1)
			e.int(0)
			return e.B
		}},
		{"digests key outside partition", KindDigests, func() []byte {
			e := hdr()
			e.int(1 - p)
			e.int(1)
			e.Str(k.Bucket)
			e.Str(k.Key)
			return e.B
		}},
		{"reap truncated", KindReap, func() []byte {
			e := hdr()
			e.int(p)
			e.int(1)
			e.Str(k.Bucket)
			e.Str(k.Key)
			return e.B
		}},
	}
	before := r.dump(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.Serve(t.Context(), "peer", tc.kind, tc.body())
			if !errors.Is(err, ErrMalformed) || resp != nil {
				t.Fatalf("Serve = %x, %v; want ErrMalformed", resp, err)
			}
		})
	}
	if after := r.dump(t); !maps.EqualFunc(before, after, versioning.Equal) {
		t.Fatal("a refused request changed the store")
	}
	// Another version or geometry gets a mismatch reply, not an error.
	e := encoder{}
	e.Byte(protoVersion + 1)
	e.int(2)
	e.int(16)
	resp, err := a.Serve(t.Context(), "peer", KindRoots, e.B)
	if err != nil || len(resp) == 0 || resp[0] != stMismatch {
		t.Fatalf("Serve of another version = %x, %v; want a mismatch reply", resp, err)
	}
}

// FuzzServe feeds arbitrary bodies to every kind: Serve must never panic,
// and a reply without error starts with a known status.
func FuzzServe(f *testing.F) {
	msgs, c := recordedExchange(f)
	for _, m := range msgs {
		if !m.response {
			f.Add(m.kind, m.body)
		}
	}
	f.Add(KindRoots, []byte{})
	f.Add(KindSync, []byte{1, 2, 16, 0, 1})
	a := c.rep("n1").ae.Load()
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		resp, err := a.Serve(t.Context(), "fuzz", kind, body)
		if err != nil {
			return
		}
		if len(resp) == 0 || resp[0] < stOK || resp[0] > stMismatch {
			t.Fatalf("reply %x without a status", resp)
		}
	})
}
