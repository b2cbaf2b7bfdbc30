package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// JSONErrors returns ln with net/http's own error answers made JSON.
//
// net/http answers some bad requests itself, before any handler runs, in
// plain text: 431 for a request line and header over MaxHeaderBytes; 400
// for a malformed request line or header, with a reason in the status
// line for some ("missing required Host header", "malformed Host header",
// "invalid header name", "invalid header value"); 501 for an unknown
// Transfer-Encoding; 505 for an unsupported protocol version; 417 for an
// Expect other than 100-continue. Each is written in one piece, in a form
// none of this package's handlers writes (a text/plain body with
// Connection: close; the 417 with an empty body). The connections of the
// returned listener recognise exactly these writes and put in their place
// the same status with the JSON body of the package's other errors
// ({"error": ..., "detail": ...}) and Connection: close; net/http closes
// the connection after them, so the different length changes nothing
// else. Every other write passes through unchanged.
//
// Wrap the listener last, above TLS (tls.NewListener), so that the
// answers are seen before they are encrypted. net/http then sees these
// connections instead of a *tls.Conn: the server of [NewServer] gives
// requests their TLS state back (r.TLS), and a plain HTTP request sent to
// a TLS listener, which net/http would answer "400 Bad Request" in plain
// text, is answered here with a JSON 400.
func JSONErrors(ln net.Listener) net.Listener {
	return &errListener{Listener: ln}
}

type errListener struct {
	net.Listener
}

func (l *errListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ec := &errConn{Conn: c}
	ec.tls, _ = c.(*tls.Conn)
	return ec, nil
}

// errConn is a connection of JSONErrors.
type errConn struct {
	net.Conn
	tls *tls.Conn // Conn when it is TLS, for the requests' TLS state
	// done is set once the connection was answered here (plain HTTP to a
	// TLS listener): later writes are dropped.
	done atomic.Bool
}

func (c *errConn) Write(p []byte) (int, error) {
	if c.done.Load() {
		return 0, net.ErrClosed
	}
	if out, ok := jsonAnswer(p); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// Read answers a plain HTTP request to a TLS listener, whose bytes fail
// the TLS handshake, with a JSON 400 on the connection beneath TLS, as
// net/http answers it in text when it sees the *tls.Conn itself.
func (c *errConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.tls != nil {
		c.answerPlainHTTP(err)
	}
	return n, err
}

// answerPlainHTTP answers the plain HTTP request behind err, if it is
// one. Apart from Read, so that the error it looks for is allocated only
// when a read fails (errors.As takes its address: declared in Read, it
// cost an allocation per read).
func (c *errConn) answerPlainHTTP(err error) {
	var re tls.RecordHeaderError
	if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) &&
		c.done.CompareAndSwap(false, true) {
		_, _ = re.Conn.Write(answer("HTTP/1.0", nethttp.StatusBadRequest, errorBody{Error: "bad request",
			Detail: "plain HTTP sent to an HTTPS port"}))
		_ = re.Conn.Close()
	}
}

// CloseWrite half-closes the connection when the inner one can, as
// net/http does after a 431, so that the client reads the answer.
func (c *errConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// looksLikeHTTP reports whether the first five bytes of a connection that
// failed the TLS handshake start an HTTP request of a method the API uses.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "DELET", "OPTIO", "PATCH":
		return true
	}
	return false
}

// The forms of net/http's own answers (net/http's server.go, conn.serve
// and response.sendExpectationFailed).
const (
	goProto       = "HTTP/1.1 "
	goTextHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	// go417 is followed by a Date of len(nethttp.TimeFormat) bytes and
	// go417End.
	go417    = "HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: "
	go417End = "\r\nContent-Length: 0\r\n\r\n"
	// maxGoAnswer bounds the length of net/http's text answers, so that
	// other writes are told apart by their length alone.
	maxGoAnswer = 512
)

