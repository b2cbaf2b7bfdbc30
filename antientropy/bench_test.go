package antientropy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// BenchmarkExchange repairs k differing keys (100-byte values) between two
// replicas holding M keys in one partition, the worst case for a
// fixed-size tree, with the default 1024 segments. Reported per exchange:
// wire-B (bodies both ways), obj-B (encoded objects of the k keys; each may
// cross once each way), meta-B (wire minus 2 × obj), meta-B/key, rounds.
//
//	go test ./antientropy/ -run '^$' -bench BenchmarkExchange -benchtime 5x
func BenchmarkExchange(b *testing.B) {
	for _, m := range []int{10_000, 100_000} {
		for _, k := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("M=%d/k=%d", m, k), func(b *testing.B) {
				c := newCluster(b, clusterOpts{nodes: 2, partitions: 1, nval: 2, cfg: func(c *Config) { c.Segments = 1024 }})
				n1, n2 := c.rep("n1"), c.rep("n2")
				fill(b, c, 0, m, 100, n1, n2)
				rng := rand.New(rand.NewPCG(uint64(m), uint64(k)))
				var wire, obj, rounds, n int64
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					keys := diverge(b, rng, c, n1, n2, m, k, 100)
					b.StartTimer()
					st, err := n1.ae.Load().Exchange(context.Background(), 0, "n2")
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if st.Keys != k {
						b.Fatalf("found %d differing keys, want %d", st.Keys, k)
					}
					wire += st.BytesSent + st.BytesReceived
					obj += objectBytes(b, n1, keys)
					rounds += int64(st.Rounds)
					n++
					b.StartTimer()
				}
				b.ReportMetric(float64(wire)/float64(n), "wire-B/op")
				b.ReportMetric(float64(obj)/float64(n), "obj-B/op")
				b.ReportMetric(float64(wire-2*obj)/float64(n), "meta-B/op")
				b.ReportMetric(float64(wire-2*obj)/float64(n)/float64(k), "meta-B/key")
				b.ReportMetric(float64(rounds)/float64(n), "rounds/op")
			})
		}
	}
}

// BenchmarkExchangePeer_inSync is the steady-state cost of a round with a
// peer when nothing differs: 1024 partitions, one roots message.
//
//	go test ./antientropy/ -run '^$' -bench ExchangePeer_inSync
func BenchmarkExchangePeer_inSync(b *testing.B) {
	c := newCluster(b, clusterOpts{nodes: 2, partitions: 1024, nval: 2, cfg: func(c *Config) { c.Segments = 1024 }})
	fill(b, c, 0, 20000, 100, c.all()...)
	var wire, n int64
	for b.Loop() {
		st, err := c.rep("n1").ae.Load().ExchangePeer(context.Background(), "n2")
		if err != nil || st.DifferingPartitions != 0 {
			b.Fatal(st, err)
		}
		wire += st.BytesSent + st.BytesReceived
		n++
	}
	b.ReportMetric(float64(wire)/float64(n), "wire-B/op")
}

// BenchmarkBuild builds every tree of a node holding n keys (memory engine,
// 1024 partitions, 1024 segments, ~60-byte objects). Reported: keys/s,
// tree memory in total and per partition.
//
//	go test ./antientropy/ -run '^$' -bench BenchmarkBuild -benchtime 3x -timeout 30m
func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			st, err := storage.NewStoreOptions(storage.NewMemory(), storage.StoreOptions{CacheBytes: -1})
			if err != nil {
				b.Fatal(err)
			}
			r := &replica{name: "n1", store: st}
			data := make([]byte, 20)
			for i := range n {
				v := versioning.Value{Data: data, LastModified: 1}
				if err := st.Put(keyN(i), versioning.Update(versioning.New(nil, v), versioning.Clock{}, 1), false); err != nil {
					b.Fatal(err)
				}
			}
			rg, err := ring.New(ring.DefaultConfig(), []string{"n1"})
			if err != nil {
				b.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.Self = "n1"
			var a *AntiEntropy
			b.ReportAllocs()
			for b.Loop() {
				if a, err = New(cfg, r, &members{r: rg, down: map[string]bool{}}, nopTransport{}); err != nil {
					b.Fatal(err)
				}
				if err := a.Build(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			s := a.Status()
			if s.Keys != n {
				b.Fatalf("trees cover %d keys, want %d", s.Keys, n)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
			b.ReportMetric(float64(s.TreeBytes)/(1<<20), "tree-MiB")
			b.ReportMetric(float64(s.TreeBytes)/float64(s.Partitions), "tree-B/partition")
		})
	}
}

// BenchmarkOnChange is the cost OnChange adds to every local write: two
// digests of single-value clocks (100-byte values) and a few XORs under a
// partition mutex; parallel writers hit 1024 partitions.
//
//	go test ./antientropy/ -run '^$' -bench OnChange
func BenchmarkOnChange(b *testing.B) {
	rg, err := ring.New(ring.DefaultConfig(), []string{"n1"})
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Self = "n1"
	st, err := storage.NewStore(storage.NewMemory())
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(cfg, &replica{name: "n1", store: st}, &members{r: rg, down: map[string]bool{}}, nopTransport{})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Build(context.Background()); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 100)
	old := versioning.Update(versioning.New(nil, versioning.Value{Data: data, LastModified: 1}), versioning.Clock{}, 1)
	next := versioning.Update(versioning.New(versioning.Join(old), versioning.Value{Data: data, LastModified: 2}), old, 1)
	keys := make([]storage.Key, 4096)
	for i := range keys {
		keys[i] = keyN(i)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			a.OnChange(keys[i%len(keys)], old, next)
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(keys))
			for pb.Next() {
				a.OnChange(keys[i%len(keys)], old, next)
				i++
			}
		})
	})
}
