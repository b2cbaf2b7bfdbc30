package resolve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are a Registry's webhook metrics, shared by all its webhooks.
// Labels are bounded: never a URL, bucket or key.
type metrics struct {
	calls    *prometheus.CounterVec
	duration prometheus.Histogram
	inFlight prometheus.Gauge
}

// newMetrics creates the metrics and registers them with reg; a nil reg
// keeps them unregistered.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		calls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_resolve_webhook_calls_total",
			Help: "Webhook resolver calls by result: ok, timeout, canceled, error (connection), status (non-2xx), malformed, too_large, busy (rejected: too many in flight).",
		}, []string{"result"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "dynamod_resolve_webhook_duration_seconds",
			Help:    "Latency of webhook resolver calls that were sent, whatever their result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		inFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "dynamod_resolve_webhook_in_flight",
			Help: "Webhook resolver calls in flight.",
		}),
	}
	for _, r := range results {
		m.calls.WithLabelValues(r) // export every result, at zero
	}
	return m
}
