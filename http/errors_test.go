package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// TestErrorMapping sends backend errors through GET and PUT and checks the
// status and body classify gives them.
func TestErrorMapping(t *testing.T) {
	unavail := &quorum.UnavailableError{Op: "put", Want: 3, Got: 1, WantPrimary: 2, GotPrimary: 0,
		WantDurable: 1, GotDurable: 0, Reason: "timeout"}
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		error  string
		detail string // substring of the JSON body; "" checks nothing
	}{
		{"not found", fmt.Errorf("coordinator: %w", quorum.ErrNotFound), 404, "not found", ""},
		{"bad request", fmt.Errorf("%w: key longer than 64 KiB", quorum.ErrBadRequest), 400, "bad request", "key longer than 64 KiB"},
		{"bad quorum", fmt.Errorf("%w: pw 3 exceeds live primaries", quorum.ErrBadQuorum), 400, "bad quorum", "pw 3"},
		{"bad context", fmt.Errorf("%w: unsorted", versioning.ErrBadContext), 400, "bad context", "unsorted"},
		{"too large", fmt.Errorf("%w: 101 siblings", quorum.ErrTooLarge), 413, "too large", "101 siblings"},
		{"unavailable", fmt.Errorf("coordinator: %w", unavail), 503, "unavailable",
			`{"op":"put","want":3,"got":1,"want_primary":2,"got_primary":0,"want_durable":1,"got_durable":0,"reason":"timeout"}`},
		{"deadline", fmt.Errorf("replica n2: %w", context.DeadlineExceeded), 503, "timeout", ""},
		{"cancelled", context.Canceled, 503, "cancelled", ""},
		{"internal", errors.New("leveldb: corrupt block at /var/lib/secret"), 500, "internal error", `"request_id"`},
	} {
		for _, method := range []string{"GET", "PUT"} {
			t.Run(tc.name+" "+method, func(t *testing.T) {
				e := newEnv(t)
				e.f.set(func(f *fakeBackend) { f.failWith = tc.err })
				r := e.do(method, "/kv/b/k", []byte("v"))
				if r.code != tc.code {
					t.Fatalf("status = %d, want %d (%s)", r.code, tc.code, r.body)
				}
				if m := r.errorBody(t); m["error"] != tc.error {
					t.Errorf("error = %v, want %q", m["error"], tc.error)
				}
				if !contains(r.String(), tc.detail) {
					t.Errorf("body %s lacks %s", r.body, tc.detail)
				}
				if tc.code == 500 {
					if contains(r.String(), "secret") {
						t.Errorf("internal error text sent to the client: %s", r.body)
					}
					id := r.header.Get("Dynamod-Request-Id")
					if !contains(r.String(), id) || !contains(e.logs.String(), "secret") || !contains(e.logs.String(), id) {
						t.Errorf("request id %s / cause not logged: body %s", id, r.body)
					}
				}
			})
		}
	}
}

// TestTimeout lets the backend wait for the request's deadline.
func TestTimeout(t *testing.T) {
	e := newEnv(t)
	e.f.set(func(f *fakeBackend) { f.blockUntilDone = true })
	for _, path := range []string{"/kv/b/k?timeout=20", "/kv/b/k?timeout=1&r=one"} {
		r := e.do("GET", path, nil).want(t, 503)
		if m := r.errorBody(t); m["error"] != "timeout" {
			t.Errorf("GET %s body %s", path, r.body)
		}
	}
	r := e.do("PUT", "/kv/b/k?timeout=5", []byte("v")).want(t, 503)
	if m := r.errorBody(t); m["error"] != "timeout" {
		t.Errorf("PUT body %s", r.body)
	}
}

// TestRecover shows the recover middleware works, so that the check every
// other test makes (no panic recovered) is meaningful.
func TestRecover(t *testing.T) {
	for _, method := range []string{"Get", "BucketProps"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t)
			e.panicsOK = true
			e.f.set(func(f *fakeBackend) { f.panicIn = method })
			r := e.do("GET", "/kv/b/k", nil).want(t, 500)
			if m := r.errorBody(t); m["error"] != "internal error" {
				t.Errorf("body %s", r.body)
			}
			if n := metricValue(t, e.reg, "dynamod_http_panics_total", nil); n != 1 {
				t.Errorf("panics = %v, want 1", n)
			}
			if !contains(e.logs.String(), "handler panic") {
				t.Error("panic not logged")
			}
			if n := metricValue(t, e.reg, "dynamod_http_requests_total", map[string]string{"route": "kv_object", "code": "500"}); n != 1 {
				t.Errorf("requests{code=500} = %v, want 1", n)
			}
			e.f.set(func(f *fakeBackend) { f.panicIn = "" })
			e.do("GET", "/ping", nil).want(t, 200)
		})
	}
}

// nilBackend answers reads and writes with neither object nor error, which
// breaks the Backend contract; the handler must answer 500, not panic.
type nilBackend struct{ *fakeBackend }

func (nilBackend) Get(context.Context, string, string, quorum.ReadOptions) (*quorum.Object, error) {
	return nil, nil
}

func (nilBackend) Put(context.Context, string, string, versioning.Context, versioning.Value, quorum.WriteOptions) (*quorum.Object, error) {
	return nil, nil
}

func TestBrokenBackend(t *testing.T) {
	e := newEnv(t)
	h := NewHandler(nilBackend{e.f}, Config{})
	for _, path := range []string{"/kv/b/k", "/kv/b/k?returnbody=true"} {
		method := "GET"
		if strings.Contains(path, "returnbody") {
			method = "PUT"
		}
		if r := serve(h, mustRequest(t, method, path, "v")); r.code != 500 {
			t.Errorf("%s %s = %d %s, want 500", method, path, r.code, r.body)
		}
	}
	// Without returnbody the object is not needed.
	if r := serve(h, mustRequest(t, "PUT", "/kv/b/k", "v")); r.code != nethttp.StatusNoContent {
		t.Errorf("PUT = %d %s, want 204", r.code, r.body)
	}
}

func TestClassifyUnknownIsInternal(t *testing.T) {
	// A clientError around a non-sentinel still hides its text.
	status, body := classify(&clientError{err: errors.New("secret"), msg: "leak"}, "id1")
	if status != 500 || body.Error != "internal error" {
		t.Errorf("classify = %d %+v, want 500 internal error", status, body)
	}
}

// panickyLister panics after the stream has started.
type panickyLister struct{ *fakeBackend }

func (panickyLister) ListKeys(_ context.Context, _ string, fn func(string) error) error {
	for i := range streamBatch + 1 {
		if err := fn(fmt.Sprint("k", i)); err != nil {
			return err
		}
	}
	panic("lister bug")
}

// TestRecover_afterStatus: a panic after the status was sent aborts the
// connection, so the client cannot take the truncated listing as complete.
func TestRecover_afterStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(NewHandler(panickyLister{newFake()}, Config{Registry: reg}))
	defer srv.Close()
	req, _ := nethttp.NewRequestWithContext(t.Context(), "GET", srv.URL+"/kv/b?keys=stream", nil)
	res, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Error("truncated stream read without error")
	}
	if n := metricValue(t, reg, "dynamod_http_panics_total", nil); n != 1 {
		t.Errorf("panics = %v, want 1", n)
	}
}
