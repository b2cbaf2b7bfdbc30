package quorum

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// loopback reaches the other coordinators of a bench cluster by calling
// their Serve with a copy of the body, as a transport hands it over.
type loopback struct {
	self  string
	peers map[string]*Coordinator
}

func (l loopback) Call(ctx context.Context, to string, kind uint8, body []byte) ([]byte, error) {
	return l.peers[to].Serve(ctx, l.self, kind, slices.Clone(body))
}

// BenchmarkCoordinator measures coordinated PUTs (with the context of the
// previous one) and GETs of 1 KiB values on three coordinators over a
// loopback transport (N=3, R=W=2), without a network's goroutines:
//
//	go test -run '^$' -bench Coordinator -benchmem ./quorum/
func BenchmarkCoordinator(b *testing.B) {
	names := []string{"n1", "n2", "n3"}
	r, err := ring.New(ring.Config{Partitions: 16, Tokens: 8}, names)
	if err != nil {
		b.Fatal(err)
	}
	peers := map[string]*Coordinator{}
	for _, name := range names {
		st, err := storage.NewStore(storage.NewMemory())
		if err != nil {
			b.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Self = name
		c, err := New(cfg, st, fixedMembers{r}, loopback{name, peers}, defaultBuckets{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close(); st.Close() })
		peers[name] = c
	}
	ctx := context.Background()
	value := make([]byte, 1024)
	const keys = 1000
	vctx := make([]versioning.Context, keys)
	for i := range keys {
		obj, err := peers["n1"].Put(ctx, "b", fmt.Sprint(i), nil, versioning.Value{Data: value}, WriteOptions{})
		if err != nil {
			b.Fatal(err)
		}
		vctx[i] = obj.Context
	}
	b.Run("op=put", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := i % keys
			obj, err := peers[names[i%3]].Put(ctx, "b", fmt.Sprint(k), vctx[k], versioning.Value{Data: value}, WriteOptions{})
			if err != nil {
				b.Fatal(err)
			}
			vctx[k] = obj.Context
			i++
		}
	})
	b.Run("op=get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := peers[names[i%3]].Get(ctx, "b", fmt.Sprint(i%keys), ReadOptions{}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
