package antientropy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// TestWire_objectsSized: objectsSize is the exact length of the objects it
// sizes (the sync messages are allocated with it, so a wrong size would
// copy a large object once more), and objects encodes each one as the
// codec does.
func TestWire_objectsSized(t *testing.T) {
	val := func(n int) versioning.Clock {
		return versioning.New(nil, versioning.Value{Data: bytes.Repeat([]byte{'v'}, n), ContentType: "text/plain"})
	}
	for _, objs := range [][]object{
		nil,
		{{storage.Key{Hash: 1, Bucket: "b", Key: "k"}, val(1)}},
		{
			{storage.Key{Hash: 2, Bucket: strings.Repeat("b", 200), Key: strings.Repeat("k", 20000)}, val(300)},
			{storage.Key{Hash: 2, Bucket: "c", Key: ""}, val(1 << 20)},
		},
	} {
		var e encoder
		e.objects(objs)
		if got := objectsSize(objs); got != len(e.B) {
			t.Fatalf("objectsSize = %d, encoding has %d bytes", got, len(e.B))
		}
		d := newDecoder(e.B)
		if n := d.count(3); n != len(objs) {
			t.Fatalf("count %d, want %d", n, len(objs))
		}
		for _, o := range objs {
			k, c := d.object()
			if k.Bucket != o.k.Bucket || k.Key != o.k.Key || !versioning.Equal(c, o.c) {
				t.Fatalf("decoded %v, want %v", k, o.k)
			}
		}
		if err := d.End(); err != nil {
			t.Fatal(err)
		}
	}
}
