package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
)

// fakeKV is a minimal node for the load generator: it versions keys, hands
// out a context per version and checks the contexts written back.
type fakeKV struct {
	// siblingsJSON answers every read of an existing key with 300 and the
	// context only in the JSON body.
	siblingsJSON bool
	// fail, if set, picks a status to answer instead of serving the n-th
	// request (1-based); 0 serves it.
	fail func(n int) int

	// mu guards everything below.
	mu        sync.Mutex
	n         int            // requests seen
	versions  map[string]int // key → writes so far
	issued    map[string]string
	gets      int
	puts      int
	putsCtx   int // PUTs that carried a context
	wrongCtx  int // PUTs whose context was not the last one issued for the key
	values    int // PUTs whose body had the configured size
	valueSize int
	injected  map[int]int // status → count
}

func newFakeKV(valueSize int) *fakeKV {
	return &fakeKV{versions: map[string]int{}, issued: map[string]string{}, injected: map[int]int{}, valueSize: valueSize}
}

func (f *fakeKV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := strings.TrimPrefix(r.URL.Path, "/kv/b/")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.fail != nil {
		if status := f.fail(f.n); status != 0 {
			f.injected[status]++
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":"injected %d"}`, status)
			return
		}
	}
	switch r.Method {
	case http.MethodGet:
		f.gets++
		v := f.versions[key]
		if v == 0 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		vctx := fmt.Sprintf("%s@%d", key, v)
		f.issued[key] = vctx
		if f.siblingsJSON {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMultipleChoices)
			json.NewEncoder(w).Encode(map[string]any{"context": vctx, "siblings": []any{}})
			return
		}
		w.Header().Set(client.ContextHeader, vctx)
		w.Write([]byte("value"))
	case http.MethodPut:
		f.puts++
		if len(body) == f.valueSize {
			f.values++
		}
		got := r.Header.Get(client.ContextHeader)
		if got != "" {
			f.putsCtx++
		}
		if got != f.issued[key] {
			f.wrongCtx++
		}
		f.versions[key]++
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func startKV(t *testing.T, f *fakeKV) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

// testConfig is a small run bounded by ops.
func testConfig(targets []string, ops int64) Config {
	c := DefaultConfig()
	c.Targets = targets
	c.Duration = 0
	c.Ops = ops
	c.Concurrency = 8
	c.Keys = 100
	c.ValueSize = 64
	c.Bucket = "b"
	c.Seed = 42
	c.Timeout = 5 * time.Second
	return c
}

func TestRun_boundedByOps(t *testing.T) {
	f := newFakeKV(64)
	res, err := Run(t.Context(), testConfig([]string{startKV(t, f)}, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 1000 || res.Stopped != "ops" {
		t.Errorf("ops %d stopped %q, want 1000 and ops", res.Ops, res.Stopped)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n != 1000 {
		t.Errorf("server saw %d requests, want 1000", f.n)
	}
	if g, p := res.ByOp["get"], res.ByOp["put"]; g.Ops != int64(f.gets) || p.Ops != int64(f.puts) || g.Ops+p.Ops != res.Ops {
		t.Errorf("by op: get %d put %d; server saw %d and %d", g.Ops, p.Ops, f.gets, f.puts)
	}
	if f.values != f.puts {
		t.Errorf("%d of %d PUTs had a %d-byte value", f.values, f.puts, f.valueSize)
	}
	// Reads of keys nobody wrote yet are not-found, not errors.
	if res.Errors != 0 || res.NotFound == 0 || res.NotFound != res.ByOp["get"].NotFound {
		t.Errorf("errors %d, not found %d (get %d); want 0 and some", res.Errors, res.NotFound, res.ByOp["get"].NotFound)
	}
	if res.Latency.Count() != res.Ops || res.P50 <= 0 || res.P50 > res.P99 || res.P99 > res.Max || res.Throughput <= 0 {
		t.Errorf("latency: count %d p50 %v p99 %v max %v, throughput %v", res.Latency.Count(), res.P50, res.P99, res.Max, res.Throughput)
	}
}

func TestRun_readRatio(t *testing.T) {
	for _, ratio := range []float64{0, 0.3, 0.8, 1} {
		t.Run(fmt.Sprint(ratio), func(t *testing.T) {
			f := newFakeKV(64)
			cfg := testConfig([]string{startKV(t, f)}, 4000)
			cfg.ReadRatio = ratio
			res, err := Run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := float64(res.ByOp["get"].Ops) / float64(res.Ops)
			// 4000 draws: the standard deviation is under 0.8%.
			if math.Abs(got-ratio) > 0.03 {
				t.Errorf("read fraction %.3f, want %.2f ± 0.03", got, ratio)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if int64(f.gets) != res.ByOp["get"].Ops {
				t.Errorf("server saw %d GETs, result says %d", f.gets, res.ByOp["get"].Ops)
			}
		})
	}
}

func TestRun_sendsContextsBack(t *testing.T) {
	for _, siblings := range []bool{false, true} {
		t.Run(fmt.Sprintf("siblingsJSON=%v", siblings), func(t *testing.T) {
			f := newFakeKV(64)
			f.siblingsJSON = siblings
			cfg := testConfig([]string{startKV(t, f)}, 2000)
			// One worker, so its last read of a key is the server's last
			// context for it; few keys, so most writes follow a read.
			cfg.Concurrency = 1
			cfg.Keys = 10
			res, err := Run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.wrongCtx != 0 {
				t.Errorf("%d of %d PUTs did not carry the context of the last read", f.wrongCtx, f.puts)
			}
			if f.putsCtx < f.puts/2 {
				t.Errorf("only %d of %d PUTs carried a context", f.putsCtx, f.puts)
			}
			if siblings && (res.Siblings == 0 || res.Siblings+res.NotFound != res.ByOp["get"].Ops) {
				t.Errorf("%d sibling reads, %d not found of %d GETs", res.Siblings, res.NotFound, res.ByOp["get"].Ops)
			}
		})
	}
}

func TestRun_countsErrors(t *testing.T) {
	f := newFakeKV(64)
	f.fail = func(n int) int {
		switch {
		case n%5 == 0:
			return http.StatusServiceUnavailable
		case n%7 == 0:
			return http.StatusBadRequest
		}
		return 0
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	cfg := testConfig([]string{startKV(t, f), deadURL}, 600)
	cfg.Concurrency = 2 // worker 0 on the live node, worker 1 on the dead one
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	conn := res.ErrorsByClass["conn"]
	if res.Ops != 600 || conn == 0 || int64(f.n)+conn != res.Ops {
		t.Errorf("ops %d, conn errors %d, server saw %d; want 600 = server + conn", res.Ops, conn, f.n)
	}
	if got, want := res.ErrorsByClass["5xx"], int64(f.injected[503]); got != want || want == 0 {
		t.Errorf("5xx errors %d, server injected %d", got, want)
	}
	if got, want := res.ErrorsByClass["4xx"], int64(f.injected[400]); got != want || want == 0 {
		t.Errorf("4xx errors %d, server injected %d", got, want)
	}
	if want := conn + int64(f.injected[503]+f.injected[400]); res.Errors != want ||
		res.ByOp["get"].Errors+res.ByOp["put"].Errors != want || len(res.ErrorsByClass) != 3 {
		t.Errorf("errors %d (by op %d + %d, classes %v), want %d", res.Errors,
			res.ByOp["get"].Errors, res.ByOp["put"].Errors, res.ErrorsByClass, want)
	}
}

func TestRun_timeouts(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server notices the client leaving
		select {
		case <-r.Context().Done(): // the client gives up
		case <-release: // the test is over
		}
	}))
	defer hang.Close()
	defer close(release)
	cfg := testConfig([]string{hang.URL}, 3)
	cfg.Concurrency = 1
	cfg.Timeout = 20 * time.Millisecond
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 3 || res.ErrorsByClass["timeout"] != 3 {
		t.Errorf("ops %d, errors %v; want 3 timeouts", res.Ops, res.ErrorsByClass)
	}
	if res.Latency.Min() < cfg.Timeout {
		t.Errorf("a timed-out request took %v, under the %v timeout", res.Latency.Min(), cfg.Timeout)
	}
}

func TestRun_preload(t *testing.T) {
	f := newFakeKV(64)
	cfg := testConfig([]string{startKV(t, f)}, 200)
	cfg.Keys = 50
	cfg.Preload = true
	cfg.ReadRatio = 1
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Preload == nil || res.Preload.Ops != 50 || res.Preload.Errors != 0 {
		t.Fatalf("preload %+v, want 50 writes without errors", res.Preload)
	}
	if res.NotFound != 0 || res.Ops != 200 || res.ByOp["put"].Ops != 0 {
		t.Errorf("after preload: %d not found, %d ops, %d puts; want 0, 200, 0", res.NotFound, res.Ops, res.ByOp["put"].Ops)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.versions) != 50 || f.puts != 50 {
		t.Errorf("server has %d keys after %d PUTs, want 50 and 50", len(f.versions), f.puts)
	}
}

func TestRun_boundedByDuration(t *testing.T) {
	f := newFakeKV(64)
	cfg := testConfig([]string{startKV(t, f)}, 0)
	cfg.Duration = 100 * time.Millisecond
	cfg.Concurrency = 2
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != "duration" || res.Elapsed < cfg.Duration || res.Ops == 0 {
		t.Errorf("stopped %q after %v with %d ops; want duration, >= %v, some ops", res.Stopped, res.Elapsed, res.Ops, cfg.Duration)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Requests cut short by the end of the run are not counted.
	if res.Ops > int64(f.n) {
		t.Errorf("%d ops counted, server saw only %d", res.Ops, f.n)
	}
}

func TestRun_canceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := newFakeKV(64)
	f.fail = func(n int) int {
		if n == 50 {
			cancel()
		}
		return 0
	}
	cfg := testConfig([]string{startKV(t, f)}, 1_000_000)
	res, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) || res == nil || res.Stopped != "canceled" {
		t.Fatalf("Run = %+v, %v; want a partial result and Canceled", res, err)
	}
	// Of the 8 workers' requests in flight at the cancel, some are answered
	// and some cut short (not counted).
	if res.Ops < 49-8 || res.Ops > 50+8 {
		t.Errorf("%d ops counted around a cancel at the 50th request", res.Ops)
	}
}

// signalWriter collects progress lines and signals the first one.
type signalWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() == 0 {
		close(w.first)
	}
	return w.buf.Write(p)
}

func TestRun_progress(t *testing.T) {
	out := &signalWriter{first: make(chan struct{})}
	var once sync.Once
	kv := newFakeKV(64)
	release := make(chan struct{})
	// The first request waits for a progress line, so one is due.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			select {
			case <-out.first:
			case <-release:
			}
		})
		kv.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(release)
	cfg := testConfig([]string{srv.URL}, 20)
	cfg.Concurrency = 1
	cfg.Progress = out
	cfg.ProgressInterval = 5 * time.Millisecond
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 {
		t.Errorf("%d errors: the first request timed out waiting for progress", res.Errors)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if s := out.buf.String(); !strings.Contains(s, "ops/s") || !strings.HasSuffix(s, "\n") {
		t.Errorf("progress output %q, want lines with ops/s", s)
	}
}

