package transport

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynamod/dynamod/internal/pki"
)

// Benchmarks of one call's round trip, caller and handler in this process
// (so allocations count both sides):
//
//	go test ./transport/ -run '^$' -bench . -benchtime 2s
//
// calls/s is the throughput; the parallel variants keep 64 calls in flight.

// benchHandler answers with a body of the request's size, as a replica
// answers a read.
var benchHandler = HandlerFunc(func(_ context.Context, _ string, _ uint8, body []byte) ([]byte, error) {
	return body, nil
})

const benchParallel = 64

func BenchmarkTCPCall(b *testing.B) {
	benchTCP(b, nil, nil)
}

// BenchmarkTCPCallTLS is BenchmarkTCPCall over mutual TLS 1.3 with the
// cluster PKI (internal/pki), as dynamod serve runs it: the cost of TLS on
// established connections (handshakes happen once per connection).
//
//	go test ./transport/ -run '^$' -bench 'TCPCall' -benchtime 2s
func BenchmarkTCPCallTLS(b *testing.B) {
	ca, _, err := pki.NewCA(0)
	if err != nil {
		b.Fatal(err)
	}
	reloader := func(name string) *pki.Reloader {
		dir := b.TempDir()
		is, err := ca.IssueNode(name, nil, 0)
		if err != nil {
			b.Fatal(err)
		}
		cfg := pki.ReloaderConfig{CAFile: dir + "/ca.crt", CertFile: dir + "/node.crt", KeyFile: dir + "/node.key", Interval: -1}
		for path, data := range map[string][]byte{cfg.CAFile: pemCert(ca), cfg.CertFile: is.CertPEM, cfg.KeyFile: is.KeyPEM} {
			if err := pki.WriteFile(path, data, pki.KeyPerm, true); err != nil {
				b.Fatal(err)
			}
		}
		r, err := pki.NewReloader(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	benchTCP(b, withPKI(reloader("b")), withPKI(reloader("caller")))
}

// benchTCP runs the call benchmarks from a caller to a server b, each
// configured by its mod (nil: plaintext).
func benchTCP(b *testing.B, srvMod, callerMod func(*Config)) {
	for _, size := range []int{100, 4096} {
		r := newResolver()
		srvReg, callerReg := prometheus.NewRegistry(), prometheus.NewRegistry()
		cfg := DefaultLocalConfig()
		cfg.Name = "b"
		cfg.Registry = srvReg
		if srvMod != nil {
			srvMod(&cfg)
		}
		srv, err := Listen(cfg, benchHandler)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		r.set("b", srv.Addr())
		a := func() *TCP {
			cfg := DefaultLocalConfig()
			cfg.Name = "caller"
			cfg.Registry = callerReg
			cfg.BindAddr = ""
			cfg.Resolve = r.resolve
			if callerMod != nil {
				callerMod(&cfg)
			}
			tr, err := Listen(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { tr.Close() })
			return tr
		}()
		writes := func() float64 {
			return benchCounter(b, srvReg, "dynamod_transport_socket_writes_total") +
				benchCounter(b, callerReg, "dynamod_transport_socket_writes_total")
		}
		body := make([]byte, size)
		b.Run(fmt.Sprintf("size=%d/seq", size), func(b *testing.B) {
			benchSeq(b, a, body, writes)
		})
		b.Run(fmt.Sprintf("size=%d/parallel=%d", size, benchParallel), func(b *testing.B) {
			benchPar(b, a, body, writes)
		})
	}
}

func benchCounter(b *testing.B, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// reportRate reports calls/s and, for TCP, socket writes per call (2 would
// mean no batching: one for the request, one for the response).
func reportRate(b *testing.B, writes func() float64, before float64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	if writes != nil {
		b.ReportMetric((writes()-before)/float64(b.N), "writes/call")
	}
}

func BenchmarkMemCall(b *testing.B) {
	n := NewMemNetwork(1)
	b.Cleanup(func() { n.Close() })
	n.Join("b", benchHandler)
	a := n.Join("a", nil)
	for _, size := range []int{100, 4096} {
		body := make([]byte, size)
		b.Run(fmt.Sprintf("size=%d/seq", size), func(b *testing.B) {
			benchSeq(b, a, body, nil)
		})
		b.Run(fmt.Sprintf("size=%d/parallel=%d", size, benchParallel), func(b *testing.B) {
			benchPar(b, a, body, nil)
		})
	}
}

func benchSeq(b *testing.B, c Caller, body []byte, writes func() float64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(body)))
	before := 0.0
	if writes != nil {
		before = writes()
	}
	for b.Loop() {
		if _, err := c.Call(ctx, "b", 1, body); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, writes, before)
}

func benchPar(b *testing.B, c Caller, body []byte, writes func() float64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(body)))
	before := 0.0
	if writes != nil {
		before = writes()
	}
	b.SetParallelism((benchParallel + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Call(ctx, "b", 1, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, writes, before)
}
