//go:build linux

package sched

import (
	"errors"
	"runtime"
	"slices"
	"syscall"
	"testing"
)

// lockedThread runs a goroutine locked to a thread of its own (moved to
// policy when apply) until the test ends, and returns the thread's id once
// the goroutine runs on it. At the end the goroutine gives the thread back
// its policy before it exits: the thread may be the main one, which the
// runtime keeps (wedged) instead of ending it, and the next test must not
// find it under this one's policy.
func lockedThread(t *testing.T, policy int, apply bool) int {
	t.Helper()
	tid := make(chan int)
	errc := make(chan error, 1)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		id := syscall.Gettid()
		prev, err := get(id)
		if err == nil && apply {
			err = set(id, policy)
		}
		errc <- err
		if err != nil {
			done <- nil
			return
		}
		tid <- id
		<-stop
		if apply {
			done <- set(id, prev)
			return
		}
		done <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("set %#x: %v", policy, err)
	}
	t.Cleanup(func() {
		close(stop)
		switch err := <-done; {
		case errors.Is(err, syscall.EPERM): // leaving SCHED_IDLE or reset-on-fork needs privilege
			t.Logf("thread's policy not restored: %v", err)
		case err != nil:
			t.Errorf("restoring a thread's policy: %v", err)
		}
	})
	return <-tid
}

// expect checks that every thread of tids is under want, but idle, which
// must be under SCHED_IDLE.
func expect(t *testing.T, when string, tids []int, want Policy, idle int) {
	t.Helper()
	for _, tid := range tids {
		p, err := of(tid)
		if err != nil {
			t.Fatal(err)
		}
		w := want
		if tid == idle {
			w = Idle
		}
		if p != w {
			t.Errorf("%s, thread %d: %v, want %v", when, tid, p, w)
		}
	}
}

// TestMove: every thread under SCHED_OTHER moves to SCHED_BATCH, a thread
// under another policy keeps it, threads started afterwards inherit
// SCHED_BATCH, and moving back restores SCHED_OTHER.
func TestMove(t *testing.T) {
	if p, err := of(syscall.Gettid()); err != nil || p != Other {
		t.Skipf("the test runs under %v (%v), not SCHED_OTHER", p, err)
	}
	idle := lockedThread(t, int(Idle), true)
	t.Cleanup(func() {
		if _, err := Move(Batch, Other); err != nil {
			t.Errorf("move back: %v", err)
		}
	})

	n, err := Move(Other, Batch)
	if err != nil {
		t.Fatal(err)
	}
	before, err := taskIDs("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 || n > len(before) {
		t.Errorf("moved %d threads of %d", n, len(before))
	}
	expect(t, "after Move", before, Batch, idle)

	// Threads the runtime starts now are made by threads under SCHED_BATCH.
	// Each locked goroutine takes a thread for itself, so there are more
	// locked goroutines than threads before.
	var started []int
	for range len(before) + 2 {
		started = append(started, lockedThread(t, 0, false))
	}
	after, err := taskIDs("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var fresh []int
	for _, tid := range after {
		if !slices.Contains(before, tid) {
			fresh = append(fresh, tid)
		}
	}
	if len(fresh) == 0 {
		t.Fatalf("%d locked goroutines started no thread (threads before %v, after %v)", len(started), before, after)
	}
	expect(t, "started after Move", fresh, Batch, idle)

	if n, err := Move(Batch, Other); err != nil || n < len(fresh) {
		t.Fatalf("move back: %d threads, %v", n, err)
	}
	expect(t, "after moving back", after, Other, idle)
}

// TestMove_keepsResetOnFork: a thread's reset-on-fork flag survives the
// move (clearing it would need privilege, and drop an operator's choice).
func TestMove_keepsResetOnFork(t *testing.T) {
	if p, err := of(syscall.Gettid()); err != nil || p != Other {
		t.Skipf("the test runs under %v (%v), not SCHED_OTHER", p, err)
	}
	tid := lockedThread(t, int(Other)|resetOnFork, true)
	t.Cleanup(func() {
		if _, err := Move(Batch, Other); err != nil {
			t.Errorf("move back: %v", err)
		}
	})
	if _, err := Move(Other, Batch); err != nil {
		t.Fatal(err)
	}
	raw, err := get(tid)
	if err != nil {
		t.Fatal(err)
	}
	if raw != int(Batch)|resetOnFork {
		t.Errorf("thread %d: policy %#x, want SCHED_BATCH with reset-on-fork (%#x)", tid, raw, int(Batch)|resetOnFork)
	}
}

func TestOf_noThread(t *testing.T) {
	if _, err := of(-1); err == nil {
		t.Error("of(-1) succeeded")
	}
}

func TestPolicy_String(t *testing.T) {
	for p, want := range map[Policy]string{Other: "SCHED_OTHER", Batch: "SCHED_BATCH", Idle: "SCHED_IDLE", 7: "policy 7"} {
		if got := p.String(); got != want {
			t.Errorf("%d: %q, want %q", int(p), got, want)
		}
	}
}