func TestConfig_validate(t *testing.T) {
	ok := DefaultConfig()
	ok.Targets = []string{"http://127.0.0.1:7070"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config with a target: %v", err)
	}
	cases := []struct {
		name  string
		field string
		edit  func(*Config)
	}{
		{"no targets", "Targets", func(c *Config) { c.Targets = nil }},
		{"bad target", "Targets", func(c *Config) { c.Targets = []string{"127.0.0.1:7070"} }},
		{"unbounded", "Duration", func(c *Config) { c.Duration, c.Ops = 0, 0 }},
		{"negative ops", "Ops", func(c *Config) { c.Ops = -1 }},
		{"ratio", "ReadRatio", func(c *Config) { c.ReadRatio = 1.5 }},
		{"NaN ratio", "ReadRatio", func(c *Config) { c.ReadRatio = math.NaN() }},
		{"keys", "Keys", func(c *Config) { c.Keys = -3 }},
		{"workers", "Concurrency", func(c *Config) { c.Concurrency = -1 }},
		{"value", "ValueSize", func(c *Config) { c.ValueSize = -1 }},
		{"dw", "DW", func(c *Config) { c.DW = "x" }},
		{"r", "R", func(c *Config) { c.R = "-1" }},
		{"preload timeout", "PreloadTimeout", func(c *Config) { c.PreloadTimeout = -time.Second }},
		{"window", "Window", func(c *Config) { c.Window = -time.Second }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.field)
			}
			if res, err := Run(t.Context(), c); err == nil || res != nil {
				t.Errorf("Run with an invalid config = %v, %v", res, err)
			}
		})
	}
}

