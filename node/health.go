package node

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynamod/dynamod/storage"
)

// watchStorage exports the storage engine's health as metrics and logs
// every change of it: the write error that stops writes (after which
// /ready answers 503, see Ready), each failed reopen, and the reopen that
// brings writes back.
func (n *Node) watchStorage() {
	n.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dynamod_storage_write_failed",
		Help: "1 while the storage engine refuses writes after a write error (disk full, I/O error), until a reopen succeeds; else 0.",
	}, func() float64 {
		if n.store.Health().Writable {
			return 0
		}
		return 1
	}))
	n.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "dynamod_storage_reopens_total",
		Help: "Reopens of the storage engine that brought writes back after a write error.",
	}, func() float64 { return float64(n.store.Health().Reopens) }))
	if _, ok := n.store.EngineStats(); ok {
		// How long writes into goleveldb take and how often it holds
		// them back: the first thing to look at when PUTs have a long tail.
		n.reg.MustRegister(engineStatsCollector{n.store})
	}

	var mu sync.Mutex   // notifications may overlap
	var since time.Time // of the failure being reported
	n.store.OnHealthChange(func(h storage.Health) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case h.Writable:
			n.log.Info("storage takes writes again after reopening", "down_for", time.Since(since).Round(time.Millisecond), "reopens", h.Reopens)
		case h.ReopenAttempts == 0:
			since = h.Since
			n.log.Error("storage refuses writes after a write error; /ready answers 503 until a reopen succeeds",
				"err", h.Error, "next_reopen_in", time.Until(h.NextReopen).Round(time.Millisecond))
		default:
			n.log.Warn("storage reopen failed; writes still refused", "attempt", h.ReopenAttempts, "err", h.LastReopenError,
				"readable", h.Readable, "next_reopen_in", time.Until(h.NextReopen).Round(time.Millisecond))
		}
	})
}

// engineStatsCollector exports the storage engine's write figures
// (storage.EngineStats), read once per scrape.
type engineStatsCollector struct{ store *storage.Store }

// engineStatsMetrics are its series, each with its value in a scrape.
var engineStatsMetrics = [...]struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(storage.EngineStats) float64
}{
	{prometheus.NewDesc("dynamod_storage_writes_total", "Writes into the storage engine (a group commit of concurrent replica writes is one).", nil, nil),
		prometheus.CounterValue, func(s storage.EngineStats) float64 { return float64(s.Writes) }},
	{prometheus.NewDesc("dynamod_storage_write_seconds_total", "Time spent in writes into the storage engine.", nil, nil),
		prometheus.CounterValue, func(s storage.EngineStats) float64 { return s.WriteTime.Seconds() }},
	{prometheus.NewDesc("dynamod_storage_slow_writes_total", "Writes into the storage engine that took 100 ms or more: goleveldb held them back for a compaction or a memtable flush.", nil, nil),
		prometheus.CounterValue, func(s storage.EngineStats) float64 { return float64(s.SlowWrites) }},
	{prometheus.NewDesc("dynamod_storage_level0_tables", "Tables in goleveldb's level 0; it slows writes from 8 and pauses them from 12.", nil, nil),
		prometheus.GaugeValue, func(s storage.EngineStats) float64 { return float64(s.Level0Tables) }},
	{prometheus.NewDesc("dynamod_storage_writes_paused", "1 while goleveldb pauses writes for a level-0 compaction, else 0.", nil, nil),
		prometheus.GaugeValue, func(s storage.EngineStats) float64 {
			if s.WritePaused {
				return 1
			}
			return 0
		}},
}

func (engineStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range engineStatsMetrics {
		ch <- m.desc
	}
}

func (c engineStatsCollector) Collect(ch chan<- prometheus.Metric) {
	s, _ := c.store.EngineStats()
	for _, m := range engineStatsMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(s))
	}
}
