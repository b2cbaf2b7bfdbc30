package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dynamod/dynamod/client"
)

// statusNode is a fake node serving /cluster and, unless noStats,
// /cluster/stats; its answers after the first few can be made to fail.
type statusNode struct {
	noStats bool
	calls   atomic.Int32
	failAt  int32 // /cluster answers 503 from this call on (0: never)
}

func (s *statusNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	var doc any
	switch r.URL.Path {
	case "/cluster":
		if n := s.calls.Add(1); s.failAt > 0 && n >= s.failAt {
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"error":"unavailable","detail":"restarting"}`))
			return
		}
		doc = client.ClusterStatus{Node: "n1", Partitions: 64, DefaultNVal: 3, Steady: true,
			Members: []client.ClusterMember{
				{Name: "n1", Status: "joined", Liveness: "alive", PrimaryPartitions: 64, HTTPAddr: "127.0.0.1:7070"},
				{Name: "n2", Status: "joined", Liveness: "dead", PrimaryPartitions: 64},
			},
			PendingTransfers: []client.Transfer{{Partition: 7, From: "n1", To: "n3", Keys: 12, Bytes: 3400, State: "receiving"}},
		}
	case "/cluster/stats":
		if s.noStats {
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error":"not found"}`))
			return
		}
		doc = client.Stats{Node: "n1", StepSeconds: 1,
			Ops: map[string]client.OpSeries{
				"get": {Count: []uint64{999, 100, 200, 0}, Errors: []uint64{0, 0, 4, 0}, P50: []float64{9, 1.25, 1.5, 0}, P99: []float64{9, 7, 8.5, 0}},
				"put": {Count: []uint64{0, 0, 0, 40}, Errors: []uint64{0, 0, 0, 0}, P50: []float64{0, 0, 0, 2}, P99: []float64{0, 0, 0, 3}},
			},
			Counters: map[string][]uint64{"quorum_failures": {0, 0, 4, 0}, "read_repairs": {0, 1, 1, 1}},
			Gauges:   map[string][]float64{"hints_pending": {0, 0, 5, 6}},
		}
	default:
		w.WriteHeader(404)
		return
	}
	_ = json.NewEncoder(w).Encode(doc)
}

// TestStatus_view: members, liveness, transfers and the request rates of
// the last seconds (averaged over the samples there are, latency of the
// newest second with requests); a node without /cluster/stats still shows
// the rest.
func TestStatus_view(t *testing.T) {
	srv := httptest.NewServer(&statusNode{})
	defer srv.Close()
	code, out, errOut := runCLI("status", "--node", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"n2 joined dead", "1 partition transfers pending", "7 n1 n3 12 3400 receiving",
		"requests on n1, last 4 s:", "get 324.8 1.0 1.50 8.50", "put 10.0 0.0 2.00 3.00",
		"quorum_failures 1.0/s, read_repairs 0.8/s", "hints_pending 6"} {
		if !hasLine(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "delete") || strings.Contains(out, clearScreen) {
		t.Errorf("status shows an operation the node does not report, or clears the screen:\n%s", out)
	}

	old := httptest.NewServer(&statusNode{noStats: true})
	defer old.Close()
	code, out, errOut = runCLI("status", "--node", old.URL)
	if code != 0 || !hasLine(out, "n2 joined dead") || strings.Contains(out, "requests on") {
		t.Fatalf("status of a node without /cluster/stats: exit %d %s\n%s", code, errOut, out)
	}
}

// TestStatus_watch: --watch redraws the view --count times, shows a failed
// refresh as an error and goes on; --json prints one document per line;
// bad flags are usage errors.
func TestStatus_watch(t *testing.T) {
	node := &statusNode{failAt: 3}
	srv := httptest.NewServer(node)
	defer srv.Close()
	code, out, errOut := runCLI("status", "--node", srv.URL, "--watch", "--interval", "20ms", "--count", "4", "--timeout", "2s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, clearScreen); n != 4 {
		t.Fatalf("%d views, want 4:\n%q", n, out)
	}
	views := strings.Split(out, clearScreen)[1:]
	if !hasLine(views[0], "n2 joined dead") || !strings.Contains(views[1], "requests on n1") {
		t.Fatalf("first views:\n%s", out)
	}
	if !strings.Contains(views[2], "error: ") || !strings.Contains(views[3], "restarting") {
		t.Fatalf("a failed refresh must show its error and the watch go on:\n%s", out)
	}

	code, out, errOut = runCLI("status", "--node", srv.URL, "--watch", "--json", "--interval", "10ms", "--count", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("--json --watch: exit %d %s, %d lines:\n%s", code, errOut, len(lines), out)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["error"] == nil {
			t.Fatalf("line %q: %v (the node fails from its 3rd call on: want error documents)", l, err)
		}
	}

	for _, args := range [][]string{{"--interval", "0"}, {"--count", "-1"}} {
		code, _, errOut := runCLI(append([]string{"status", "--node", srv.URL, "--watch"}, args...)...)
		if code == 0 || !strings.Contains(errOut, "--interval must be > 0") {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
}

// hasLine reports whether a line of out holds want's words in order,
// however the table aligned them.
func hasLine(out, want string) bool {
	w := strings.Join(strings.Fields(want), " ")
	for l := range strings.Lines(out) {
		if strings.Contains(strings.Join(strings.Fields(l), " "), w) {
			return true
		}
	}
	return false
}
