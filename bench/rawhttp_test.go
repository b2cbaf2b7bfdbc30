package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
)

// TestRawConn: the load's HTTP/1.1 client reads every framing a server may
// answer with, keeps its connection alive across requests, and dials again
// after a server closes it.
func TestRawConn(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/plain":
			w.Header().Set(client.ContextHeader, "ctx-1")
			fmt.Fprint(w, "hello")
		case "/chunked":
			w.Header().Set(client.ContextHeader, "ctx-2")
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
		case "/close":
			w.Header().Set("Connection", "close")
			fmt.Fprint(w, "bye")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/echo":
			fmt.Fprintf(w, "%s %s %s", r.Method, r.Header.Get("X-Test"), r.Header.Get("Content-Length"))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, prefix, err := newRawConn(srv.URL, nil, 5*time.Second)
	if err != nil || prefix != "" {
		t.Fatalf("newRawConn: %q %v", prefix, err)
	}
	defer c.close()
	ctx := t.Context()
	for _, tc := range []struct {
		method, path string
		headers      []string
		body         []byte
		status       int
		vctx, want   string
	}{
		{"GET", "/plain", nil, nil, 200, "ctx-1", "hello"},
		{"GET", "/chunked", nil, nil, 200, "ctx-2", "part0;part1;part2;"},
		{"PUT", "/empty", nil, []byte("x"), 204, "", ""},
		{"PUT", "/echo", []string{"X-Test: yes\r\n"}, []byte("12345"), 200, "", "PUT yes 5"},
		{"GET", "/close", nil, nil, 200, "", "bye"},
		{"GET", "/plain", nil, nil, 200, "ctx-1", "hello"},
		{"GET", "/missing", nil, nil, 200, "", ""},
	} {
		resp, err := c.do(ctx, tc.method, tc.path, tc.headers, tc.body)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if resp.status != tc.status || resp.vctx != tc.vctx || string(resp.body) != tc.want {
			t.Errorf("%s %s: %d %q %q, want %d %q %q", tc.method, tc.path, resp.status, resp.vctx, resp.body, tc.status, tc.vctx, tc.want)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections for 7 requests with one Connection: close, want 2", n)
	}
}

// TestRawConn_bodyToEOF: an answer without a length runs to the end of the
// connection.
func TestRawConn_bodyToEOF(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		buf := make([]byte, 4096)
		_, _ = nc.Read(buf)
		fmt.Fprint(nc, "HTTP/1.1 200 OK\r\ndynamod-context: c\r\n\r\nto the end")
	}()
	c, _, err := newRawConn("http://"+ln.Addr().String(), nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.do(t.Context(), "GET", "/x", nil, nil)
	if err != nil || resp.status != 200 || string(resp.body) != "to the end" || resp.vctx != "c" {
		t.Fatalf("got %d %q %q, %v", resp.status, resp.body, resp.vctx, err)
	}
	if c.nc != nil {
		t.Error("connection kept after a body that ran to its end")
	}
}

// TestRawConn_tlsAndCancel: https targets verify the server with the run's
// TLS config, and a canceled run cuts a request short instead of waiting
// for the timeout.
func TestRawConn_tlsAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	defer close(release)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, _, err := newRawConn(srv.URL, &tls.Config{RootCAs: pool}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if resp, err := c.do(t.Context(), "GET", "/", nil, nil); err != nil || string(resp.body) != "ok" {
		t.Fatalf("https: %q %v", resp.body, err)
	}
	untrusted, _, _ := newRawConn(srv.URL, nil, time.Minute)
	if _, err := untrusted.do(t.Context(), "GET", "/", nil, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("https without the CA: %v, want a certificate error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.do(ctx, "GET", "/slow", nil, nil); err == nil {
		t.Fatal("a canceled request succeeded")
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("a canceled request took %v with a one-minute timeout", time.Since(start))
	}
}
