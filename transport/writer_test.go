package transport

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestFrameWriter_slowSteadyPeer: WriteTimeout bounds a peer that stops
// taking bytes, not the time a large frame takes: a peer that reads 4 MiB
// steadily over longer than the timeout gets every byte, and one that
// stops reading fails the write.
func TestFrameWriter_slowSteadyPeer(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	const timeout = time.Second
	w := newFrameWriter(a, timeout, func(int) {})
	payload := bytes.Repeat([]byte("x"), 4<<20)
	got := make(chan int, 1)
	go func() {
		n := 0
		buf := make([]byte, 128<<10)
		for n < len(payload) {
			m, err := io.ReadFull(b, buf[:min(len(buf), len(payload)-n)])
			n += m
			if err != nil {
				break
			}
			time.Sleep(40 * time.Millisecond) // 3.2 MiB/s: 1.3 s in all
		}
		got <- n
	}()
	start := time.Now()
	if err := w.write(payload); err != nil {
		t.Fatalf("steady peer: %v after %v", err, time.Since(start))
	}
	if n := <-got; n != len(payload) {
		t.Fatalf("peer got %d of %d bytes", n, len(payload))
	}

	// Nobody reads now: the write fails once the timeout passes.
	if err := w.write(payload); err == nil {
		t.Fatal("a write nobody reads succeeded")
	}
}

// TestFrameWriter_smallFramesPassALargeOne: a queue filled by a large frame
// (here larger than the limit plus the small frames' extra, as a 48 MiB
// replicate is) refuses more large frames but still takes small ones, up
// to a bound of their own.
func TestFrameWriter_smallFramesPassALargeOne(t *testing.T) {
	a, b := net.Pipe() // nobody reads b: the queue only grows
	defer a.Close()
	defer b.Close()
	w := newFrameWriter(a, time.Minute, func(int) {})
	w.mu.Lock()
	w.busy = true // as if run were writing: what is sent stays queued
	w.mu.Unlock()
	hdr := make([]byte, 8)
	if err := w.send(hdr, make([]byte, sendQueueLimit+smallQueueExtra)); err != nil {
		t.Fatalf("first large frame: %v", err)
	}
	if err := w.send(hdr, make([]byte, smallFrameBytes+1)); err != errSendQueueFull {
		t.Fatalf("a second large frame: %v, want the queue full", err)
	}
	small := make([]byte, 1024)
	sent := 0
	for range smallQueueExtra/len(small) + 10 {
		if err := w.send(hdr, small); err != nil {
			if err != errSendQueueFull {
				t.Fatalf("small frame: %v", err)
			}
			break
		}
		sent++
	}
	if sent == 0 {
		t.Fatal("no small frame was taken behind the large one")
	}
	if max := smallQueueExtra/(len(small)+len(hdr)) + 2; sent > max {
		t.Fatalf("%d small frames taken, bound %d", sent, max)
	}
}

// TestFrameWriter_settle: the flush goroutine yields while yields add
// frames to the batch (senders that were ready), stops at the first yield
// that adds nothing, and never yields more than settleYields times, so a
// steady stream of senders cannot hold a batch back.
func TestFrameWriter_settle(t *testing.T) {
	hdr, body := make([]byte, 8), make([]byte, 100)
	for _, tc := range []struct {
		name    string
		senders int // yields that each add a frame, from the first
		want    int // yields settle makes
	}{
		{"nobody ready", 0, 1},
		{"one ready", 1, 2},
		{"two ready", 2, 3},
		{"steady stream", 100, settleYields},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			w := newFrameWriter(a, time.Minute, func(int) {})
			yields := 0
			w.yield = func() {
				yields++
				if yields <= tc.senders {
					if err := w.send(hdr, body); err != nil {
						t.Errorf("send: %v", err)
					}
				}
			}
			w.mu.Lock()
			w.busy = true // as run is when it settles: sends only queue
			w.mu.Unlock()
			w.settle()
			if yields != tc.want {
				t.Errorf("settle yielded %d times, want %d", yields, tc.want)
			}
			w.mu.Lock()
			queued := len(w.buf)
			w.mu.Unlock()
			if want := min(tc.senders, tc.want) * (len(hdr) + len(body)); queued != want {
				t.Errorf("%d bytes queued for the batch, want %d", queued, want)
			}
		})
	}
}
