package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Wire format, protocol version 1.
//
// Every frame is a 4-byte big-endian length n followed by n bytes: a type
// byte, the type's fixed fields (integers big-endian) and a body that runs to
// the end of the frame. n never exceeds the receiver's MaxFrame.
//
//	hello     type 1: magic u32 "dynm" | version u8 | maxFrame u32 | name (1..255 bytes)
//	request   type 2: id u64 | kind u8 | timeout u32 | body
//	response  type 3: id u64 | status u8 | body
//
// A connection starts with the dialer's hello naming the calling node; the
// acceptor answers with its own hello (always, even when it then refuses
// the version, so the dialer can report why). With TLS the hello's name
// must be the one the sender's certificate gives, or the acceptor closes
// the connection without answering. Each side then sends at most
// the smaller of the two maxFrame values. After that the dialer sends only
// requests and the acceptor only responses.
//
// A request's id is unique among the calls in flight on its connection; the
// response carries it back, in any order. timeout is the caller's time left
// in milliseconds, rounded up (relative, so clocks need not agree; 0 means
// none). status is 0 (ok: body is the handler's response), 1 (the handler
// failed: body is the error text) or 2 (the response exceeded the frame
// limit: body is a message). Any other frame, type, status or length is a
// protocol error: the receiver closes the connection.
//
// Request ids start at 1. A response with id 0 (status 0, no body) is a
// goaway: the acceptor closes a connection that has been idle (no request
// in flight) for its IdleTimeout, and tells the dialer that it answered
// every request it read and will read no more, so the dialer may send the
// requests still waiting for an answer again on a new connection. A
// dialer that does not know it takes it for the answer to a call that
// gave up and skips it.
const (
	protoVersion = 1
	helloMagic   = 0x64796e6d // "dynm"

	frameHello    = 1
	frameRequest  = 2
	frameResponse = 3

	statusOK       = 0
	statusError    = 1
	statusTooLarge = 2

	lenSize       = 4
	helloFixed    = 1 + 4 + 1 + 4 // after the length: type, magic, version, maxFrame
	requestFixed  = 1 + 8 + 1 + 4 // type, id, kind, timeout
	responseFixed = 1 + 8 + 1     // type, id, status

	requestHeaderLen  = lenSize + requestFixed
	responseHeaderLen = lenSize + responseFixed
)

// errBadFrame marks a protocol violation by the peer.
var errBadFrame = errors.New("transport: bad frame")

// errRefused marks an inbound connection refused for its TLS handshake or
// identity.
var errRefused = errors.New("transport: peer refused")

// errIdle: no frame began before connReader.idleUntil. Nothing of a frame
// has been read, so reading may go on.
var errIdle = errors.New("transport: no frame before the idle deadline")

// errGoAway: the peer closed the connection for idleness (a response with
// id 0). It had no request of ours in flight and reads none sent after it,
// so the calls still waiting on the connection were never served.
var errGoAway = errors.New("transport: the peer closed the idle connection")

func badFrame(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadFrame, fmt.Sprintf(format, args...))
}

// frameHeader is a decoded frame up to its body.
type frameHeader struct {
	typ     uint8
	bodyLen int

	id      uint64 // request, response
	kind    uint8  // request
	timeout uint32 // request, ms
	status  uint8  // response

	version  uint8  // hello
	maxFrame uint32 // hello
}

func requestHeader(id uint64, kind uint8, timeoutMs uint32, bodyLen int) [requestHeaderLen]byte {
	var h [requestHeaderLen]byte
	binary.BigEndian.PutUint32(h[0:], uint32(requestFixed+bodyLen))
	h[4] = frameRequest
	binary.BigEndian.PutUint64(h[5:], id)
	h[13] = kind
	binary.BigEndian.PutUint32(h[14:], timeoutMs)
	return h
}

func responseHeader(id uint64, status uint8, bodyLen int) [responseHeaderLen]byte {
	var h [responseHeaderLen]byte
	binary.BigEndian.PutUint32(h[0:], uint32(responseFixed+bodyLen))
	h[4] = frameResponse
	binary.BigEndian.PutUint64(h[5:], id)
	h[13] = status
	return h
}

