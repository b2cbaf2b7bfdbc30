//go:build linux

package sched

import (
	"runtime"
	"slices"
	"syscall"
	"testing"
)

// lockedThread runs a goroutine locked to a thread of its own (moved to
// policy when apply) until stop is closed; the thread exits with it (the
// goroutine never unlocks). It returns the thread's id once the goroutine
// runs on it.
func lockedThread(t *testing.T, stop <-chan struct{}, policy Policy, apply bool) int {
	t.Helper()
	tid := make(chan int)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		id := syscall.Gettid()
		if apply {
			errc <- set(id, policy)
		} else {
			errc <- nil
		}
		tid <- id
		<-stop
	}()
	if err := <-errc; err != nil {
		t.Fatalf("set %v: %v", policy, err)
	}
	return <-tid
}

func policies(t *testing.T, tids []int) map[int]Policy {
	t.Helper()
	m := make(map[int]Policy, len(tids))
	for _, tid := range tids {
		p, err := Of(tid)
		if err != nil {
			t.Fatal(err)
		}
		m[tid] = p
	}
	return m
}

// TestMove: every thread under SCHED_OTHER moves to SCHED_BATCH, a thread
// under another policy keeps it, threads started afterwards inherit
// SCHED_BATCH, and moving back restores SCHED_OTHER.
func TestMove(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	idle := lockedThread(t, stop, Idle, true)
	t.Cleanup(func() {
		if _, err := Move(Batch, Other); err != nil {
			t.Errorf("move back: %v", err)
		}
	})

	n, err := Move(Other, Batch)
	if err != nil {
		t.Fatal(err)
	}
	before, err := Threads(syscall.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 || n > len(before) {
		t.Errorf("moved %d threads of %d", n, len(before))
	}
	for tid, p := range policies(t, before) {
		want := Batch
		if tid == idle {
			want = Idle
		}
		if p != want {
			t.Errorf("thread %d: %v, want %v", tid, p, want)
		}
	}

	// Threads the runtime starts now are made by threads under SCHED_BATCH.
	// Each locked goroutine takes a thread for itself, so there are more
	// locked goroutines than threads before.
	var started []int
	for range len(before) + 2 {
		started = append(started, lockedThread(t, stop, 0, false))
	}
	after, err := Threads(syscall.Getpid())
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
	for tid, p := range policies(t, fresh) {
		if p != Batch {
			t.Errorf("thread %d started after Move: %v, want SCHED_BATCH", tid, p)
		}
	}

	if n, err := Move(Batch, Other); err != nil || n < len(fresh) {
		t.Fatalf("move back: %d threads, %v", n, err)
	}
	for tid, p := range policies(t, after) {
		want := Other
		if tid == idle {
			want = Idle
		}
		if p != want {
			t.Errorf("after moving back, thread %d: %v, want %v", tid, p, want)
		}
	}
}

func TestOf_noThread(t *testing.T) {
	if _, err := Of(-1); err == nil {
		t.Error("Of(-1) succeeded")
	}
}

func TestPolicy_String(t *testing.T) {
	for p, want := range map[Policy]string{Other: "SCHED_OTHER", Batch: "SCHED_BATCH", Idle: "SCHED_IDLE", 7: "policy 7"} {
		if got := p.String(); got != want {
			t.Errorf("%d: %q, want %q", int(p), got, want)
		}
	}
}
