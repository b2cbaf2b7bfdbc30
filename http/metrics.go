package http

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the handler's Prometheus series. Labels are bounded: route is
// a route name (never a bucket or key), method one of a fixed set, code an
// HTTP status this package writes.
type metrics struct {
	requests   *prometheus.CounterVec   // route, method, code
	duration   *prometheus.HistogramVec // route, method
	siblings   prometheus.Histogram     // values per successful read
	objectSize *prometheus.HistogramVec // op: read, write
	sizeRead   prometheus.Observer      // objectSize's two series, resolved once
	sizeWrite  prometheus.Observer
	panics     prometheus.Counter
	inflight   prometheus.Gauge

	// series caches the request series by their labels: resolving them
	// per request (WithLabelValues) hashes the labels and allocates.
	// Labels are bounded, so the map is too.
	seriesMu sync.RWMutex
	series   map[seriesKey]requestSeries
}

type seriesKey struct {
	route, method string
	code          int
}

type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// observe counts one answered request and its duration.
func (m *metrics) observe(route, method string, code int, seconds float64) {
	k := seriesKey{route, method, code}
	m.seriesMu.RLock()
	s, ok := m.series[k]
	m.seriesMu.RUnlock()
	if !ok {
		s = requestSeries{
			count:    m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
			duration: m.duration.WithLabelValues(route, method),
		}
		m.seriesMu.Lock()
		if m.series == nil {
			m.series = make(map[seriesKey]requestSeries)
		}
		m.series[k] = s
		m.seriesMu.Unlock()
	}
	s.count.Inc()
	s.duration.Observe(seconds)
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_http_requests_total",
			Help: "HTTP requests answered, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dynamod_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12), // 0.5 ms .. ~30 s
		}, []string{"route", "method"}),
		siblings: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "dynamod_http_read_siblings",
			Help:    "Values (siblings, tombstones included) per object read.",
			Buckets: []float64{1, 2, 3, 5, 10, 25, 50, 100},
		}),
		objectSize: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dynamod_http_object_size_bytes",
			Help:    "Size of values written (op=write) and returned (op=read).",
			Buckets: prometheus.ExponentialBuckets(64, 4, 10), // 64 B .. 16 MiB
		}, []string{"op"}),
		panics: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_http_panics_total",
			Help: "Handler panics recovered (each answered 500). Any is a bug.",
		}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "dynamod_http_inflight_bytes",
			Help: "Request body bytes held by requests in progress (bounded by MaxInflightBytes).",
		}),
	}
	m.sizeRead = m.objectSize.WithLabelValues("read")
	m.sizeWrite = m.objectSize.WithLabelValues("write")
	return m
}

// methodLabel maps a request method to a bounded label value.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH":
		return m
	}
	return "other"
}
