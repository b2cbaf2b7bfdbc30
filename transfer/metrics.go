package transfer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	keys      prometheus.Counter
	bytes     prometheus.Counter
	served    prometheus.Counter
	durations prometheus.Histogram
	settles   prometheus.Counter
	released  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		keys: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transfer_keys_total", Help: "Objects received by partition transfers.",
		}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transfer_bytes_total", Help: "Bytes received by partition transfers.",
		}),
		served: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transfer_served_keys_total", Help: "Objects sent to other members' partition transfers.",
		}),
		durations: f.NewHistogram(prometheus.HistogramOpts{
			Name: "dynamod_transfer_partition_seconds", Help: "Time to receive one partition.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		settles: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transfer_settles_total", Help: "Times this node finished receiving its partitions and settled.",
		}),
		released: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transfer_released_partitions_total", Help: "Partitions this node handed off and dropped.",
		}),
	}
}