// jsonAnswer returns the JSON answer that replaces p when p is one of
// net/http's text answers.
func jsonAnswer(p []byte) ([]byte, bool) {
	if len(p) > maxGoAnswer || !bytes.HasPrefix(p, []byte(goProto)) {
		return nil, false
	}
	if len(p) == len(go417)+len(nethttp.TimeFormat)+len(go417End) &&
		bytes.HasPrefix(p, []byte(go417)) && bytes.HasSuffix(p, []byte(go417End)) {
		return answer("HTTP/1.1", nethttp.StatusExpectationFailed, errorBody{Error: "expectation failed",
			Detail: "Expect is supported only as 100-continue"}), true
	}
	// "HTTP/1.1 " line goTextHeaders body, where line is
	// "<code> <status text>" or "<code> <status text>: <reason>" and the
	// body repeats it (or, for 501, names the transfer encoding).
	line, body, ok := bytes.Cut(p[len(goProto):], []byte(goTextHeaders))
	if !ok || len(line) < 4 || line[3] != ' ' {
		return nil, false
	}
	code, err := strconv.Atoi(string(line[:3]))
	if err != nil || code < 400 || code > 599 {
		return nil, false
	}
	rest, ok := strings.CutPrefix(string(line[4:]), nethttp.StatusText(code))
	if !ok || rest != "" && !strings.HasPrefix(rest, ": ") {
		return nil, false
	}
	reason := strings.TrimPrefix(rest, ": ")
	switch {
	case code == nethttp.StatusNotImplemented && reason == "" && string(body) == "Unsupported transfer encoding":
		reason = "unsupported transfer encoding"
	case !bytes.Equal(body, line):
		return nil, false
	}
	return answer("HTTP/1.1", code, goErrorBody(code, reason)), true
}

// goErrorBody is the JSON body for net/http's answer with status code and
// reason (from its status line; may be empty).
func goErrorBody(code int, reason string) errorBody {
	switch code {
	case nethttp.StatusRequestHeaderFieldsTooLarge:
		return errorBody{Error: "header too large", Detail: map[string]int{"max_bytes": MaxHeaderBytes}}
	case nethttp.StatusBadRequest:
		switch reason {
		case "":
			return errorBody{Error: "bad request", Detail: "malformed request line or header"}
		case "invalid header name", "invalid header value":
			return errorBody{Error: "bad header", Detail: reason}
		}
		return errorBody{Error: "bad request", Detail: reason}
	}
	b := errorBody{Error: strings.ToLower(nethttp.StatusText(code))}
	if reason != "" {
		b.Detail = reason
	}
	return b
}

// answer is a complete response with a JSON error body, after which the
// connection closes; proto is "HTTP/1.1" or "HTTP/1.0".
func answer(proto string, code int, body errorBody) []byte {
	js, _ := json.Marshal(body) // of strings and ints: cannot fail
	js = append(js, '\n')
	return fmt.Appendf(nil, "%s %d %s\r\n"+
		"Content-Type: application/json\r\n"+
		"X-Content-Type-Options: nosniff\r\n"+
		"Cache-Control: no-store\r\n"+
		"Connection: close\r\n"+
		"Content-Length: %d\r\n\r\n%s", proto, code, nethttp.StatusText(code), len(js), js)
}

// tlsConnKey keys the *tls.Conn of a JSONErrors connection in the
// contexts of its requests.
type tlsConnKey struct{}

// connContext is NewServer's ConnContext: it keeps the TLS connection
// under a JSONErrors connection, which net/http does not see as TLS.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if ec, ok := c.(*errConn); ok && ec.tls != nil {
		return context.WithValue(ctx, tlsConnKey{}, ec.tls)
	}
	return ctx
}

// withTLSState gives requests over a JSONErrors connection on TLS their
// TLS state (r.TLS), which net/http sets only for a *tls.Conn. The
// handshake is complete: the request was read through it.
func withTLSState(h nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if tc, ok := r.Context().Value(tlsConnKey{}).(*tls.Conn); ok && r.TLS == nil {
			st := tc.ConnectionState()
			r = r.WithContext(r.Context())
			r.TLS = &st
		}
		h.ServeHTTP(w, r)
	})
}
