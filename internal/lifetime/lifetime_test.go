package lifetime

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

func TestGroup_goAfterStopRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		if g.Stopped() {
			t.Fatal("a new group reports stopped")
		}
		if !g.Stop() {
			t.Fatal("first Stop reported false")
		}
		if g.Stop() {
			t.Fatal("second Stop reported true")
		}
		if !g.Stopped() {
			t.Fatal("Stopped false after Stop")
		}
		var ran atomic.Bool
		if g.Go(func() { ran.Store(true) }) {
			t.Fatal("Go after Stop reported true")
		}
		g.Close()
		if g.Go(func() { ran.Store(true) }) {
			t.Fatal("Go after Close reported true")
		}
		synctest.Wait() // any goroutine started has run by now
		if ran.Load() {
			t.Fatal("a refused f ran")
		}
	})
}

func TestGroup_closeWaitsForRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		release := make(chan struct{})
		var finished atomic.Bool
		if !g.Go(func() {
			<-release
			finished.Store(true)
		}) {
			t.Fatal("Go on a new group reported false")
		}
		returned := make(chan bool)
		go func() {
			g.Close()
			returned <- finished.Load()
		}()
		synctest.Wait() // f blocks on release; Close must block on f
		select {
		case <-returned:
			t.Fatal("Close returned while a goroutine of the group was running")
		default:
		}
		if !g.Stopped() {
			t.Fatal("Close in progress has not stopped the group")
		}
		close(release)
		if !<-returned {
			t.Fatal("Close returned before f finished")
		}
	})
}

// TestGroup_concurrentGoAndClose: however Go and Close interleave, every
// f that Go accepted has finished when Close returns, and none is
// accepted after. Under -race this also checks that the WaitGroup's Add
// never races its Wait.
func TestGroup_concurrentGoAndClose(t *testing.T) {
	const rounds, starters, perStarter = 200, 4, 8
	for range rounds {
		var g Group
		var finished, accepted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range starters {
			wg.Go(func() {
				<-start
				for range perStarter {
					if g.Go(func() { finished.Add(1) }) {
						accepted.Add(1)
					}
				}
			})
		}
		close(start)
		g.Close()
		atClose := finished.Load()
		wg.Wait()
		if got, want := atClose, accepted.Load(); got != want {
			t.Fatalf("when Close returned %d goroutines had finished; Go accepted %d", got, want)
		}
		if got := finished.Load(); got != atClose {
			t.Fatalf("%d goroutines ran after Close returned", got-atClose)
		}
	}
}

// TestGroup_goPooledReuses: a finished GoPooled goroutine runs the next
// task instead of a new goroutine; a task arriving while every worker is
// busy gets a new one; Close ends the idle workers and waits for the busy.
func TestGroup_goPooledReuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		var ran atomic.Int32
		if !g.GoPooled(func() { ran.Add(1) }) {
			t.Fatal("GoPooled on a new group reported false")
		}
		synctest.Wait() // the worker ran it and waits for more
		release := make(chan struct{})
		blocking := func() { <-release; ran.Add(1) }
		g.GoPooled(blocking)
		synctest.Wait()
		if n := g.workers.Load(); n != 1 {
			t.Errorf("%d workers after a task handed to an idle one, want 1", n)
		}
		g.GoPooled(blocking)
		synctest.Wait()
		if n := g.workers.Load(); n != 2 {
			t.Errorf("%d workers with the only one busy, want 2", n)
		}

		closed := make(chan struct{})
		go func() { g.Close(); close(closed) }()
		synctest.Wait()
		select {
		case <-closed:
			t.Error("Close returned while pooled tasks were running")
		default:
		}
		if g.GoPooled(func() { ran.Add(100) }) {
			t.Error("GoPooled after Stop reported true")
		}
		close(release)
		<-closed // and synctest.Test fails if a worker is left blocked
		if got := ran.Load(); got != 3 {
			t.Fatalf("%d tasks ran, want 3", got)
		}
	})
}

// TestGroup_goPooledIdleBound: at most MaxIdle finished workers wait, and
// they are reused before any new one starts.
func TestGroup_goPooledIdleBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		defer g.Close()
		release := make(chan struct{})
		for range MaxIdle + 20 {
			g.GoPooled(func() { <-release })
		}
		synctest.Wait()
		close(release)
		synctest.Wait()
		if n := g.idle.Load(); n != MaxIdle {
			t.Errorf("%d workers wait once every task ended, want %d", n, MaxIdle)
		}
		for range MaxIdle {
			g.GoPooled(func() {})
		}
		synctest.Wait()
		if n := g.workers.Load(); n != MaxIdle+20 {
			t.Errorf("%d workers started, want %d (the idle ones took the new tasks)", n, MaxIdle+20)
		}
	})
}

func TestGroup_holdKeepsCloseWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		if !g.Hold() {
			t.Fatal("Hold refused before Stop")
		}
		var closed atomic.Bool
		go func() {
			g.Close()
			closed.Store(true)
		}()
		synctest.Wait() // Close is blocked, or returned
		if closed.Load() {
			t.Fatal("Close returned while a Hold was not released")
		}
		if g.Hold() {
			t.Error("Hold accepted after Stop")
		}
		g.Release()
		synctest.Wait()
		if !closed.Load() {
			t.Fatal("Close still waits after Release")
		}
	})
}