func TestResult_tableAndJSON(t *testing.T) {
	f := newFakeKV(64)
	res, err := Run(t.Context(), testConfig([]string{startKV(t, f)}, 300))
	if err != nil {
		t.Fatal(err)
	}
	var tbl bytes.Buffer
	if err := res.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"300 ops", "stopped: ops", "p99.9", "not found"} {
		if !strings.Contains(tbl.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tbl.String())
		}
	}
	rows := map[string]string{}
	for _, line := range strings.Split(tbl.String(), "\n") {
		if f := strings.Fields(line); len(f) == 10 {
			rows[f[0]] = f[1]
		}
	}
	if rows["all"] != "300" || rows["get"] == "" || rows["put"] == "" {
		t.Errorf("table rows %v, want get, put and all with 300 ops:\n%s", rows, tbl.String())
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ops", "errors", "not_found", "p50_ns", "p999_ns", "throughput_ops_per_sec", "by_op", "elapsed_ns", "config", "stopped"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if back["ops"] != 300.0 {
		t.Errorf("JSON ops = %v, want 300", back["ops"])
	}
}

// TestRun_warmup: the warm-up's requests reach the server but not the
// result, and Ops bounds the measured phase alone.
func TestRun_warmup(t *testing.T) {
	f := newFakeKV(64)
	cfg := testConfig([]string{startKV(t, f)}, 40)
	cfg.Concurrency = 2
	cfg.Warmup = 50 * time.Millisecond
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if res.Ops != 40 {
		t.Errorf("%d ops measured, want 40", res.Ops)
	}
	if f.n <= 40 {
		t.Errorf("server saw %d requests: the warm-up sent none", f.n)
	}
	if res.Elapsed >= cfg.Warmup && f.n == 40 {
		t.Errorf("the warm-up was measured")
	}
}

