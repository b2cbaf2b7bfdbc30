package quorum

import "sync"

// tail carries the answers of one operation's fan-out (acks of a write,
// replies of a read) to the coordinator while it waits for its quorum,
// and past that to whoever finishes the operation: once the coordinator
// has answered, each late answer is handled by the goroutine that
// delivered it (a transport connection's read loop, see
// Coordinator.send), so no goroutine is started to wait for the tail.
// That goroutine must not block: a write's late ack that owes a hint, and
// a read's last reply that finds replicas to repair, hand that work to a
// pooled goroutine. Every answer is handled exactly once: either it
// was sent while the coordinator waited (then the coordinator received or
// drains it) or it arrives after (then its sender handles it).
type tail[T any] struct {
	ch chan T // buffered for every answer: a send never blocks

	mu      sync.Mutex
	waiting bool // the coordinator still receives from ch
	got     []T  // answers collected since it stopped
	due     int  // answers still to come since it stopped
	last    func([]T)
	each    func(T)
}

// newTail makes a tail for n answers, the coordinator waiting.
func newTail[T any](n int) *tail[T] {
	return &tail[T]{ch: make(chan T, n), waiting: true}
}

// send delivers one answer: to the coordinator while it waits, else to
// the handler the coordinator left (see finish), in this goroutine.
func (t *tail[T]) send(a T) {
	t.mu.Lock()
	if t.waiting {
		t.ch <- a
		t.mu.Unlock()
		return
	}
	each := t.each
	var all []T
	if t.last != nil {
		t.got = append(t.got, a)
		t.due--
		if t.due == 0 {
			all = t.got
		}
	}
	t.mu.Unlock()
	if each != nil {
		each(a)
	}
	if all != nil {
		t.last(all)
	}
}

// finish stops the coordinator's waiting. got are the answers that
// reached it (they matter only to last), and due more are expected in all.
// Each answer not received yet, buffered or to come, goes to each (if not
// nil), in whichever goroutine holds it. If last is not nil, the answers
// are collected: when every one is in already, finish returns them all
// and done (the caller finishes); otherwise the sender of the last one
// calls last with them all.
func (t *tail[T]) finish(got []T, due int, each func(T), last func([]T)) (all []T, done bool) {
	t.mu.Lock()
	t.waiting = false
	var drained []T
	for len(t.ch) > 0 { // senders add to ch only while waiting, under mu
		drained = append(drained, <-t.ch)
	}
	got = append(got, drained...)
	due -= len(drained)
	t.each, t.last, t.got, t.due = each, last, got, due
	t.mu.Unlock()
	if each != nil {
		for _, a := range drained {
			each(a)
		}
	}
	return got, last != nil && due == 0
}
