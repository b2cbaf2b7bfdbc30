package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The dashboard in Firefox (Debian's firefox-esr), driven over WebDriver
// BiDi, the protocol Firefox speaks natively. chromedp speaks only
// Chromium's, so this file carries a minimal BiDi client over a minimal
// RFC 6455 websocket: enough to navigate, evaluate script and collect the
// page's console errors.

// bidi is one WebDriver BiDi session over a websocket.
type bidi struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	mu   sync.Mutex // serializes calls
	id   int
	errs []string // error log entries the page produced
}

// dialBiDi opens the websocket at addr (path /session).
func dialBiDi(t *testing.T, addr string) (*bidi, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /session HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", addr, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("websocket handshake: %v %v", resp, err)
	}
	_ = c.SetDeadline(time.Time{})
	return &bidi{t: t, conn: c, br: br}, nil
}

// send writes one masked text frame (a client must mask).
func (b *bidi) send(msg []byte) error {
	h := []byte{0x81}
	switch n := len(msg); {
	case n < 126:
		h = append(h, 0x80|byte(n))
	case n < 1<<16:
		h = append(h, 0x80|126, byte(n>>8), byte(n))
	default:
		h = append(h, 0x80|127)
		h = bin.BigEndian.AppendUint64(h, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	h = append(h, mask[:]...)
	for i, c := range msg {
		h = append(h, c^mask[i%4])
	}
	_, err := b.conn.Write(h)
	return err
}

// recv reads one message (unmasked frames from the server, fragments
// joined; control frames other than close are skipped).
func (b *bidi) recv() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(b.br, h[:]); err != nil {
			return nil, err
		}
		n := uint64(h[1] & 0x7f)
		if n >= 126 {
			ext := make([]byte, 2+6*(n-126))
			if _, err := io.ReadFull(b.br, ext); err != nil {
				return nil, err
			}
			if n == 126 {
				n = uint64(bin.BigEndian.Uint16(ext))
			} else {
				n = bin.BigEndian.Uint64(ext)
			}
		}
		if n > 64<<20 {
			return nil, fmt.Errorf("websocket frame of %d bytes", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(b.br, p); err != nil {
			return nil, err
		}
		switch op := h[0] & 0x0f; op {
		case 0x8:
			return nil, io.EOF
		case 0x9, 0xa:
			continue // ping, pong
		}
		msg = append(msg, p...)
		if h[0]&0x80 != 0 {
			return msg, nil
		}
	}
}

// call sends a command and returns its result, keeping the error log
// entries of events read on the way.
func (b *bidi) call(method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.id++
	req, _ := json.Marshal(map[string]any{"id": b.id, "method": method, "params": params})
	_ = b.conn.SetDeadline(time.Now().Add(30 * time.Second))
	defer b.conn.SetDeadline(time.Time{})
	if err := b.send(req); err != nil {
		return nil, err
	}
	for {
		raw, err := b.recv()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		var m struct {
			ID      *int            `json:"id"`
			Type    string          `json:"type"`
			Method  string          `json:"method"`
			Params  json.RawMessage `json:"params"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		if m.Type == "event" && m.Method == "log.entryAdded" {
			var e struct {
				Level string `json:"level"`
				Text  string `json:"text"`
			}
			if json.Unmarshal(m.Params, &e) == nil && e.Level == "error" {
				b.errs = append(b.errs, e.Text)
			}
			continue
		}
		if m.ID == nil || *m.ID != b.id {
			continue
		}
		if m.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, m.Error, m.Message)
		}
		return m.Result, nil
	}
}

// eval evaluates a JavaScript expression in context ctx that yields a
// string.
func (b *bidi) eval(ctx, expr string) (string, error) {
	res, err := b.call("script.evaluate", map[string]any{
		"expression": expr, "target": map[string]any{"context": ctx}, "awaitPromise": false})
	if err != nil {
		return "", err
	}
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value any    `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return "", err
	}
	if r.Type == "exception" {
		return "", fmt.Errorf("script threw: %v", r.ExceptionDetails)
	}
	s, _ := r.Result.Value.(string)
	return s, nil
}

// TestUI_firefox: the dashboard of a 3-node cluster in Firefox lists
// every member alive, draws the ring and the request sparklines, marks a
// killed node dead, and logs no error.
func TestUI_firefox(t *testing.T) {
	needBinary(t)
	ff, err := exec.LookPath("firefox-esr")
	if err != nil {
		if ff, err = exec.LookPath("firefox"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("no firefox-esr in PATH: .ci/run installs it (apt-get install firefox-esr)")
			}
			t.Skip("no firefox-esr in PATH (apt-get install firefox-esr)")
		}
	}
	ps := startCluster(t, 3)
	port := freePorts(t, 1)[0]
	cmd := exec.Command(ff, "--headless", "--remote-debugging-port", fmt.Sprint(port),
		"--profile", t.TempDir(), "--no-remote", "about:blank")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var b *bidi
	deadline := time.Now().Add(60 * time.Second)
	for b == nil {
		if b, err = dialBiDi(t, fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("no WebDriver BiDi on port %d within 60 s: %v\n%s", port, err, stderr.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	defer b.conn.Close()
	if _, err := b.call("session.new", map[string]any{"capabilities": map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.call("session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}); err != nil {
		t.Fatal(err)
	}
	res, err := b.call("browsingContext.getTree", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(res, &tree); err != nil || len(tree.Contexts) == 0 {
		t.Fatalf("browsing contexts %s: %v", res, err)
	}
	ctx := tree.Contexts[0].Context
	if _, err := b.call("browsingContext.navigate", map[string]any{"context": ctx, "url": ps[0].url() + "/ui/", "wait": "complete"}); err != nil {
		t.Fatal(err)
	}
	wait := func(timeout time.Duration, expr string) {
		t.Helper()
		end := time.Now().Add(timeout)
		last := ""
		for time.Now().Before(end) {
			if last, err = b.eval(ctx, expr); err != nil {
				t.Fatal(err)
			}
			if last == "" {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("Firefox, not within %v: %s (errors logged: %q)", timeout, last, b.errs)
	}
	wait(15*time.Second, membersJS([]string{"n1", "n2", "n3"}, map[string]string{"n1": "alive", "n2": "alive", "n3": "alive"}))
	wait(10*time.Second, `(() => document.querySelectorAll('#ring path.arc[data-owner]').length > 0 &&
		document.querySelectorAll('#stats-card svg').length > 0 ? '' : 'no ring arcs or sparklines')()`)
	ps[2].kill()
	wait(30*time.Second, membersJS([]string{"n1", "n2", "n3"}, map[string]string{"n1": "alive", "n3": "dead"}))
	if len(b.errs) > 0 {
		t.Fatalf("the page logged errors in Firefox: %q", b.errs)
	}
}
