package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the shared in-flight budget on its own (no network): what a
// frame is charged, the three rules, and that concurrent frames larger in
// total than the budget all complete.

const kib = 1 << 10

// farFuture is a wait bound that a test never reaches.
func farFuture() time.Time { return time.Now().Add(time.Minute) }

// grows takes n bytes for c and fails the test if it has to wait.
func grows(t *testing.T, c *charge, n int) {
	t.Helper()
	if err := c.grow(t.Context(), n, time.Now()); err != nil {
		t.Fatalf("grow(%d) of a frame holding %d: %v, want an immediate grant", n, c.held, err)
	}
}

// growAsync starts c.grow(n) in a goroutine and returns its result.
func growAsync(t *testing.T, c *charge, n int) <-chan error {
	res := make(chan error, 1)
	go func() { res <- c.grow(t.Context(), n, farFuture()) }()
	return res
}

// queued waits until s has n small and m large waiters.
func queued(t *testing.T, s *shared, small, large int) {
	t.Helper()
	eventually(t, 5*time.Second, fmt.Sprintf("%d small and %d large waiters", small, large), func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.smallQ) == small && len(s.largeQ) == large
	})
}

func (s *shared) state() (used, large, growing int, leader *charge) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used, s.large, s.growing, s.leader
}

// TestShared_chargesWhatArrives: frames that announce the largest body
// and send nothing more than a first buffer hold that buffer, not what
// they announce, so the budget has room for everybody else (the
// stalled-frames attack: four such frames took all 256 MiB when the
// announced length was charged).
func TestShared_chargesWhatArrives(t *testing.T) {
	s := newShared(256<<20, 64<<20, nil)
	var stalled []*charge
	for range 50 {
		c := s.newCharge(64<<20 - requestFixed)
		grows(t, c, requestCost+growChunk) // its first buffer, as readBody takes it
		stalled = append(stalled, c)
	}
	if used, _, _, leader := s.state(); used != 50*(requestCost+growChunk) || leader != nil {
		t.Fatalf("50 stalled frames hold %d bytes (leader %v), want %d", used, leader != nil, 50*(requestCost+growChunk))
	}
	// Honest frames, small and large, get their bytes at once.
	small := s.newCharge(4 * kib)
	grows(t, small, requestCost+4*kib)
	big := s.newCharge(32 << 20)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := growLikeReadBody(ctx, big, 32<<20); err != nil {
		t.Fatalf("a 32 MiB frame beside the stalled ones: %v", err)
	}
	if big.held != requestCost+32<<20 {
		t.Fatalf("big frame holds %d, want its claim %d", big.held, requestCost+32<<20)
	}
	for _, c := range append(stalled, small, big) {
		c.release()
	}
	if !s.drained() {
		t.Fatal("budget not drained after every release")
	}
}

// TestShared_rules walks the three rules with a budget of 1 MiB: reserve
// R = 256 KiB for small frames, largest large claim C = 264 KiB (a 256 KiB
// body), room for growing frames other than the leader 504 KiB.
func TestShared_rules(t *testing.T) {
	s := newShared(1<<20, 256*kib, nil)
	if s.reserve != 256*kib || s.maxClaim != 264*kib || s.room != 504*kib {
		t.Fatalf("reserve %d, maxClaim %d, room %d; want 256, 264, 504 KiB", s.reserve/kib, s.maxClaim/kib, s.room/kib)
	}
	large := func() *charge { return s.newCharge(256 * kib) }
	small := func() *charge { return s.newCharge(64 * kib) } // claim 72 KiB
	check := func(what string, wantUsed, wantLarge, wantGrowing int, wantLeader *charge) {
		t.Helper()
		used, lg, growing, leader := s.state()
		if used != wantUsed*kib || lg != wantLarge*kib || growing != wantGrowing*kib || leader != wantLeader {
			t.Fatalf("%s: used %d, large %d, growing %d KiB, leader %p; want %d, %d, %d, %p",
				what, used/kib, lg/kib, growing/kib, leader, wantUsed, wantLarge, wantGrowing, wantLeader)
		}
	}

	a, b, c := large(), large(), large()
	grows(t, a, 264*kib)
	a.complete() // its handler holds it
	grows(t, b, 264*kib)
	grows(t, c, 72*kib)
	check("a complete, b and c growing", 600, 600, 336, nil)

	// Rule 2: c's next buffer would take the growing frames past the room
	// (536 > 504); there is no leader, so c leads. Rule 1: as leader it
	// still waits, since large frames would hold 800 KiB > L-R.
	cDone := growAsync(t, c, 200*kib)
	eventually(t, 5*time.Second, "c to lead", func() bool { return !c.leaderSince().IsZero() })
	check("c leads, waiting", 600, 600, 264, c)

	// Rule 3: c's remaining 192 KiB are reserved. Three small frames fit
	// beside it (used+72+192 <= 1024); a fourth would not, nor within R
	// (4 x 72 > 256), so it waits, and so does a large frame d.
	var smalls []*charge
	for range 3 {
		sc := small()
		grows(t, sc, 72*kib)
		smalls = append(smalls, sc)
	}
	s4 := small()
	s4Done := growAsync(t, s4, 72*kib)
	d := large()
	dDone := growAsync(t, d, 72*kib)
	queued(t, s, 1, 1)
	check("c's claim reserved", 816, 600, 264, c)

	// a's handler ends: c gets its bytes, then d and s4 fit.
	a.release()
	for _, w := range []struct {
		name string
		ch   <-chan error
	}{{"c", cDone}, {"d", dDone}, {"s4", s4Done}} {
		if err := recv(t, w.ch, 5*time.Second, w.name+"'s grant once a ended"); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
	}
	check("c read in full, d growing", 888, 600, 336, c)
	c.complete()
	check("c complete", 888, 600, 336, nil)

	// Promotion is first come, first served: e and f do not fit (rule 1:
	// large frames hold 600 of 768 KiB); e leads, f queues behind it.
	e, f := large(), large()
	eDone := growAsync(t, e, 200*kib)
	eventually(t, 5*time.Second, "e to lead", func() bool { return !e.leaderSince().IsZero() })
	fDone := growAsync(t, f, 200*kib)
	queued(t, s, 0, 1)
	b.release() // large frames: 336; e fits as leader, f waits for the reservation
	if err := recv(t, eDone, 5*time.Second, "e's grant"); err != nil {
		t.Fatal(err)
	}
	e.complete()
	if err := recv(t, fDone, 5*time.Second, "f's grant once e completed"); err != nil {
		t.Fatal(err)
	}
	for _, x := range append(smalls, c, d, e, f, s4) {
		x.release()
	}
	if !s.drained() {
		t.Fatal("budget not drained after every release")
	}
}

