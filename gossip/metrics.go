package gossip

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are one Gossip's Prometheus metrics.
type metrics struct {
	// members counts non-removed members of the cluster state by liveness.
	members *prometheus.GaugeVec
	// merges counts remote states merged, by source ("broadcast" for
	// messages, "pushpull" for full-state exchanges) and result ("changed",
	// "unchanged", "rejected" for bytes that failed to decode).
	merges *prometheus.CounterVec
	// rejoins counts re-join attempts to members that are not alive, by
	// result ("ok", "failed").
	rejoins *prometheus.CounterVec
	// persists counts cluster-state writes to disk, by result.
	persists *prometheus.CounterVec
	// reliableSends counts entries too large for a UDP broadcast that were
	// sent over TCP to one member, by result.
	reliableSends *prometheus.CounterVec
	// droppedPackets counts gossip packets and streams memberlist dropped
	// because no installed key decrypts them, by reason (dropReasons).
	droppedPackets *prometheus.CounterVec
	// rejectedEntries counts cluster-state entries from peers that
	// validation refused (validate.go), by reason (rejectReasons).
	rejectedEntries *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, queueDepth func() float64) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		members: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dynamod_gossip_members",
			Help: "Members of the cluster state (removed ones excluded), by liveness.",
		}, []string{"liveness"}),
		merges: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_gossip_state_merges_total",
			Help: "Remote cluster states received, by source and result.",
		}, []string{"source", "result"}),
		rejoins: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_gossip_rejoin_attempts_total",
			Help: "Re-join attempts to known members that were not alive, by result.",
		}, []string{"result"}),
		persists: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_gossip_state_persists_total",
			Help: "Cluster-state writes to disk, by result.",
		}, []string{"result"}),
		reliableSends: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_gossip_reliable_sends_total",
			Help: "Oversized state updates sent over TCP to one member, by result.",
		}, []string{"result"}),
	}
	m.droppedPackets = f.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamod_gossip_dropped_packets_total",
		Help: "Gossip packets (UDP) and streams (TCP) dropped because they were not encrypted with an installed key, by reason.",
	}, []string{"reason"})
	m.rejectedEntries = f.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamod_gossip_rejected_entries_total",
		Help: "Cluster-state entries from peers refused by validation and not applied, by reason.",
	}, []string{"reason"})
	for _, r := range dropReasons {
		m.droppedPackets.WithLabelValues(r).Add(0)
	}
	for _, r := range rejectReasons {
		m.rejectedEntries.WithLabelValues(string(r)).Add(0)
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dynamod_gossip_broadcast_queue_depth",
		Help: "Cluster-state updates waiting in the broadcast queue.",
	}, queueDepth)
	for _, l := range []Liveness{Alive, Suspect, Dead} {
		m.members.WithLabelValues(l.String()).Set(0)
	}
	return m
}

func result(err error) string {
	if err != nil {
		return "failed"
	}
	return "ok"
}
