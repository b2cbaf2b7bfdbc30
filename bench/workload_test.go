package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// seenRequest is what a recording node keeps of one request.
type seenRequest struct {
	method, path, query string
	accept, ctype       string
	body                []byte
}

// recorder is a node that answers every GET 404 and every PUT 204 (with a
// context, as dynamod names one), and records the requests in order.
type recorder struct {
	mu   sync.Mutex
	reqs []seenRequest
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, seenRequest{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
		accept: r.Header.Get("Accept"), ctype: r.Header.Get("Content-Type"), body: body})
	rc.mu.Unlock()
	if r.Method == http.MethodPut {
		w.Header().Set("Dynamod-Context", "c")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusNotFound)
}

func (rc *recorder) requests() []seenRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]seenRequest(nil), rc.reqs...)
}

// TestRun_loadgenShape: one worker's requests are loadgen's for the same
// seed: per request the key, the operation and a PUT's value drawn in that
// order from PCG(seed, worker+1), keys named key{n}, values from loadgen's
// pool, GETs without an Accept header, the quorums in the query.
func TestRun_loadgenShape(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := testConfig([]string{srv.URL}, 300)
	cfg.Concurrency = 1
	cfg.Keys = 50
	cfg.ValueSize = 100
	cfg.R, cfg.W, cfg.DW = "2", "2", "quorum"
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	reqs := rc.requests()
	if res.Ops != 300 || len(reqs) != 300 {
		t.Fatalf("%d ops, server saw %d requests; want 300", res.Ops, len(reqs))
	}

	// The reference: loadgen's draws (load.go, worker.loop) and value
	// pool (newValuePool), written out again here.
	rng := workerRand(cfg.Seed, 0)
	values := newValues(cfg.ValueSize, cfg.Seed)
	if len(values) != 1024 || len(values[0]) != 100 {
		t.Fatalf("value pool: %d values of %d bytes, want 1024 of 100", len(values), len(values[0]))
	}
	for i, r := range reqs {
		key := rng.IntN(cfg.Keys)
		isGet := rng.Float64() < cfg.ReadRatio
		wantPath := fmt.Sprintf("/kv/b/key%d", key)
		if r.path != wantPath {
			t.Fatalf("request %d: path %s, want %s", i, r.path, wantPath)
		}
		if isGet {
			if r.method != http.MethodGet || r.query != "r=2" || r.accept != "" {
				t.Fatalf("request %d: %s ?%s Accept %q; want GET ?r=2 without Accept", i, r.method, r.query, r.accept)
			}
			continue
		}
		want := values[rng.IntN(len(values))]
		if r.method != http.MethodPut || r.query != "w=2&dw=quorum" || r.ctype != "application/octet-stream" {
			t.Fatalf("request %d: %s ?%s Content-Type %q; want PUT ?w=2&dw=quorum, application/octet-stream", i, r.method, r.query, r.ctype)
		}
		if !bytes.Equal(r.body, want) {
			t.Fatalf("request %d: the value is not the pool's next one", i)
		}
	}
}

// TestNewValues: loadgen's pool, distinct random bytes, ~32 MiB at most.
func TestNewValues(t *testing.T) {
	for _, tc := range []struct{ size, n int }{{1024, 1024}, {100, 1024}, {64 << 10, 512}, {4 << 20, 16}, {0, 1024}} {
		vals := newValues(tc.size, 1)
		if len(vals) != tc.n {
			t.Errorf("size %d: %d values, want %d", tc.size, len(vals), tc.n)
			continue
		}
		if tc.size >= 8 && bytes.Equal(vals[0], vals[1]) {
			t.Errorf("size %d: the first two values are equal", tc.size)
		}
		for _, v := range vals {
			if len(v) != tc.size || cap(v) != tc.size {
				t.Fatalf("size %d: a value of len %d cap %d", tc.size, len(v), cap(v))
			}
		}
	}
	if a, b := newValues(64, 7), newValues(64, 7); !bytes.Equal(a[5], b[5]) {
		t.Error("the same seed made different values")
	}
}

// TestRun_preloadIsPlainPut: the preload writes key k once with value k
// mod the pool, without returnbody, and keeps the context the answer names.
func TestRun_preloadIsPlainPut(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := testConfig([]string{srv.URL}, 1)
	cfg.Keys = 40
	cfg.ValueSize = 32
	cfg.Preload = true
	cfg.ReadRatio = 0
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Preload; p == nil || p.Ops != 40 || p.Keys != 40 || !p.Complete {
		t.Fatalf("preload %+v, want 40 of 40 keys, complete", res.Preload)
	}
	values := newValues(cfg.ValueSize, cfg.Seed)
	reqs := rc.requests()
	seen := map[string]bool{}
	for _, r := range reqs[:40] {
		var k int
		if _, err := fmt.Sscanf(r.path, "/kv/b/key%d", &k); err != nil || r.method != http.MethodPut || r.query != "" {
			t.Fatalf("preload request %s %s?%s", r.method, r.path, r.query)
		}
		if !bytes.Equal(r.body, values[k%len(values)]) {
			t.Errorf("key%d preloaded with another value than the pool's %d", k, k%len(values))
		}
		seen[r.path] = true
	}
	if len(seen) != 40 {
		t.Errorf("preload wrote %d distinct keys, want 40", len(seen))
	}
}

// TestRun_preloadTimeout: a preload cut by PreloadTimeout is reported
// incomplete and the run goes on.
func TestRun_preloadTimeout(t *testing.T) {
	release := make(chan struct{})
	f := newFakeKV(64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var k int
		fmt.Sscanf(r.URL.Path, "/kv/b/key%d", &k)
		if r.Method == http.MethodPut && k >= 10 {
			io.Copy(io.Discard, r.Body)
			select { // hang until the client gives up or the test ends
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(release)
	cfg := testConfig([]string{srv.URL}, 20)
	cfg.Concurrency = 1
	cfg.Keys = 1000
	cfg.Preload = true
	cfg.PreloadTimeout = 100 * time.Millisecond
	cfg.ReadRatio = 1
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Preload; p == nil || p.Complete || p.Ops != 10 || p.Errors != 0 {
		t.Errorf("preload %+v, want 10 writes, cut short", res.Preload)
	}
	if res.Ops != 20 || res.Errors != 0 {
		t.Errorf("after the preload: %d ops, %d errors; want 20 and 0", res.Ops, res.Errors)
	}
}

// TestRun_warmupKeepsConnections: warm-up and measurement are one stretch
// of load; no worker's connection is closed between them.
func TestRun_warmupKeepsConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(newFakeKV(64))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	cfg := testConfig([]string{srv.URL}, 200)
	cfg.Concurrency = 4
	cfg.Warmup = 30 * time.Millisecond
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 200 || res.Errors != 0 {
		t.Errorf("%d ops, %d errors; want 200 and 0", res.Ops, res.Errors)
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections for 4 workers: the warm-up's end redialled", n)
	}
}

// TestResult_tableNamesQuorums: the table says which quorums were sent.
func TestResult_tableNamesQuorums(t *testing.T) {
	res, err := Run(t.Context(), func() Config {
		c := testConfig([]string{startKV(t, newFakeKV(64))}, 10)
		c.W, c.DW = "2", "1"
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "quorums    w=2 dw=1\n") {
		t.Errorf("table lacks the quorums line:\n%s", b.String())
	}
}
