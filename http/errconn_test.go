package http

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"
)

// Tests of JSONErrors: the requests net/http refuses itself get JSON
// errors, against the real server over raw TCP (and TLS), as dynamod
// serve runs it.

// startRealServer serves NewHandler on 127.0.0.1 as dynamod serve does:
// LimitListener, then TLS when tc is set, then JSONErrors. It returns the
// address.
func startRealServer(t *testing.T, cfg Config, tc *tls.Config) string {
	t.Helper()
	srv := NewServer(NewHandler(newFake(), cfg), cfg)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, cfg)
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	go func() { _ = srv.Serve(JSONErrors(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return inner.Addr().String()
}

// rawExchange writes req on c (from a goroutine: the server may answer
// before it has read all of it) and reads one response.
func rawExchange(t *testing.T, c net.Conn, req string) (*nethttp.Response, []byte) {
	t.Helper()
	go func() {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, req)
	}()
	return readResponse(t, c, bufio.NewReader(c), 5*time.Second)
}

// wantJSONError checks an error answer: status, JSON headers, and a body
// {"error": wantErr, "detail": ...} whose detail contains wantDetail.
func wantJSONError(t *testing.T, res *nethttp.Response, body []byte, status int, wantErr, wantDetail string) {
	t.Helper()
	if res.StatusCode != status {
		t.Errorf("status %d, want %d (body %q)", res.StatusCode, status, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json (body %q)", ct, body)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("no X-Content-Type-Options: nosniff")
	}
	var eb struct {
		Error  string          `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("body %q is not a JSON error: %v", body, err)
	}
	if eb.Error != wantErr || !strings.Contains(string(eb.Detail), wantDetail) {
		t.Errorf("error %q detail %s, want %q with %q", eb.Error, eb.Detail, wantErr, wantDetail)
	}
}

// netHTTPCases are requests net/http answers itself.
var netHTTPCases = []struct {
	name, req        string
	status           int
	wantErr, wantDet string
}{
	{"oversized header", "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 200<<10) + "\r\n\r\n",
		431, "header too large", `"max_bytes":131072`},
	{"malformed request line", "GARBAGE\r\n\r\n", 400, "bad request", "malformed"},
	{"malformed header line", "GET /ping HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400, "bad request", "malformed"},
	{"bad header name", "GET /ping HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n", 400, "bad header", "invalid header name"},
	{"no Host", "GET /ping HTTP/1.1\r\n\r\n", 400, "bad request", "missing required Host header"},
	{"bad Host", "GET /ping HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad request", "malformed Host header"},
	{"unknown transfer encoding", "PUT /kv/b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		501, "not implemented", "unsupported transfer encoding"},
	{"HTTP/3.0", "GET /ping HTTP/3.0\r\nHost: x\r\n\r\n", 505, "http version not supported", "unsupported protocol version"},
	{"Expect other than 100-continue", "GET /ping HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n",
		417, "expectation failed", "100-continue"},
}

// TestJSONErrors_netHTTPAnswers: each request net/http refuses before any
// handler runs is answered with its status and a JSON error body, and
// the connection closes; the API's own answers are unchanged.
func TestJSONErrors_netHTTPAnswers(t *testing.T) {
	addr := startRealServer(t, DefaultConfig(), nil)
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	for _, tc := range netHTTPCases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial()
			res, body := rawExchange(t, c, tc.req)
			wantJSONError(t, res, body, tc.status, tc.wantErr, tc.wantDet)
			if !res.Close {
				t.Error("answer without Connection: close")
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Errorf("after the answer: %d bytes, %v; want the connection closed", n, err)
			}
		})
	}
	t.Run("API answers unchanged", func(t *testing.T) {
		c := dial()
		br := bufio.NewReader(c)
		if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /nosuch HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if res, _ := readResponse(t, c, br, 5*time.Second); res.StatusCode != 200 || res.Close {
			t.Errorf("ping: %d, close %v", res.StatusCode, res.Close)
		}
		res, body := readResponse(t, c, br, 5*time.Second)
		wantJSONError(t, res, body, 404, "not found", "")
		if res.Header.Get("Dynamod-Request-Id") == "" {
			t.Error("the API's 404 lost its request id: it was rewritten")
		}
	})
}

// TestJSONErrors_recognisesOnlyNetHTTP: the rewrite applies to net/http's
// answers byte for byte, and to nothing that merely resembles them.
func TestJSONErrors_recognisesOnlyNetHTTP(t *testing.T) {
	const text = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	for _, tc := range []struct {
		name, write string
		rewritten   bool
	}{
		{"431", "HTTP/1.1 431 Request Header Fields Too Large" + text + "431 Request Header Fields Too Large", true},
		{"400", "HTTP/1.1 400 Bad Request" + text + "400 Bad Request", true},
		{"400 with reason", "HTTP/1.1 400 Bad Request: invalid header value" + text + "400 Bad Request: invalid header value", true},
		{"501", "HTTP/1.1 501 Not Implemented" + text + "Unsupported transfer encoding", true},
		{"417", "HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sat, 05 Dec 2026 01:35:42 GMT\r\nContent-Length: 0\r\n\r\n", true},
		{"body differs", "HTTP/1.1 400 Bad Request" + text + "400 Bad Request!", false},
		{"reason differs", "HTTP/1.1 400 Bad Request: x" + text + "400 Bad Request: y", false},
		{"status text differs", "HTTP/1.1 400 Bad Thing" + text + "400 Bad Thing", false},
		{"2xx", "HTTP/1.1 200 OK" + text + "200 OK", false},
		{"other headers", "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n400 Bad Request", false},
		{"the API's JSON 400", "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"error\":\"bad request\"}\n", false},
		{"a value that quotes an answer", "HTTP/1.1 200 OK\r\nContent-Length: 95\r\n\r\nHTTP/1.1 400 Bad Request" + text + "400 Bad Request", false},
		{"417 with a body", "HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sat, 05 Dec 2026 01:35:42 GMT\r\nContent-Length: 2\r\n\r\nno", false},
		{"long", "HTTP/1.1 400 Bad Request: " + strings.Repeat("x", 600) + text + "400 Bad Request: " + strings.Repeat("x", 600), false},
	} {
		out, ok := jsonAnswer([]byte(tc.write))
		if ok != tc.rewritten {
			t.Errorf("%s: rewritten %v, want %v", tc.name, ok, tc.rewritten)
			continue
		}
		if !ok {
			continue
		}
		res, err := nethttp.ReadResponse(bufio.NewReader(strings.NewReader(string(out))), nil)
		if err != nil {
			t.Errorf("%s: the JSON answer does not parse: %v", tc.name, err)
			continue
		}
		body, _ := io.ReadAll(res.Body)
		if res.Header.Get("Content-Type") != "application/json" || !json.Valid(body) || !res.Close {
			t.Errorf("%s: answer %q", tc.name, out)
		}
	}
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate.
type testPKI struct {
	pool           *x509.CertPool
	server, client tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	p := testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = leaf(2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.client = leaf(3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

// TestJSONErrors_TLS: above TLS, net/http's answers are JSON too, a plain
// HTTP request to the TLS port gets a JSON 400, and requests keep their
// TLS state, so a required client certificate is still seen.
func TestJSONErrors_TLS(t *testing.T) {
	p := newTestPKI(t)
	cfg := DefaultConfig()
	cfg.RequireClientCert = true
	addr := startRealServer(t, cfg, &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    p.pool,
		NextProtos:   []string{"http/1.1"},
	})
	dialTLS := func(withCert bool) net.Conn {
		tc := &tls.Config{RootCAs: p.pool}
		if withCert {
			tc.Certificates = []tls.Certificate{p.client}
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	t.Run("oversized header", func(t *testing.T) {
		res, body := rawExchange(t, dialTLS(true), netHTTPCases[0].req)
		wantJSONError(t, res, body, 431, "header too large", "max_bytes")
	})
	t.Run("no Host", func(t *testing.T) {
		res, body := rawExchange(t, dialTLS(true), "GET /ping HTTP/1.1\r\n\r\n")
		wantJSONError(t, res, body, 400, "bad request", "missing required Host header")
	})
	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		res, body := rawExchange(t, c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
		wantJSONError(t, res, body, 400, "bad request", "plain HTTP sent to an HTTPS port")
	})
	t.Run("client certificate seen", func(t *testing.T) {
		res, body := rawExchange(t, dialTLS(true), "GET /kv/b/k HTTP/1.1\r\nHost: x\r\n\r\n")
		if res.StatusCode != 404 {
			t.Errorf("GET with a client certificate: %d %s, want 404 (no such key)", res.StatusCode, body)
		}
		res, body = rawExchange(t, dialTLS(false), "GET /kv/b/k HTTP/1.1\r\nHost: x\r\n\r\n")
		wantJSONError(t, res, body, 401, "unauthorized", "client certificate")
	})
}
