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
