package http

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRoundTrip measures one PUT and one GET of a value over a real
// loopback connection (httptest.Server) against the fake backend: the cost
// of the HTTP layer, not of quorum.
//
//	go test ./http/ -run '^$' -bench RoundTrip -benchmem
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{100, 64 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			h := NewHandler(newFake(), Config{Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
			srv := httptest.NewServer(h)
			defer srv.Close()
			client := srv.Client()
			value := bytes.Repeat([]byte("v"), size)
			url := srv.URL + "/kv/bench/key"
			vctx := ""
			b.ReportAllocs()
			b.SetBytes(int64(2 * size))
			for b.Loop() {
				req, _ := nethttp.NewRequest("PUT", url, bytes.NewReader(value))
				if vctx != "" { // one value, not a growing set of siblings
					req.Header.Set(hdrContext, vctx)
				}
				res, err := client.Do(req)
				if err != nil || res.StatusCode != 204 {
					b.Fatalf("PUT: %v %v", err, res)
				}
				res.Body.Close()
				res, err = client.Get(url)
				if err != nil || res.StatusCode != 200 {
					b.Fatalf("GET: %v %v", err, res)
				}
				vctx = res.Header.Get(hdrContext)
				if _, err := io.Copy(io.Discard, res.Body); err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
			}
		})
	}
}