func appendHello(dst []byte, name string, maxFrame int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(helloFixed+len(name)))
	dst = append(dst, frameHello)
	dst = binary.BigEndian.AppendUint32(dst, helloMagic)
	dst = append(dst, protoVersion)
	dst = binary.BigEndian.AppendUint32(dst, uint32(maxFrame))
	return append(dst, name...)
}

// frameReader decodes frames from a buffered stream. It checks every length
// against max before trusting it, and allocates a body as its bytes arrive
// (readBodyGrowing), so peer input can neither make it allocate much more
// than it sent nor panic.
type frameReader struct {
	r   *bufio.Reader
	max int         // largest frame length accepted
	cr  *connReader // the connection under r, for read deadlines; nil: none
}

// connReader is the reader under a connection's bufio.Reader. It counts the
// bytes read and, once timeout is set (after the handshake), puts a read
// deadline of timeout on every read inside a frame, so a frame whose bytes
// stop arriving fails with a timeout. The read that waits for the first
// byte of a frame (idle) has no deadline: a connection may rest between
// frames. Used by one goroutine at a time, like the bufio.Reader above it.
type connReader struct {
	nc        net.Conn
	c         prometheus.Counter
	timeout   time.Duration // 0: leave the deadline alone (handshake)
	until     time.Time     // if set, no read inside a frame waits past it
	idleUntil time.Time     // if set, a read waiting for a new frame fails with errIdle past it
	idle      bool          // the next read waits for a new frame
	armed     bool          // a read deadline is set on nc
}

// setUntil sets a time by which the current frame must have arrived
// (zero: none).
func (r *connReader) setUntil(t time.Time) { r.until = t }

func (r *connReader) Read(p []byte) (int, error) {
	late := false    // the deadline is until's
	waiting := false // the deadline is idleUntil's
	if r.timeout > 0 {
		if r.idle {
			switch {
			case !r.idleUntil.IsZero():
				if err := r.nc.SetReadDeadline(r.idleUntil); err != nil {
					return 0, err
				}
				r.armed, waiting = true, true
			case r.armed:
				if err := r.nc.SetReadDeadline(time.Time{}); err != nil {
					return 0, err
				}
				r.armed = false
			}
		} else {
			d := time.Now().Add(r.timeout)
			if !r.until.IsZero() && r.until.Before(d) {
				d, late = r.until, true
			}
			if err := r.nc.SetReadDeadline(d); err != nil {
				return 0, err
			}
			r.armed = true
		}
	}
	if r.idle && r.timeout > 0 {
		// Waiting for a new frame with nothing buffered: let the
		// goroutines that are ready run first (their calls' frames, and
		// those of the other connections, are being written meanwhile),
		// so that one read takes what arrived in the meantime instead of
		// finding the socket empty (EAGAIN, a park in the poller and a
		// second read). The read side of frameWriter's yield: about 3 %
		// less CPU per cluster operation (docs/benchmarks.md).
		runtime.Gosched()
	}
	n, err := r.nc.Read(p)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		switch {
		case late:
			err = fmt.Errorf("transport: the frame leading the in-flight budget was not read in full within ReadTimeout of its promotion: %w", err)
		case waiting && n == 0:
			err = fmt.Errorf("%w: %w", errIdle, err)
		}
	}
	if n > 0 {
		r.idle = false // the frame has begun: its other bytes are on the clock
		r.c.Add(float64(n))
	}
	return n, err
}

