package quorum

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestTail_exactlyOnce: whenever the coordinator stops waiting, every
// answer is handled exactly once: received while it waits, or drained at
// finish, or handled by its sender after; and the collected answers reach
// last once, complete, from whoever delivers the last of them.
func TestTail_exactlyOnce(t *testing.T) {
	const n = 8
	for round := range 500 {
		tl := newTail[int](n)
		stopAfter := round % (n + 1) // answers the coordinator receives before it stops
		var handled [n]atomic.Int32
		var lasts atomic.Int32
		var lastLen atomic.Int32
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { tl.send(i) })
		}
		var got []int
		for range stopAfter {
			a := <-tl.ch
			handled[a].Add(1)
			got = append(got, a)
		}
		all, done := tl.finish(got, n-len(got), func(a int) { handled[a].Add(1) }, func(all []int) {
			lasts.Add(1)
			lastLen.Store(int32(len(all)))
		})
		wg.Wait()
		if done {
			lasts.Add(1)
			lastLen.Store(int32(len(all)))
		}
		for i := range n {
			if h := handled[i].Load(); h != 1 {
				t.Fatalf("round %d: answer %d handled %d times", round, i, h)
			}
		}
		if lasts.Load() != 1 || lastLen.Load() != n {
			t.Fatalf("round %d: last called %d times with %d answers, want once with %d", round, lasts.Load(), lastLen.Load(), n)
		}
	}
}

// TestTail_noneDue: with every answer received, finish has nothing to hand
// out and says the collection is complete.
func TestTail_noneDue(t *testing.T) {
	tl := newTail[int](2)
	tl.send(1)
	tl.send(2)
	got := []int{<-tl.ch, <-tl.ch}
	all, done := tl.finish(got, 0, func(int) { t.Error("each called with nothing due") }, func([]int) { t.Error("last called by nobody's answer") })
	if !done || len(all) != 2 {
		t.Errorf("finish = %v, %v; want both answers, done", all, done)
	}
}
