// Package ratelimit is a byte-rate limiter shared by the background movers
// of data (anti-entropy, partition transfers).
package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Limiter is a token bucket over bytes that may go into debt: a message
// larger than the bucket is sent once the debt before it is paid, and the
// bytes of a reply are charged after the fact, delaying the next request.
type Limiter struct {
	rate float64 // bytes per second and bucket size; 0: unlimited

	// mu guards tokens and last.
	mu     sync.Mutex
	tokens float64 // may be negative
	last   time.Time
}

// New returns a limiter of rate bytes per second; 0 means unlimited.
func New(rate int) *Limiter {
	return &Limiter{rate: float64(rate), tokens: float64(rate), last: time.Now()}
}

func (l *Limiter) refillLocked(now time.Time) {
	l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
}

// Wait takes n bytes and returns once the bucket is out of debt, or with
// ctx's error (giving the bytes back).
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if l.rate == 0 {
		return nil
	}
	l.mu.Lock()
	l.refillLocked(time.Now())
	l.tokens -= float64(n)
	var d time.Duration
	if l.tokens < 0 {
		d = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.Charge(-n)
		return ctx.Err()
	}
}

// Charge takes n bytes (gives them back if negative) without waiting.
func (l *Limiter) Charge(n int) {
	if l.rate == 0 {
		return
	}
	l.mu.Lock()
	l.refillLocked(time.Now())
	l.tokens -= float64(n)
	l.mu.Unlock()
}
