package transport

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestReqContext_likeWithDeadline: a request's lazy context reports what
// context.WithDeadline would, whether Done is asked for before, after or
// never: the deadline, expiry by the clock, the parent's end, and
// Canceled once the request has ended.
func TestReqContext_likeWithDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		parent := context.WithValue(context.Background(), key{}, "v")
		d := time.Now().Add(time.Second)

		c := newReqContext(parent, d)
		if got, ok := c.Deadline(); !ok || !got.Equal(d) {
			t.Fatalf("Deadline = %v, %v", got, ok)
		}
		if c.Value(key{}) != "v" {
			t.Fatal("Value does not reach the parent")
		}
		if err := c.Err(); err != nil {
			t.Fatalf("Err before the deadline = %v", err)
		}
		if c.timed.Load() != nil {
			t.Fatal("Err made a timer before the deadline")
		}
		time.Sleep(time.Second)
		if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Err at the deadline = %v, want DeadlineExceeded", err)
		}
		select {
		case <-c.Done():
		default:
			t.Fatal("Done open after Err reported the deadline")
		}
		c.release()
		if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Err after release = %v, want DeadlineExceeded still", err)
		}

		// Done asked for first: closed by the timer at the deadline.
		c = newReqContext(parent, time.Now().Add(time.Second))
		done := c.Done()
		time.Sleep(500 * time.Millisecond)
		select {
		case <-done:
			t.Fatal("Done closed before the deadline")
		default:
		}
		if c.Err() != nil {
			t.Fatal("Err non-nil before the deadline")
		}
		<-done // synctest: advances to the deadline
		if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Err = %v after Done closed", err)
		}
		c.release()

		// Released before the deadline, Done never asked: Canceled, and a
		// Done asked for now is closed.
		c = newReqContext(parent, time.Now().Add(time.Hour))
		c.release()
		if err := c.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err after release = %v, want Canceled", err)
		}
		select {
		case <-c.Done():
		default:
			t.Fatal("Done open after release")
		}

		// Released with Done made: closed by release.
		c = newReqContext(parent, time.Now().Add(time.Hour))
		done = c.Done()
		c.release()
		select {
		case <-done:
		default:
			t.Fatal("Done open after release")
		}

		// The parent's end shows through, with and without Done.
		for _, askDone := range []bool{false, true} {
			p, cancel := context.WithCancel(parent)
			c = newReqContext(p, time.Now().Add(time.Hour))
			if askDone {
				c.Done()
			}
			cancel()
			if err := c.Err(); !errors.Is(err, context.Canceled) {
				t.Fatalf("askDone=%v: Err after the parent's cancel = %v", askDone, err)
			}
			<-c.Done() // closed by the parent's end
			c.release()
		}

		// A child context derived from it follows it.
		c = newReqContext(parent, time.Now().Add(time.Second))
		child, cancel := context.WithCancel(c)
		defer cancel()
		<-child.Done()
		if err := child.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("child Err = %v, want DeadlineExceeded", err)
		}
		c.release()
	})
}
