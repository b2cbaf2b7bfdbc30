package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestBench_flagsReachRequests: --w and --dw go into every PUT's query,
// and --json reports them.
func TestBench_flagsReachRequests(t *testing.T) {
	var mu sync.Mutex
	queries := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		queries[r.Method+" "+r.URL.RawQuery]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "--targets", srv.URL, "--ops", "30", "--concurrency", "2", "--keys", "10",
		"--read-ratio", "0", "--w", "2", "--dw", "quorum", "--preload=false", "--quiet", "--json"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 1 || queries["PUT w=2&dw=quorum"] != 30 {
		t.Errorf("requests by method and query: %v; want 30 PUT w=2&dw=quorum", queries)
	}
	var res struct {
		Ops    int64 `json:"ops"`
		Config struct {
			W  string `json:"w"`
			DW string `json:"dw"`
		} `json:"config"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.String())
	}
	if res.Ops != 30 || res.Config.W != "2" || res.Config.DW != "quorum" {
		t.Errorf("result: %+v; want 30 ops, w 2, dw quorum", res)
	}
}

// TestBench_badQuorum: a quorum the API would refuse is a usage error.
func TestBench_badQuorum(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "--targets", "http://127.0.0.1:1", "--dw", "most"}, nil, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "DW") {
		t.Errorf("exit %d, stderr %q; want 2 and a message naming DW", code, stderr.String())
	}
}

// TestBench_window: --window adds the table by window; a negative one is
// a usage error.
func TestBench_window(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "--targets", srv.URL, "--duration", "200ms", "--window", "100ms", "--concurrency", "2",
		"--read-ratio", "0", "--preload=false", "--quiet"}, nil, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "by window of 100ms") {
		t.Errorf("exit %d, stdout:\n%s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code = run([]string{"bench", "--targets", srv.URL, "--window", "-1s"}, nil, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "Window") {
		t.Errorf("exit %d, stderr %q; want 2 and a message naming Window", code, stderr.String())
	}
}
