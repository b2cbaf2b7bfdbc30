package transport

import (
	"context"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// budget is a semaphore of bytes: acquire waits until its bytes fit under
// the limit, release gives them back. Waiters are served first come first
// served, so a large request is not starved by a stream of small ones. A
// request larger than the limit is charged the whole limit: it proceeds when
// nothing else holds the budget.
type budget struct {
	limit int
	gauge prometheus.Gauge // tracks used; nil: none

	mu sync.Mutex
	// guarded by mu
	used    int
	waiters []*budgetWaiter // in arrival order
}

type budgetWaiter struct {
	n     int
	ready chan struct{} // closed when the bytes are granted
}

func newBudget(limit int, gauge prometheus.Gauge) *budget {
	return &budget{limit: limit, gauge: gauge}
}

// acquire takes n bytes (at most the limit) and returns how many it took,
// the amount to release later; 0 for n <= 0. It waits until they fit or
// ctx ends, in which case it takes nothing and returns ctx's error.
func (b *budget) acquire(ctx context.Context, n int) (int, error) {
	n = min(n, b.limit)
	if n <= 0 {
		return 0, nil
	}
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.addLocked(n)
		b.mu.Unlock()
		return n, nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return n, nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-w.ready:
			// Granted meanwhile: give it back, which may serve the next.
			b.releaseLocked(n)
		default:
			i := slices.Index(b.waiters, w)
			b.waiters = slices.Delete(b.waiters, i, i+1)
			// The head may have been blocking smaller waiters behind it.
			b.grantLocked()
		}
		return 0, ctx.Err()
	}
}

// release gives back n bytes taken by acquire.
func (b *budget) release(n int) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.releaseLocked(n)
	b.mu.Unlock()
}

func (b *budget) releaseLocked(n int) {
	b.addLocked(-n)
	b.grantLocked()
}

// grantLocked serves the waiters at the head of the queue that fit. Each
// round removes one waiter, so it ends.
func (b *budget) grantLocked() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
		w := b.waiters[0]
		b.waiters = slices.Delete(b.waiters, 0, 1)
		b.addLocked(w.n)
		close(w.ready)
	}
}

func (b *budget) addLocked(n int) {
	b.used += n
	if b.gauge != nil {
		b.gauge.Add(float64(n))
	}
}
