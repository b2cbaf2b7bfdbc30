package quorum

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	requests       *prometheus.CounterVec   // op, result
	latency        *prometheus.HistogramVec // op
	quorumFailures *prometheus.CounterVec   // op
	served         *prometheus.CounterVec   // kind
	forwarded      prometheus.Counter
	readRepairs    prometheus.Counter
	// speculativeReads counts reads that asked more replicas because
	// one was slow.
	speculativeReads prometheus.Counter
	// digestReads counts replica reads that sent a digest of this node's
	// copy, by whether the replica's copy was the same.
	digestSame, digestDiffer prometheus.Counter
	siblings                 prometheus.Histogram
	siblingWarnings          prometheus.Counter
	largeValues              prometheus.Counter
	hintsStored              prometheus.Counter
	hintsDelivered           prometheus.Counter
	hintFailures             prometheus.Counter
	fallbackDropped          prometheus.Counter
	released                 prometheus.Counter
	corrupt                  prometheus.Counter
	reaped                   prometheus.Counter
	expired                  prometheus.Counter
	resolutions              *prometheus.CounterVec // result
	// clockSkew counts replica calls whose one-way split (pbs.go) was
	// clamped: the peer's clock is off by more than the round trip.
	clockSkew prometheus.Counter

	// The series of the hot paths, resolved once: WithLabelValues hashes
	// its labels and looks them up on every call.
	ops         map[string]*opSeries // by op; read only after newMetrics
	servedKinds [KindBuckets + 1]prometheus.Counter
}

// opSeries is one op's request series.
type opSeries struct {
	results  [len(resultNames)]prometheus.Counter // by result
	failures prometheus.Counter
	latency  prometheus.Observer
}

// Results of a coordinated request, the indexes of resultNames.
const (
	resultOK = iota
	resultNotFound
	resultUnavailable
	resultRejected
	resultError
)

var resultNames = [...]string{"ok", "notfound", "unavailable", "rejected", "error"}

// metricOps are the ops whose series newMetrics resolves; observe
// resolves any other per call.
var metricOps = []string{"get", "put", "delete", "update"}

func (m *metrics) opSeries(op string) *opSeries {
	s := &opSeries{failures: m.quorumFailures.WithLabelValues(op), latency: m.latency.WithLabelValues(op)}
	for r, name := range resultNames {
		s.results[r] = m.requests.WithLabelValues(op, name)
	}
	return s
}

// servedKind counts one peer request of kind.
func (m *metrics) servedKind(kind uint8) {
	if int(kind) < len(m.servedKinds) && m.servedKinds[kind] != nil {
		m.servedKinds[kind].Inc()
		return
	}
	m.served.WithLabelValues(KindName(kind)).Inc()
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_quorum_requests_total", Help: "Coordinated client requests by op and result.",
		}, []string{"op", "result"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dynamod_quorum_request_duration_seconds", Help: "Coordinated request latency.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"op"}),
		quorumFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_quorum_failures_total", Help: "Requests that did not reach their quorum.",
		}, []string{"op"}),
		served: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_quorum_served_total", Help: "Peer requests served, by kind.",
		}, []string{"kind"}),
		forwarded: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_forwarded_total", Help: "Writes forwarded to a primary.",
		}),
		readRepairs: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_read_repairs_total", Help: "Replicas sent a read repair.",
		}),
		clockSkew: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_pbs_clock_skew_total",
			Help: "Replica calls whose request/response split for the staleness estimate was clamped because the replica's clock is off by more than the round trip.",
		}),
		speculativeReads: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_speculative_reads_total", Help: "Reads that asked more replicas because one was slower than the speculative read delay.",
		}),
		siblings: f.NewHistogram(prometheus.HistogramOpts{
			Name: "dynamod_quorum_read_siblings", Help: "Siblings per successful read.",
			Buckets: []float64{1, 2, 3, 5, 10, 25, 50, 100},
		}),
		siblingWarnings: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_sibling_warnings_total", Help: "Reads with more siblings than warn_siblings.",
		}),
		largeValues: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_large_values_total", Help: "Writes larger than warn_value_bytes.",
		}),
		hintsStored: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_hints_stored_total", Help: "Hints written.",
		}),
		hintsDelivered: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_hints_delivered_total", Help: "Hints delivered to their primary.",
		}),
		hintFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_hint_failures_total", Help: "Hint deliveries that failed.",
		}),
		fallbackDropped: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_fallback_dropped_total", Help: "Fallback copies dropped after handoff.",
		}),
		released: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_released_total", Help: "Local copies dropped after their partition was handed off.",
		}),
		corrupt: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_corrupt_objects_total", Help: "Corrupt local objects found.",
		}),
		expired: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_expired_values_total", Help: "Values a read found expired (answered as deleted).",
		}),
		resolutions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_quorum_resolutions_total", Help: "Sibling resolutions on reads, by result.",
		}, []string{"result"}),
		reaped: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_quorum_tombstones_reaped_total", Help: "Tombstones physically deleted.",
		}),
	}
	digestReads := f.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamod_quorum_digest_reads_total",
		Help: "Replica reads that sent a digest of this node's copy, by whether the replica's copy was the same (and was not shipped).",
	}, []string{"result"})
	m.digestSame = digestReads.WithLabelValues("same")
	m.digestDiffer = digestReads.WithLabelValues("differ")
	m.ops = make(map[string]*opSeries, len(metricOps))
	for _, op := range metricOps {
		m.ops[op] = m.opSeries(op)
	}
	for k := range m.servedKinds {
		if k > 0 {
			m.servedKinds[k] = m.served.WithLabelValues(KindName(uint8(k)))
		}
	}
	return m
}

// observe records one client request's outcome. Every unavailable
// answer, before or after the fan-out, is a quorum failure.
func (m *metrics) observe(op string, err error, start time.Time) {
	result := resultOK
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		result = resultNotFound
	case errors.Is(err, ErrUnavailable):
		result = resultUnavailable
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrTooLarge):
		result = resultRejected
	default:
		result = resultError
	}
	s := m.ops[op]
	if s == nil { // an op newMetrics does not know
		s = m.opSeries(op)
	}
	if result == resultUnavailable {
		s.failures.Inc()
	}
	s.results[result].Inc()
	s.latency.Observe(time.Since(start).Seconds())
}
