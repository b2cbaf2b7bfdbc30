package quorum

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynamod/dynamod/internal/rates"
)

// Speculative retry (Cassandra's speculative_retry): a read asks R
// replicas, and when one has not answered within the speculation delay it
// asks the other targets too. With Config.SpeculativeRead set the delay is
// fixed. By default it adapts: the SpeculativeQuantile of this node's
// recent replica read round trips, between MinSpeculativeRead and
// DefaultSpeculativeRead. A read then waits for a slow replica (a
// descheduled process, a queue behind a compaction) only about as long as
// the fastest nine in ten replica reads take, and one read in ten at most
// costs one more replica read.
const (
	// SpeculativeQuantile is the share of replica reads that answer
	// before an adaptive speculation delay.
	SpeculativeQuantile = 0.9
	// MinSpeculativeRead is the adaptive delay's floor: below it a replica
	// is not slow, whatever the quantile says.
	MinSpeculativeRead = time.Millisecond
	// speculateEvery is how many delay lookups pass between updates of
	// the adaptive delay, and speculateMinSamples how many new round
	// trips an update needs (fewer keep the old delay).
	speculateEvery      = 256
	speculateMinSamples = 64
)

// speculation keeps the replica read round trips and the adaptive delay.
type speculation struct {
	rtt   rates.Hist   // remote read round trips, ever
	calls atomic.Int64 // delay lookups, ever
	delay atomic.Int64 // the current adaptive delay in ns; 0 before the first update

	mu   sync.Mutex   // one update at a time
	last rates.Counts // rtt at the last update; guarded by mu
}

// observe records one replica read's round trip.
func (s *speculation) observe(d time.Duration) { s.rtt.Observe(d) }

// tick counts one read that may speculate and, every speculateEvery of
// them, updates the adaptive delay from the round trips recorded since the
// last update.
func (s *speculation) tick() {
	if s.calls.Add(1)%speculateEvery == 0 && s.mu.TryLock() {
		var now rates.Counts
		s.rtt.Load(&now)
		delta := now.Sub(&s.last)
		if delta.Total() >= speculateMinSamples {
			q := delta.Quantile(SpeculativeQuantile)
			s.delay.Store(int64(min(max(q, MinSpeculativeRead), DefaultSpeculativeRead)))
			s.last = now
		}
		s.mu.Unlock()
	}
}

// current returns the adaptive delay: DefaultSpeculativeRead until the
// first update.
func (s *speculation) current() time.Duration {
	if d := s.delay.Load(); d > 0 {
		return time.Duration(d)
	}
	return DefaultSpeculativeRead
}

// SpeculativeDelay returns how long a read now waits for the replicas it
// asked before it asks the others: Config.SpeculativeRead if set, else
// the adaptive delay.
func (c *Coordinator) SpeculativeDelay() time.Duration {
	if c.cfg.SpeculativeRead > 0 {
		return c.cfg.SpeculativeRead
	}
	return c.spec.current()
}
