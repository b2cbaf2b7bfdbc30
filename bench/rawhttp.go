package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/dynamod/dynamod/client"
)

// rawConn is one worker's keep-alive HTTP/1.1 connection to its target.
// It writes a request built in a reused buffer and reads the status, the
// few headers the load needs and the body into a reused buffer: the load
// generator shares the machine's cores with the nodes it measures, and
// net/http's client (header maps, a goroutine pair per connection) costs
// about twice as much per request. Any error, or an answer that ends the
// connection, closes it; the next request dials again. Not safe for
// concurrent use.
type rawConn struct {
	addr    string      // host:port to dial
	host    string      // Host header
	tls     *tls.Config // nil for http://
	timeout time.Duration

	nc   net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	req  []byte // request head scratch
	body []byte // response body scratch
}

// rawResponse is what the load reads of an answer. body is valid until the
// next request on the connection.
type rawResponse struct {
	status int
	vctx   string // the Dynamod-Context header
	body   []byte
}

// newRawConn returns a connection to the base URL target (dialed lazily)
// and the path prefix of the target.
func newRawConn(target string, tlsCfg *tls.Config, timeout time.Duration) (*rawConn, string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, "", err
	}
	c := &rawConn{host: u.Host, timeout: timeout}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		c.tls = &tls.Config{}
		if tlsCfg != nil {
			c.tls = tlsCfg.Clone()
		}
		if c.tls.ServerName == "" {
			c.tls.ServerName = u.Hostname()
		}
	default:
		return nil, "", fmt.Errorf("bench: target %q: scheme must be http or https", target)
	}
	c.addr = net.JoinHostPort(u.Hostname(), port)
	return c, u.EscapedPath(), nil
}

func (c *rawConn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// errConnClosed reports an answer that ended the connection early.
var errConnClosed = errors.New("bench: connection closed by the server")

// do sends one request: method, the escaped request target (path and
// query), the headers as "Name: value" lines (each ending in \r\n), and
// the body (nil for none). ctx bounds it with the connection's timeout.
func (c *rawConn) do(ctx context.Context, method, target string, headers []string, body []byte) (rawResponse, error) {
	if ended(ctx) {
		return rawResponse{}, context.DeadlineExceeded
	}
	if c.nc == nil {
		if err := c.dial(ctx); err != nil {
			return rawResponse{}, err
		}
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		c.close()
		return rawResponse{}, err
	}
	// A run that ends mid-request cuts it short instead of waiting for
	// the timeout.
	nc := c.nc
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	resp, err := c.roundTrip(method, target, headers, body)
	if !stop() {
		// ctx ended: the connection's deadline is spoiled. An answer read
		// in full is still one.
		c.close()
		if err != nil {
			return rawResponse{}, ctx.Err()
		}
		return resp, nil
	}
	if err != nil {
		c.close()
		if ended(ctx) {
			// The connection's deadline is ctx's: it can pass before
			// ctx's own timer says so.
			return rawResponse{}, context.DeadlineExceeded
		}
		return rawResponse{}, err
	}
	return resp, nil
}

func (c *rawConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: c.timeout}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		hctx, cancel := context.WithTimeout(ctx, c.timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
	c.nc = nc
	c.br = bufio.NewReaderSize(nc, 16<<10)
	c.bw = bufio.NewWriterSize(nc, 16<<10)
	return nil
}

func (c *rawConn) roundTrip(method, target string, headers []string, body []byte) (rawResponse, error) {
	b := append(c.req[:0], method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	b = append(b, "\r\n"...)
	for _, h := range headers {
		b = append(b, h...)
	}
	if body != nil {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	c.req = b
	if _, err := c.bw.Write(b); err != nil {
		return rawResponse{}, err
	}
	if _, err := c.bw.Write(body); err != nil {
		return rawResponse{}, err
	}
	if err := c.bw.Flush(); err != nil {
		return rawResponse{}, err
	}
	return c.readResponse(method)
}

// maxBodyBytes bounds an answer's body: a load generator reads values it
// wrote (and sibling documents of a few of them).
const maxBodyBytes = 256 << 20

func (c *rawConn) readResponse(method string) (rawResponse, error) {
	line, err := c.line()
	if err != nil {
		return rawResponse{}, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return rawResponse{}, fmt.Errorf("bench: malformed status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return rawResponse{}, fmt.Errorf("bench: malformed status line %q", line)
	}
	var resp rawResponse
	resp.status = status
	length, chunked, closing := int64(-1), false, false
	for {
		line, err := c.line()
		if err != nil {
			return rawResponse{}, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return rawResponse{}, fmt.Errorf("bench: malformed header %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case equalFold(name, "Content-Length"):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 || length > maxBodyBytes {
				return rawResponse{}, fmt.Errorf("bench: bad Content-Length %q", value)
			}
		case equalFold(name, "Transfer-Encoding"):
			chunked = equalFold(value, "chunked")
		case equalFold(name, "Connection"):
			closing = equalFold(value, "close")
		case equalFold(name, client.ContextHeader):
			resp.vctx = string(value)
		}
	}
	body := c.body[:0]
	switch {
	case method == "HEAD" || status == 204 || status == 304 || status/100 == 1:
	case chunked:
		body, err = c.chunked(body)
	case length >= 0:
		body, err = c.readN(body, int(length))
	default:
		// No length: the body runs to the end of the connection.
		body, err = c.readAll(body)
		closing = true
	}
	c.body = body
	if err != nil {
		return rawResponse{}, err
	}
	resp.body = body
	if closing {
		c.close()
	}
	return resp, nil
}

// line reads one header line without its CRLF.
func (c *rawConn) line() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("bench: header line too long")
		}
		if errors.Is(err, io.EOF) {
			return nil, errConnClosed
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func (c *rawConn) readN(b []byte, n int) ([]byte, error) {
	if len(b)+n > maxBodyBytes {
		return b, errors.New("bench: body too large")
	}
	start := len(b)
	b = append(b, make([]byte, n)...)
	if _, err := io.ReadFull(c.br, b[start:]); err != nil {
		return b[:start], err
	}
	return b, nil
}

func (c *rawConn) chunked(b []byte) ([]byte, error) {
	for {
		line, err := c.line()
		if err != nil {
			return b, err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 || n > maxBodyBytes {
			return b, fmt.Errorf("bench: bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, then the blank line
				line, err := c.line()
				if err != nil || len(line) == 0 {
					return b, err
				}
			}
		}
		if b, err = c.readN(b, int(n)); err != nil {
			return b, err
		}
		if line, err := c.line(); err != nil || len(line) != 0 {
			return b, fmt.Errorf("bench: chunk not followed by CRLF: %v", err)
		}
	}
}

func (c *rawConn) readAll(b []byte) ([]byte, error) {
	rest, err := io.ReadAll(io.LimitReader(c.br, maxBodyBytes+1))
	if len(rest) > maxBodyBytes {
		return b, errors.New("bench: body too large")
	}
	return append(b, rest...), err
}

// equalFold compares a header name or value with s, ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// ended reports whether ctx is done or its deadline has passed (a
// connection deadline set from it can expire before ctx's timer fires).
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