// TestShared_giveUp: a waiter whose bound passes or whose ctx ends takes
// nothing, leaves the queues, and unblocks whoever waited behind it.
func TestShared_giveUp(t *testing.T) {
	s := newShared(64*kib*4, 64*kib, nil)
	var held []*charge
	for range 3 { // 3 x 72 of 256 KiB; R is 64 KiB
		c := s.newCharge(64 * kib)
		grows(t, c, requestCost+64*kib)
		held = append(held, c)
	}
	// 216 KiB used: a fourth small frame does not fit (L) nor does R.
	late := s.newCharge(64 * kib)
	if err := late.grow(t.Context(), requestCost+64*kib, time.Now().Add(50*time.Millisecond)); !errors.Is(err, errNoRoom) {
		t.Fatalf("grow past its bound = %v, want errNoRoom", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	quitter := s.newCharge(64 * kib)
	qDone := make(chan error, 1)
	go func() { qDone <- quitter.grow(ctx, requestCost+64*kib, farFuture()) }()
	queued(t, s, 1, 0)
	behindCharge := s.newCharge(kib)
	behind := growAsync(t, behindCharge, requestCost+kib)
	queued(t, s, 2, 0)
	cancel()
	if err := recv(t, qDone, 5*time.Second, "the canceled grow"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled grow = %v", err)
	}
	// The small frame behind the quitter fits now that it is gone.
	if err := recv(t, behind, 5*time.Second, "the frame behind the quitter"); err != nil {
		t.Fatal(err)
	}
	if late.held != 0 || quitter.held != 0 {
		t.Fatalf("frames that gave up hold %d and %d", late.held, quitter.held)
	}
	for _, c := range append(held, behindCharge, late, quitter) {
		c.release()
	}
	if !s.drained() {
		t.Fatal("budget not drained after every release")
	}
}

// TestShared_noDeadlock: many frames on many connections, large and
// small, far more in total than the budget, grow as readBody grows them
// while handlers hold completed ones for a while: every frame completes.
// With hold and wait and no leader, this deadlocks within a few rounds
// (the frames that started fill the budget and each waits for more).
func TestShared_noDeadlock(t *testing.T) {
	for _, limit := range []int{256 * kib, 1 << 20, 4 << 20} {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("limit=%dKiB/seed=%d", limit/kib, seed), func(t *testing.T) {
				runFrames(t, newShared(limit, 1<<20, nil), seed, 24, 12)
			})
		}
	}
}

// runFrames runs conns connections of frames frames each against s, with
// bodies up to 1 MiB drawn from seed, and fails the test if they have not
// all completed within 30 s.
func runFrames(t *testing.T, s *shared, seed uint64, conns, frames int) {
	var wg sync.WaitGroup
	errs := make(chan error, conns*frames)
	for i := range conns {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		bodies := make([]int, frames)
		for j := range bodies {
			if rng.IntN(2) == 0 {
				bodies[j] = rng.IntN(growChunk + 1)
			} else {
				bodies[j] = growChunk + 1 + rng.IntN(1<<20-growChunk)
			}
		}
		holds := rng.IntN(20)
		wg.Go(func() {
			var handlers sync.WaitGroup
			defer handlers.Wait()
			for _, n := range bodies {
				c := s.newCharge(n)
				if err := growLikeReadBody(t.Context(), c, n); err != nil {
					errs <- err
					c.release()
					return
				}
				c.complete()
				handlers.Go(func() {
					for range holds {
						runtime.Gosched()
					}
					c.release()
				})
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.mu.Lock()
		used, large, growing, leader, sq, lq := s.used, s.large, s.growing, s.leader != nil, len(s.smallQ), len(s.largeQ)
		s.mu.Unlock()
		t.Fatalf("frames still waiting after 30 s: used %d, large %d, growing %d, leader %v, %d small and %d large waiters",
			used, large, growing, leader, sq, lq)
	}
	close(errs)
	var msgs []string
	for err := range errs {
		msgs = append(msgs, err.Error())
	}
	if len(msgs) > 0 {
		t.Fatalf("%d frames failed: %s", len(msgs), strings.Join(msgs[:min(3, len(msgs))], "; "))
	}
	if !s.drained() {
		t.Fatal("budget not drained")
	}
}

// growLikeReadBody takes c's bytes in readBody's steps: requestCost and
// a first buffer of up to growChunk, then a doubling buffer.
func growLikeReadBody(ctx context.Context, c *charge, n int) error {
	size := min(n, growChunk)
	if err := c.grow(ctx, requestCost+size, farFuture()); err != nil {
		return err
	}
	for size < n {
		next := min(2*size, n)
		if err := c.grow(ctx, next-size, farFuture()); err != nil {
			return err
		}
		size = next
		runtime.Gosched() // the bytes arrive
	}
	return nil
}
