package transport

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// Fuzz targets for every decoder of peer input in this package. The frame
// decoder itself is FuzzFrameDecode (frame_test.go); these add the
// handshake and the two connection loops that act on what they decode:
//
//	go test ./transport/ -run '^$' -fuzz '^FuzzReadHello$' -fuzztime 10s
//	go test ./transport/ -run '^$' -fuzz '^FuzzServeConn$' -fuzztime 10s
//	go test ./transport/ -run '^$' -fuzz '^FuzzClientConn$' -fuzztime 10s

// FuzzReadHello: the handshake decoder never panics, and a hello it
// accepts has a name of 1 to 255 bytes and a usable frame limit.
func FuzzReadHello(f *testing.F) {
	f.Add(appendHello(nil, "node-1", 64<<20))
	f.Add(appendHello(nil, "n", MinFrame))
	f.Add(appendHello(nil, "n", 1<<31))
	f.Add(appendHello(nil, "", 1<<20))
	f.Add([]byte{0, 0, 0, 11, frameHello, 'd', 'y', 'n', 'm', protoVersion + 1, 0, 0, 16, 0, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		name, max, err := newTestReader(data, 1<<20).readHello()
		if err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, errBadFrame) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if len(name) < 1 || len(name) > maxNameLen {
			t.Fatalf("accepted a name of %d bytes", len(name))
		}
		if max < MinFrame || max > maxFrameLimit {
			t.Fatalf("accepted a frame limit of %d", max)
		}
	})
}

// fuzzFrames are streams a peer might send after its hello.
func fuzzFrames() [][]byte {
	req := func(id uint64, kind uint8, body string) []byte {
		h := requestHeader(id, kind, 1000, len(body))
		return append(h[:], body...)
	}
	resp := func(id uint64, status uint8, body string) []byte {
		h := responseHeader(id, status, len(body))
		return append(h[:], body...)
	}
	return [][]byte{
		req(1, 1, "hello"),
		bytes.Join([][]byte{req(1, 1, "a"), req(2, 66, "panic"), req(3, 99, "error"), req(2, 1, "")}, nil),
		resp(1, statusOK, "ok"),
		bytes.Join([][]byte{resp(2, statusError, "boom"), resp(1, statusTooLarge, "big"), resp(9, statusOK, "late")}, nil),
		{0xff, 0xff, 0xff, 0xff, frameRequest},
		req(5, 1, string(make([]byte, 3000))),
	}
}

// streamConn is a connection whose peer sends a fixed stream and then
// closes its sending side; what is written to it is thrown away.
// Deadlines are ignored: the stream never stalls.
type streamConn struct {
	r *bytes.Reader
}

func (c *streamConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *streamConn) Close() error                     { return nil }
func (c *streamConn) LocalAddr() net.Addr              { return fuzzAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return fuzzAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

type fuzzAddr struct{}

func (fuzzAddr) Network() string { return "fuzz" }
func (fuzzAddr) String() string  { return "fuzz" }

// FuzzServeConn feeds a hello and then arbitrary bytes to an accepted
// connection's loop, with a handler that panics on kind 66: it must never
// panic, must end at the end of the stream, and must give back every byte
// of its in-flight budget.
func FuzzServeConn(f *testing.F) {
	hello := appendHello(nil, "peer", 1<<20)
	for _, frames := range fuzzFrames() {
		f.Add(append(bytes.Clone(hello), frames...))
		f.Add(frames)
	}
	tr, err := Listen(Config{
		Name:            "srv",
		Logger:          slog.New(slog.DiscardHandler),
		MaxFrame:        8 << 10,
		MaxConnInflight: 4 << 10,
		MaxInflight:     6 << 10,
		ReadTimeout:     time.Second,
		DialTimeout:     time.Second,
		WriteTimeout:    time.Second,
	}, HandlerFunc(panicky))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { tr.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		nc := &streamConn{r: bytes.NewReader(data)}
		if !tr.track(nc) {
			t.Fatal("transport closed")
		}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			tr.serveConn(nc)
		}()
		recv(t, ended, 10*time.Second, "serveConn to end at the end of the stream")
		eventually(t, 10*time.Second, "the in-flight budget to drain", func() bool {
			return tr.inflight.drained()
		})
	})
}

// FuzzClientConn feeds arbitrary bytes to a dialed connection's response
// loop with calls 1 to 3 in flight: it must never panic, must end at the
// end of the stream, and must give each call exactly one result.
func FuzzClientConn(f *testing.F) {
	for _, frames := range fuzzFrames() {
		f.Add(frames)
	}
	tr, err := Listen(Config{Name: "a", Logger: slog.New(slog.DiscardHandler), MaxFrame: 8 << 10}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { tr.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		nc := &streamConn{r: bytes.NewReader(data)}
		if !tr.track(nc) {
			t.Fatal("transport closed")
		}
		c := &clientConn{
			t:       tr,
			peer:    "srv",
			nc:      nc,
			fr:      tr.newFrameReader(nc),
			maxSend: 8 << 10,
			done:    make(chan struct{}),
			pending: make(map[uint64]*call),
		}
		c.fr.cr.timeout = time.Second
		c.w = newFrameWriter(nc, time.Second, tr.countSent)
		calls := make([]*call, 3)
		for i := range calls {
			calls[i] = &call{ch: make(chan callResult, 1)}
			c.pending[uint64(i+1)] = calls[i]
		}
		tr.m.connsOut.Inc() // as dial does; fail takes it back
		go c.readLoop()
		recv(t, c.done, 10*time.Second, "the read loop to end at the end of the stream")
		for i, cl := range calls {
			recv(t, cl.ch, time.Second, "a result for each call")
			select {
			case r := <-cl.ch:
				t.Fatalf("call %d got a second result %+v", i+1, r)
			default:
			}
		}
	})
}
