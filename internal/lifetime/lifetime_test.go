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