// TestWindowStats: the workers' windows merge by index, quantiles are
// exact (nearest rank), errors add up, the last window's throughput is
// over the part of it the run lasted, and a window nobody measured in is
// empty.
func TestWindowStats(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	a := &worker{windows: []window{{lats: ms(5, 1, 3)}, {}, {lats: ms(7), errs: 1}}}
	b := &worker{windows: []window{{lats: ms(2, 4), errs: 2}}}
	got := windowStats([]*worker{a, b}, 100*time.Millisecond, 250*time.Millisecond)
	want := []WindowStats{
		{Start: 0, Ops: 5, Errors: 2, Throughput: 50, P50: 3 * time.Millisecond, P99: 5 * time.Millisecond, Max: 5 * time.Millisecond},
		{Start: 100 * time.Millisecond},
		{Start: 200 * time.Millisecond, Ops: 1, Errors: 1, Throughput: 20, P50: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond},
	}
	if len(got) != len(want) {
		t.Fatalf("%d windows, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if math.Abs(g.Throughput-w.Throughput) > 1e-9 {
			t.Errorf("window %d: throughput %v, want %v", i, g.Throughput, w.Throughput)
		}
		g.Throughput, w.Throughput = 0, 0
		if g != w {
			t.Errorf("window %d: %+v, want %+v", i, g, w)
		}
	}

	// A window past MaxWindows is not kept.
	cfg := Config{Window: time.Millisecond}
	c := &worker{cfg: &cfg}
	c.recordWindow(MaxWindows*time.Millisecond, time.Millisecond, false)
	c.recordWindow(2*time.Millisecond, time.Millisecond, true)
	if len(c.windows) != 3 || len(c.windows[2].lats) != 1 || c.windows[2].errs != 1 {
		t.Errorf("windows %+v, want only window 2's request", c.windows)
	}
}

// TestRun_windows: with Window set, every measured request is in exactly
// one window, the windows tile the measured phase, and both the table and
// the JSON carry them; without it there are none.
func TestRun_windows(t *testing.T) {
	f := newFakeKV(64)
	f.fail = func(n int) int {
		if n%10 == 0 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	cfg := testConfig([]string{startKV(t, f)}, 0)
	cfg.Concurrency = 4
	cfg.Duration = 300 * time.Millisecond
	cfg.Window = 50 * time.Millisecond
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Windows); n < 6 || n > 7 { // a request may start at the deadline
		t.Fatalf("%d windows over %v, want 6", n, res.Elapsed)
	}
	var ops, errs int64
	for i, ws := range res.Windows {
		if ws.Start != time.Duration(i)*cfg.Window {
			t.Errorf("window %d starts at %v", i, ws.Start)
		}
		if ws.Ops > 0 && !(ws.P50 <= ws.P99 && ws.P99 <= ws.Max && ws.Max <= res.Max) {
			t.Errorf("window %d: p50 %v, p99 %v, max %v (run max %v)", i, ws.P50, ws.P99, ws.Max, res.Max)
		}
		ops += ws.Ops
		errs += ws.Errors
	}
	if ops != res.Ops || errs != res.Errors || errs == 0 {
		t.Errorf("windows hold %d ops and %d errors, the run %d and %d", ops, errs, res.Ops, res.Errors)
	}
	var tbl strings.Builder
	if err := res.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tbl.String(), "by window of 50ms") || !strings.Contains(tbl.String(), " 0.050 ") {
		t.Errorf("table lacks the windows:\n%s", tbl.String())
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"windows":[{"start_ns":0,`)) {
		t.Errorf("JSON lacks the windows: %.300s", b)
	}

	cfg.Window = 0
	res, err = Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Windows != nil {
		t.Errorf("%d windows without Window", len(res.Windows))
	}
	if b, _ := json.Marshal(res); bytes.Contains(b, []byte(`"windows"`)) {
		t.Error("JSON has windows without Window")
	}
}
