package antientropy

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	exchanges *prometheus.CounterVec // result
	duration  prometheus.Histogram
	segments  prometheus.Counter
	keys      *prometheus.CounterVec // direction: pushed, pulled
	bytes     *prometheus.CounterVec // direction: sent, received
	rebuilds  *prometheus.CounterVec // scope: partition, segment
	reaped    prometheus.Counter
	treeBytes prometheus.Gauge
	served    *prometheus.CounterVec // kind
	corrupt   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		exchanges: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_antientropy_exchanges_total",
			Help: "Exchanges this node started, by result (equal, differed, repaired, not_ready, failed).",
		}, []string{"result"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "dynamod_antientropy_exchange_duration_seconds",
			Help:    "Duration of the exchanges this node started.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		segments: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_antientropy_differing_segments_total",
			Help: "Tree segments found to differ from a peer's.",
		}),
		keys: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_antientropy_keys_repaired_total",
			Help: "Objects repaired by exchanges: pushed to a peer or pulled and merged here.",
		}, []string{"direction"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_antientropy_bytes_total",
			Help: "Message bytes of the exchanges this node started, by direction (sent, received).",
		}, []string{"direction"}),
		rebuilds: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_antientropy_tree_rebuilds_total",
			Help: "Trees rebuilt from a scan: whole partitions, or single segments found drifted.",
		}, []string{"scope"}),
		reaped: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_antientropy_tombstones_reaped_total",
			Help: "Tombstones physically deleted on this node.",
		}),
		treeBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "dynamod_antientropy_tree_bytes",
			Help: "Memory held by the leaves and branches of this node's trees.",
		}),
		served: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_antientropy_served_total",
			Help: "Anti-entropy requests served for peers, by kind.",
		}, []string{"kind"}),
		corrupt: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_antientropy_corrupt_objects_total",
			Help: "Corrupt objects stepped over by anti-entropy scans.",
		}),
	}
}