// readHeader reads the next frame's length, type and fixed fields. The
// caller must then consume exactly bodyLen bytes with readBody or discard.
// A clean end of stream between frames is io.EOF; a stream that ends inside
// a frame is io.ErrUnexpectedEOF; a malformed frame is errBadFrame.
func (fr *frameReader) readHeader() (frameHeader, error) {
	var h frameHeader
	if fr.cr != nil && fr.r.Buffered() == 0 {
		fr.cr.idle = true
	}
	p, err := fr.r.Peek(lenSize + 1)
	if err != nil {
		if err == io.EOF && len(p) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return h, err
	}
	n := binary.BigEndian.Uint32(p)
	h.typ = p[lenSize]
	if uint64(n) > uint64(fr.max) {
		return h, badFrame("frame of %d bytes over the limit of %d", n, fr.max)
	}
	var fixed int
	switch h.typ {
	case frameHello:
		fixed = helloFixed
	case frameRequest:
		fixed = requestFixed
	case frameResponse:
		fixed = responseFixed
	default:
		return h, badFrame("unknown frame type %d", h.typ)
	}
	if int(n) < fixed {
		return h, badFrame("frame type %d of %d bytes, want at least %d", h.typ, n, fixed)
	}
	p, err = fr.r.Peek(lenSize + fixed)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, err
	}
	f := p[lenSize+1:]
	switch h.typ {
	case frameHello:
		if m := binary.BigEndian.Uint32(f); m != helloMagic {
			return h, badFrame("bad magic %#x", m)
		}
		h.version = f[4]
		h.maxFrame = binary.BigEndian.Uint32(f[5:])
	case frameRequest:
		h.id = binary.BigEndian.Uint64(f)
		h.kind = f[8]
		h.timeout = binary.BigEndian.Uint32(f[9:])
	case frameResponse:
		h.id = binary.BigEndian.Uint64(f)
		h.status = f[8]
		if h.status > statusTooLarge {
			return h, badFrame("unknown status %d", h.status)
		}
	}
	h.bodyLen = int(n) - fixed
	if h.typ == frameHello && (h.bodyLen < 1 || h.bodyLen > maxNameLen) {
		return h, badFrame("hello name of %d bytes", h.bodyLen)
	}
	if _, err := fr.r.Discard(lenSize + fixed); err != nil {
		return h, err
	}
	return h, nil
}

// readBody fills dst, which must be bodyLen bytes, with the frame's body.
func (fr *frameReader) readBody(dst []byte) error {
	_, err := io.ReadFull(fr.r, dst)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// growChunk is the largest body allocated before its bytes arrive; a longer
// body starts in a buffer of this size that doubles each time it fills up.
const growChunk = 64 << 10

// readBodyGrowing reads a body of n bytes into a buffer from get and
// returns it; the caller owns it. The buffer grows as the bytes arrive, so
// a peer that announces a large frame and stalls costs at most growChunk
// bytes, and one that sends part of a frame about three times what it sent.
// Buffers outgrown are handed to put (nil: dropped). n must be at most the
// frame limit checked by readHeader.
func (fr *frameReader) readBodyGrowing(n int, get func(int) *[]byte, put func(*[]byte)) (*[]byte, error) {
	b := get(min(n, growChunk))
	got := 0
	// Each round fills b and then doubles it: at most log2(n/growChunk)+1
	// rounds.
	for {
		m, err := io.ReadFull(fr.r, (*b)[got:])
		got += m
		if err != nil {
			if put != nil {
				put(b)
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if got == n {
			return b, nil
		}
		nb := get(min(2*len(*b), n))
		copy(*nb, (*b)[:got])
		if put != nil {
			put(b)
		}
		b = nb
	}
}

// discard skips a body of n bytes.
func (fr *frameReader) discard(n int) error {
	_, err := fr.r.Discard(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// readHello reads and checks the handshake frame: the peer's name and frame
// limit. A version mismatch is reported after the hello has been read.
func (fr *frameReader) readHello() (name string, maxFrame int, err error) {
	h, err := fr.readHeader()
	if err != nil {
		return "", 0, err
	}
	if h.typ != frameHello {
		return "", 0, badFrame("want hello, got frame type %d", h.typ)
	}
	b := make([]byte, h.bodyLen)
	if err := fr.readBody(b); err != nil {
		return "", 0, err
	}
	if h.version != protoVersion {
		return string(b), 0, badFrame("peer %q speaks protocol version %d, want %d", b, h.version, protoVersion)
	}
	if h.maxFrame < MinFrame {
		return string(b), 0, badFrame("peer %q frame limit %d below %d", b, h.maxFrame, MinFrame)
	}
	return string(b), int(min(h.maxFrame, maxFrameLimit)), nil
}
