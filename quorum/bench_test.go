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

// newLoopbackTrio starts coordinators n1, n2 and n3 on memory stores,
// reaching each other over a loopback transport, with mod applied to each
// one's config (nil: none).
func newLoopbackTrio(tb testing.TB, mod func(*Config)) map[string]*Coordinator {
	tb.Helper()
	names := []string{"n1", "n2", "n3"}
	r, err := ring.New(ring.Config{Partitions: 16, Tokens: 8}, names)
	if err != nil {
		tb.Fatal(err)
	}
	peers := map[string]*Coordinator{}
	for _, name := range names {
		st, err := storage.NewStore(storage.NewMemory())
		if err != nil {
			tb.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Self = name
		if mod != nil {
			mod(&cfg)
		}
		c, err := New(cfg, st, fixedMembers{r}, loopback{name, peers}, defaultBuckets{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close(); st.Close() })
		peers[name] = c
	}
	return peers
}

// BenchmarkCoordinator measures coordinated PUTs (with the context of the
// previous one) and GETs of 1 KiB and 64 KiB values on three coordinators
// over a loopback transport (N=3, R=W=2), without a network's goroutines;
// at 64 KiB, reads by digest (the default) and digest=off, which fetches
// every asked copy (Config.DigestRead -1):
//
//	go test -run '^$' -bench Coordinator -benchmem ./quorum/
func BenchmarkCoordinator(b *testing.B) {
	b.Run("value=1k", func(b *testing.B) { benchCoordinator(b, 1<<10, true) })
	b.Run("value=64k/digest=default", func(b *testing.B) { benchCoordinator(b, 64<<10, true) })
	b.Run("value=64k/digest=off", func(b *testing.B) { benchCoordinator(b, 64<<10, false) })
}

func benchCoordinator(b *testing.B, size int, digest bool) {
	names := []string{"n1", "n2", "n3"}
	peers := newLoopbackTrio(b, func(cfg *Config) {
		if !digest {
			cfg.DigestRead = -1
		}
	})
	ctx := context.Background()
	value := make([]byte, size)
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
