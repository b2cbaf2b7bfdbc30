package quorum

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetrics_observe: each outcome lands in its result series, an
// unavailable one in the failures too, for the ops resolved at start-up
// and for any other; peer requests count by kind, known or not.
func TestMetrics_observe(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	outcomes := []struct {
		err    error
		result string
	}{
		{nil, "ok"},
		{ErrNotFound, "notfound"},
		{fmt.Errorf("get: %w", ErrUnavailable), "unavailable"},
		{ErrBadRequest, "rejected"},
		{ErrTooLarge, "rejected"},
		{errors.New("disk"), "error"},
	}
	for _, op := range []string{"get", "put", "someday"} {
		for _, o := range outcomes {
			m.observe(op, o.err, time.Now())
		}
		want := map[string]float64{"ok": 1, "notfound": 1, "unavailable": 1, "rejected": 2, "error": 1}
		for result, n := range want {
			if got := testutil.ToFloat64(m.requests.WithLabelValues(op, result)); got != n {
				t.Errorf("%s %s: %v requests, want %v", op, result, got, n)
			}
		}
		if got := testutil.ToFloat64(m.quorumFailures.WithLabelValues(op)); got != 1 {
			t.Errorf("%s: %v quorum failures, want 1", op, got)
		}
	}
	m.servedKind(KindReplicate)
	m.servedKind(KindReplicate)
	m.servedKind(200)
	if got := testutil.ToFloat64(m.served.WithLabelValues("replicate")); got != 2 {
		t.Errorf("replicate served %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.served.WithLabelValues(KindName(200))); got != 1 {
		t.Errorf("kind 200 served %v, want 1", got)
	}
}
