package node

import (
	"testing"
	"time"
)

func TestOpOf(t *testing.T) {
	for _, c := range []struct {
		route, method string
		want          int
	}{
		{"kv_object", "GET", opGet}, {"kv_object", "HEAD", opGet}, {"kv_object", "PUT", opPut},
		{"kv_object", "DELETE", opDelete}, {"kv_bucket", "GET", opList}, {"kv_bucket", "POST", opPut},
		{"kv_bucket", "DELETE", opOther}, {"cluster", "GET", opOther}, {"unmatched", "GET", opOther},
	} {
		if got := opOf(c.route, c.method); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.route, opNames[got], opNames[c.want])
		}
	}
}

// TestStats_samples: a sample holds what was observed since the previous
// one (the first since the start), with quantiles within the histogram's
// precision, counter increases and the gauge; the window keeps the last
// five minutes.
func TestStats_samples(t *testing.T) {
	n := &Node{stats: newStats()}
	s := n.stats
	t0 := time.Date(2026, 12, 5, 21, 0, 0, 0, time.UTC)
	if d := s.doc("n1"); len(d.Ops["get"].Count) != 0 || !d.End.IsZero() {
		t.Fatalf("no sample yet: %+v", d)
	}
	n.ObserveRequest("kv_object", "GET", 200, 10*time.Second)
	s.sample(t0, []float64{5, 0, 0, 0, 0}, 0)
	if d := s.doc("n1"); d.Ops["get"].Count[0] != 1 || d.Counters["quorum_failures"][0] != 5 || !near(d.Ops["get"].P99[0], 10e3) {
		t.Fatalf("the first sample counts from the start: %+v", d)
	}
	for i := range 98 {
		n.ObserveRequest("kv_object", "GET", 200+i%2*204, time.Millisecond)
	}
	n.ObserveRequest("kv_object", "GET", 503, 40*time.Millisecond)
	n.ObserveRequest("kv_object", "GET", 503, 40*time.Millisecond)
	n.ObserveRequest("kv_object", "PUT", 204, 2*time.Millisecond)
	s.sample(t0.Add(time.Second), []float64{7, 1, 0, 3, 0}, 4)
	d := s.doc("n1")
	get, put := d.Ops["get"], d.Ops["put"]
	get.Count, get.Errors, get.P50, get.P99, put.Count, put.P99 = get.Count[1:], get.Errors[1:], get.P50[1:], get.P99[1:], put.Count[1:], put.P99[1:]
	if len(get.Count) != 1 || get.Count[0] != 100 || get.Errors[0] != 2 || put.Count[0] != 1 {
		t.Fatalf("counts: get %+v put %+v", get, put)
	}
	if !near(get.P50[0], 1) || !near(get.P99[0], 40) || !near(put.P99[0], 2) {
		t.Fatalf("quantiles: get p50 %v p99 %v, put p99 %v (ms)", get.P50[0], get.P99[0], put.P99[0])
	}
	if d.Ops["delete"].Count[1] != 0 || d.Counters["quorum_failures"][1] != 2 || d.Counters["read_repairs"][1] != 1 ||
		d.Counters["hints_delivered"][1] != 3 || d.Gauges["hints_pending"][1] != 4 || !d.End.Equal(t0.Add(time.Second)) || d.Node != "n1" {
		t.Fatalf("counters %v gauges %v end %v", d.Counters, d.Gauges, d.End)
	}
	for i := range statsWindow + 10 {
		s.sample(t0.Add(time.Duration(i+2)*time.Second), []float64{7, 1, 0, 3, 0}, 0)
	}
	d = s.doc("n1")
	if len(d.Ops["other"].P99) != statsWindow || len(d.Counters["ae_keys_repaired"]) != statsWindow ||
		len(d.Gauges["hints_pending"]) != statsWindow {
		t.Fatalf("window: %d samples, want %d", len(d.Ops["other"].P99), statsWindow)
	}
	if d.Ops["get"].Count[statsWindow-1] != 0 || !d.End.Equal(t0.Add(time.Duration(statsWindow+11)*time.Second)) {
		t.Fatalf("newest sample: %v at %v", d.Ops["get"].Count[statsWindow-1], d.End)
	}
}

func near(got, want float64) bool { return got >= want*0.93 && got <= want*1.07 }
