package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/client/clienttest"
)

// fastBackoff keeps retries quick in tests.
var fastBackoff = client.WithBackoff(time.Millisecond, 4*time.Millisecond)

// startFake serves a fresh fake through h (nil: the fake itself).
func startFake(t *testing.T, wrap func(http.Handler) http.Handler) (*clienttest.Fake, *httptest.Server) {
	t.Helper()
	f := clienttest.NewFake()
	var h http.Handler = f
	if wrap != nil {
		h = wrap(f)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return f, srv
}

func newClient(t *testing.T, nodes []string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(nodes, append([]client.Option{fastBackoff}, opts...)...)
	if err != nil {
		t.Fatalf("New(%v): %v", nodes, err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// deadURL returns the URL of a server that is no longer listening.
func deadURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func mustGet(t *testing.T, c *client.Client, bucket, key string) *client.Object {
	t.Helper()
	o, err := c.Get(t.Context(), bucket, key, nil)
	if err != nil {
		t.Fatalf("Get(%s/%s): %v", bucket, key, err)
	}
	return o
}

func mustPut(t *testing.T, c *client.Client, bucket, key, vctx, value string) {
	t.Helper()
	if _, err := c.Put(t.Context(), bucket, key, vctx, []byte(value), nil); err != nil {
		t.Fatalf("Put(%s/%s, %q): %v", bucket, key, value, err)
	}
}

func values(o *client.Object) []string {
	var vs []string
	for _, v := range o.Values() {
		vs = append(vs, string(v))
	}
	slices.Sort(vs)
	return vs
}

func TestClient_contextsAndSiblings(t *testing.T) {
	_, srv := startFake(t, nil)
	c := newClient(t, []string{srv.URL})

	mustPut(t, c, "b", "k", "", "v1")
	o := mustGet(t, c, "b", "k")
	if v, ok := o.Value(); !ok || string(v) != "v1" || o.Context == "" {
		t.Fatalf("after first put: Value() = %q, %v, context %q; want v1, true, non-empty", v, ok, o.Context)
	}
	mustPut(t, c, "b", "k", o.Context, "v2")
	o = mustGet(t, c, "b", "k")
	if got := values(o); !slices.Equal(got, []string{"v2"}) {
		t.Fatalf("put with context: values %q, want [v2]", got)
	}

	// A blind write next to v2 makes two siblings.
	mustPut(t, c, "b", "k", "", "v3")
	o = mustGet(t, c, "b", "k")
	if got := values(o); !slices.Equal(got, []string{"v2", "v3"}) {
		t.Fatalf("blind put: values %q, want [v2 v3]", got)
	}
	if _, ok := o.Value(); ok {
		t.Errorf("Value() ok with two siblings")
	}
	if o.Deleted() {
		t.Errorf("Deleted() with live siblings")
	}
	for _, s := range o.Siblings {
		if s.ID == "" || s.LastModified.IsZero() || s.ContentType != "application/octet-stream" {
			t.Errorf("sibling %+v: want id, last-modified and the default content type", s)
		}
	}

	// Writing back with the siblings' context resolves them.
	mustPut(t, c, "b", "k", o.Context, "v2+v3")
	if got := values(mustGet(t, c, "b", "k")); !slices.Equal(got, []string{"v2+v3"}) {
		t.Fatalf("resolving put: values %q, want [v2+v3]", got)
	}
}

func TestClient_siblingsMultipart(t *testing.T) {
	// A server that ignores Accept answers siblings as multipart/mixed.
	_, srv := startFake(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Accept")
			h.ServeHTTP(w, r)
		})
	})
	c := newClient(t, []string{srv.URL})
	ctx := t.Context()
	if _, err := c.Put(ctx, "b", "k", "", []byte("red"), &client.WriteOptions{
		ContentType: "text/plain", Meta: map[string]string{"Color": "red"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "b", "k", "", []byte(`{"c":"blue"}`), &client.WriteOptions{ContentType: "application/json"}); err != nil {
		t.Fatal(err)
	}
	o := mustGet(t, c, "b", "k")
	if len(o.Siblings) != 2 || o.Context == "" {
		t.Fatalf("got %d siblings, context %q; want 2 and a context", len(o.Siblings), o.Context)
	}
	s0, s1 := o.Siblings[0], o.Siblings[1]
	if string(s0.Value) != "red" || s0.ContentType != "text/plain" || s0.Meta["color"] != "red" {
		t.Errorf("first sibling %+v: want red, text/plain, meta color=red", s0)
	}
	if string(s1.Value) != `{"c":"blue"}` || s1.ContentType != "application/json" || s1.ID == s0.ID {
		t.Errorf("second sibling %+v: want the JSON value with its own id", s1)
	}
	mustPut(t, c, "b", "k", o.Context, "purple")
	if got := values(mustGet(t, c, "b", "k")); !slices.Equal(got, []string{"purple"}) {
		t.Errorf("values %q, want [purple]", got)
	}
}

func TestClient_tombstone(t *testing.T) {
	_, srv := startFake(t, nil)
	c := newClient(t, []string{srv.URL})
	ctx := t.Context()

	o, err := c.Get(ctx, "b", "missing", nil)
	if !errors.Is(err, client.ErrNotFound) || o != nil {
		t.Fatalf("Get(missing) = %v, %v; want nil, ErrNotFound", o, err)
	}
	if err := c.Delete(ctx, "b", "never-written", "", nil); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}

	mustPut(t, c, "b", "k", "", "v1")
	if err := c.Delete(ctx, "b", "k", mustGet(t, c, "b", "k").Context, nil); err != nil {
		t.Fatal(err)
	}
	o, err = c.Get(ctx, "b", "k", nil)
	if !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get after delete: err %v, want ErrNotFound", err)
	}
	if o == nil || o.Context == "" || !o.Deleted() || len(o.Values()) != 0 {
		t.Fatalf("Get after delete: object %+v, want a context and no values", o)
	}
	// Re-creating with the tombstone's context descends the delete.
	mustPut(t, c, "b", "k", o.Context, "v2")
	o = mustGet(t, c, "b", "k")
	if v, ok := o.Value(); !ok || string(v) != "v2" || len(o.Siblings) != 1 {
		t.Fatalf("re-create: %+v, want only v2", o.Siblings)
	}

	// A blind write after a delete leaves a tombstone sibling, which Value
	// and Values ignore.
	if err := c.Delete(ctx, "b", "k", o.Context, nil); err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "b", "k", "", "v3")
	o = mustGet(t, c, "b", "k")
	if v, ok := o.Value(); !ok || string(v) != "v3" || len(o.Siblings) != 2 || o.Deleted() {
		t.Fatalf("live value next to a tombstone: Value() = %q, %v, %d siblings", v, ok, len(o.Siblings))
	}
}

func TestClient_returnBody(t *testing.T) {
	_, srv := startFake(t, nil)
	c := newClient(t, []string{srv.URL})
	ctx := t.Context()

	o, err := c.Put(ctx, "b", "k", "", []byte("v1"), nil)
	if err != nil || o != nil {
		t.Fatalf("Put without ReturnBody = %v, %v; want nil, nil", o, err)
	}
	o, err = c.Put(ctx, "b", "k", "", []byte("v2"), &client.WriteOptions{ReturnBody: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := values(o); !slices.Equal(got, []string{"v1", "v2"}) || o.Context == "" {
		t.Fatalf("returned body %q (context %q), want siblings [v1 v2] and a context", got, o.Context)
	}
	o, err = c.Put(ctx, "b", "k", o.Context, []byte("v3"), &client.WriteOptions{ReturnBody: true})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := o.Value(); !ok || string(v) != "v3" {
		t.Fatalf("returned body after resolving: %q, %v; want v3", v, ok)
	}
}

func TestClient_queryParameters(t *testing.T) {
	f, srv := startFake(t, nil)
	c := newClient(t, []string{srv.URL})
	ctx := t.Context()
	no := false
	if _, err := c.Put(ctx, "b", "k", "", []byte("v"), &client.WriteOptions{
		W: "all", PW: "1", DW: "quorum", Timeout: 1500 * time.Microsecond,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "b", "k", &client.ReadOptions{R: "one", PR: "0", NotFoundOK: &no, Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	reqs := f.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	want := []map[string]string{
		{"w": "all", "pw": "1", "dw": "quorum", "timeout": "2"},
		{"r": "one", "pr": "0", "notfound_ok": "false", "timeout": "1000"},
	}
	for i, w := range want {
		if len(reqs[i].Query) != len(w) {
			t.Errorf("request %d query %v, want %v", i, reqs[i].Query, w)
		}
		for k, v := range w {
			if got := reqs[i].Query.Get(k); got != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, got, v)
			}
		}
	}
	// A bad value is the server's to reject, and it is a bad request.
	if _, err := c.Get(ctx, "b", "k", &client.ReadOptions{R: "most"}); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("Get with r=most: %v, want ErrBadRequest", err)
	}
}

func TestClient_metaAndContentType(t *testing.T) {
	f, srv := startFake(t, nil)
	c := newClient(t, []string{srv.URL})
	ctx := t.Context()
	if _, err := c.Put(ctx, "b", "k", "", []byte("{}"), &client.WriteOptions{
		ContentType: "application/json", Meta: map[string]string{"Owner": "ops", "x-tag": "a b"},
	}); err != nil {
		t.Fatal(err)
	}
	o := mustGet(t, c, "b", "k")
	s := o.Siblings[0]
	if s.ContentType != "application/json" || s.Meta["owner"] != "ops" || s.Meta["x-tag"] != "a b" || len(s.Meta) != 2 {
		t.Errorf("sibling %+v: want application/json and meta owner=ops, x-tag=a b", s)
	}
	if s.ID == "" || s.LastModified.IsZero() {
		t.Errorf("sibling %+v: want an id and a last-modified time", s)
	}

	before := len(f.Requests())
	for _, meta := range []map[string]string{{"bad key": "v"}, {"k": "line\nbreak"}, {"": "v"}} {
		_, err := c.Put(ctx, "b", "k", "", []byte("x"), &client.WriteOptions{Meta: meta})
		if !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("Put with meta %q: %v, want ErrBadRequest", meta, err)
		}
	}
	if after := len(f.Requests()); after != before {
		t.Errorf("invalid metadata sent %d requests, want none", after-before)
	}
}

func TestClient_escaping(t *testing.T) {
	f, srv := startFake(t, nil)
	c := newClient(t, []string{srv.URL})
	ctx := t.Context()
	cases := []struct{ bucket, key string }{
		{"a/b c", "../x?y#z%"},
		{"b", ".."},
		{"b", "."},
		{"b", "ünïcödé+plus"},
	}
	for _, tc := range cases {
		mustPut(t, c, tc.bucket, tc.key, "", tc.bucket+"|"+tc.key)
		if v, _ := mustGet(t, c, tc.bucket, tc.key).Value(); string(v) != tc.bucket+"|"+tc.key {
			t.Errorf("Get(%q, %q) = %q", tc.bucket, tc.key, v)
		}
	}
	for _, r := range f.Requests() {
		if !slices.ContainsFunc(cases, func(tc struct{ bucket, key string }) bool {
			return tc.bucket == r.Bucket && tc.key == r.Key
		}) {
			t.Errorf("server saw bucket %q key %q, not one of the test's", r.Bucket, r.Key)
		}
	}
	keys, err := c.Keys(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if want := []string{".", "..", "ünïcödé+plus"}; !slices.Equal(keys, want) {
		t.Errorf("Keys(b) = %q, want %q", keys, want)
	}
	if _, err := c.Get(ctx, "", "k", nil); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("Get with an empty bucket: %v, want ErrBadRequest", err)
	}
}

func TestClient_createKeysPropsClusterPing(t *testing.T) {
	_, srv := startFake(t, nil)
	c := newClient(t, []string{srv.URL})
	ctx := t.Context()

	key, err := c.Create(ctx, "new bucket", []byte("hello"), &client.WriteOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	o := mustGet(t, c, "new bucket", key)
	if v, _ := o.Value(); string(v) != "hello" || o.Siblings[0].ContentType != "text/plain" {
		t.Errorf("created %q: %+v", key, o.Siblings)
	}
	key2, err := c.Create(ctx, "new bucket", nil, nil)
	if err != nil || key2 == key {
		t.Fatalf("second Create = %q, %v; want a new key", key2, err)
	}
	keys, err := c.Keys(ctx, "new bucket")
	slices.Sort(keys)
	if want := []string{key, key2}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("Keys = %q, %v; want %q", keys, err, want)
	}
	if keys, err := c.Keys(ctx, "empty"); err != nil || keys == nil || len(keys) != 0 {
		t.Errorf("Keys(empty) = %#v, %v; want an empty list", keys, err)
	}

	props, err := c.Props(ctx, "p")
	if err != nil || props["n_val"] != 3.0 {
		t.Fatalf("Props = %v, %v; want n_val 3", props, err)
	}
	if err := c.SetProps(ctx, "p", map[string]any{"n_val": 5, "resolver": "lww"}); err != nil {
		t.Fatal(err)
	}
	props, err = c.Props(ctx, "p")
	if err != nil || props["n_val"] != 5.0 || props["resolver"] != "lww" || props["r"] != "quorum" {
		t.Errorf("Props after SetProps = %v, %v", props, err)
	}
	if err := c.ResetProps(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if props, err = c.Props(ctx, "p"); err != nil || props["n_val"] != 3.0 {
		t.Errorf("Props after ResetProps = %v, %v", props, err)
	}

	cl, err := c.Cluster(ctx)
	if err != nil || !bytes.Contains(cl, []byte(`"members"`)) {
		t.Errorf("Cluster = %s, %v", cl, err)
	}
	// The fake serves the server's document: nothing the type lacks.
	dec := json.NewDecoder(bytes.NewReader(cl))
	dec.DisallowUnknownFields()
	var strict client.ClusterStatus
	if err := dec.Decode(&strict); err != nil {
		t.Errorf("the fake's /cluster is no client.ClusterStatus: %v", err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if m, ok := st.Member("fake"); !ok || m.Status != "joined" || m.Liveness != "alive" || !st.Steady || st.Node != "fake" {
		t.Errorf("Status = %+v", st)
	}
	if _, ok := st.Member("nobody"); ok {
		t.Errorf("Member found a member the status does not list")
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestClient_failoverFromDeadNode(t *testing.T) {
	f, srv := startFake(t, nil)
	c := newClient(t, []string{deadURL(t), srv.URL}, client.WithRetries(0))
	const n = 20
	for i := range n {
		mustPut(t, c, "b", fmt.Sprint(i), "", "v")
	}
	if got := len(f.Requests()); got != n {
		t.Errorf("live node served %d requests, want %d (one per operation)", got, n)
	}
}

func TestClient_failoverOn503(t *testing.T) {
	down, downSrv := startFake(t, nil)
	down.FailNext(1 << 30)
	up, upSrv := startFake(t, nil)
	c := newClient(t, []string{downSrv.URL, upSrv.URL}, client.WithRetries(0))
	const n = 10
	for i := range n {
		mustPut(t, c, "b", fmt.Sprint(i), "", "v")
	}
	if got := len(up.Requests()); got != n {
		t.Errorf("healthy node served %d requests, want %d", got, n)
	}
	// Round-robin start: the failing node was tried first for about half.
	if got := len(down.Requests()); got != n/2 {
		t.Errorf("failing node saw %d requests, want %d", got, n/2)
	}
}

func TestClient_unavailable(t *testing.T) {
	a, aSrv := startFake(t, nil)
	b, bSrv := startFake(t, nil)
	a.FailNext(1 << 30)
	b.FailNext(1 << 30)
	nodes := []string{aSrv.URL, bSrv.URL}

	for _, retries := range []int{0, 2} {
		before := len(a.Requests()) + len(b.Requests())
		c := newClient(t, nodes, client.WithRetries(retries))
		_, err := c.Get(t.Context(), "b", "k", nil)
		if !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("retries=%d: %v, want ErrUnavailable", retries, err)
		}
		var e *client.Error
		if !errors.As(err, &e) || e.Status != 503 || !slices.Contains(nodes, e.Node) ||
			!bytes.Contains(e.Detail, []byte(`"want":2`)) || e.Message != "unavailable" {
			t.Errorf("retries=%d: error %#v, want a 503 *Error with node and detail", retries, e)
		}
		if got, want := len(a.Requests())+len(b.Requests())-before, (retries+1)*len(nodes); got != want {
			t.Errorf("retries=%d: %d attempts, want %d", retries, got, want)
		}
	}

	// No node listening at all: unavailable, wrapping the network error.
	c := newClient(t, []string{deadURL(t), deadURL(t)}, client.WithRetries(1))
	err := c.Ping(t.Context())
	var op *net.OpError
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &op) {
		t.Errorf("Ping with no node up: %v, want ErrUnavailable wrapping a *net.OpError", err)
	}
}

func TestClient_contextCanceled(t *testing.T) {
	f, srv := startFake(t, nil)
	f.FailNext(1 << 30)
	c := newClient(t, []string{srv.URL}, client.WithRetries(1000), client.WithBackoff(time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Get(ctx, "b", "k", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with a deadline during backoff: %v, want DeadlineExceeded", err)
	}
	if got := len(f.Requests()); got != 1 {
		t.Errorf("%d attempts, want 1 before the backoff was cut short", got)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := c.Get(ctx, "b", "k", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context: %v, want Canceled", err)
	}
}

func TestError_is(t *testing.T) {
	sentinels := []error{client.ErrNotFound, client.ErrUnavailable, client.ErrBadRequest, client.ErrTooLarge}
	cases := []struct {
		status int
		want   error // nil: none of the sentinels
	}{
		{400, client.ErrBadRequest},
		{404, client.ErrNotFound},
		{413, client.ErrTooLarge},
		{415, client.ErrBadRequest},
		{503, client.ErrUnavailable},
		{500, nil},
		{409, nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, `{"error": "status %d", "detail": {"n": 1}}`, tc.status)
			}))
			defer srv.Close()
			c := newClient(t, []string{srv.URL}, client.WithRetries(0))
			_, err := c.Put(t.Context(), "b", "k", "", []byte("v"), nil)
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not an *Error", err)
			}
			if e.Status != tc.status || e.Message != fmt.Sprintf("status %d", tc.status) ||
				string(e.Detail) != `{"n": 1}` || e.Node != srv.URL || e.Op != "put b/k" {
				t.Errorf("error %#v", e)
			}
		})
	}

	// A body that is not JSON still makes a useful message.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gateway exploded", http.StatusBadGateway)
	}))
	defer srv.Close()
	c := newClient(t, []string{srv.URL})
	var e *client.Error
	if err := c.Ping(t.Context()); !errors.As(err, &e) || e.Status != 502 || e.Message != "gateway exploded" {
		t.Errorf("Ping against a 502 text answer: %v", err)
	}
}

func TestClient_tooLarge(t *testing.T) {
	f, srv := startFake(t, nil)
	f.MaxValueSize = 10
	c := newClient(t, []string{srv.URL})
	_, err := c.Put(t.Context(), "b", "k", "", bytes.Repeat([]byte("x"), 11), nil)
	if !errors.Is(err, client.ErrTooLarge) {
		t.Errorf("Put over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := c.Create(t.Context(), "b", bytes.Repeat([]byte("x"), 11), nil); !errors.Is(err, client.ErrTooLarge) {
		t.Errorf("Create over the limit: %v, want ErrTooLarge", err)
	}
}

// union merges shopping carts: JSON arrays used as sets.
func union(siblings [][]byte) []byte {
	set := map[string]bool{}
	for _, s := range siblings {
		var items []string
		if err := json.Unmarshal(s, &items); err != nil {
			panic(err) // test values are always arrays
		}
		for _, it := range items {
			set[it] = true
		}
	}
	out := make([]string, 0, len(set))
	for it := range set {
		out = append(out, it)
	}
	slices.Sort(out)
	b, _ := json.Marshal(out)
	return b
}

// addItem returns a mutation adding item to a cart.
func addItem(item string) func([]byte, bool) ([]byte, error) {
	return func(cur []byte, exists bool) ([]byte, error) {
		carts := [][]byte{[]byte(fmt.Sprintf("[%q]", item))}
		if exists {
			carts = append(carts, cur)
		}
		return union(carts), nil
	}
}

func TestUpdate_mergesSiblings(t *testing.T) {
	f, srv := startFake(t, nil)
	c := newClient(t, []string{srv.URL})
	ctx := t.Context()
	jsonOpts := &client.WriteOptions{ContentType: "application/json"}
	for _, v := range []string{`["apple","pear"]`, `["fig","pear"]`} {
		if _, err := c.Put(ctx, "carts", "alice", "", []byte(v), jsonOpts); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Siblings("carts", "alice"); n != 2 {
		t.Fatalf("setup: %d siblings, want 2", n)
	}
	var resolved int
	resolve := func(s [][]byte) []byte { resolved++; return union(s) }
	if err := c.Update(ctx, "carts", "alice", resolve, addItem("kiwi"), nil); err != nil {
		t.Fatal(err)
	}
	o := mustGet(t, c, "carts", "alice")
	if v, ok := o.Value(); !ok || string(v) != `["apple","fig","kiwi","pear"]` {
		t.Errorf("after Update: %q, %v; want the union plus kiwi as the only value", v, ok)
	}
	if ct := o.Siblings[0].ContentType; ct != "application/json" {
		t.Errorf("content type %q not kept", ct)
	}
	if resolved != 1 {
		t.Errorf("resolver ran %d times, want 1", resolved)
	}

	// A missing key starts from nothing.
	if err := c.Update(ctx, "carts", "bob", resolve, addItem("fig"), nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := mustGet(t, c, "carts", "bob").Value(); string(v) != `["fig"]` {
		t.Errorf("Update of a missing key wrote %q", v)
	}
}

func TestUpdate_afterDelete(t *testing.T) {
	f, srv := startFake(t, nil)
	c := newClient(t, []string{srv.URL})
	ctx := t.Context()
	mustPut(t, c, "b", "k", "", `["old"]`)
	if err := c.Delete(ctx, "b", "k", mustGet(t, c, "b", "k").Context, nil); err != nil {
		t.Fatal(err)
	}
	var sawExists bool
	err := c.Update(ctx, "b", "k", union, func(cur []byte, exists bool) ([]byte, error) {
		sawExists = exists
		return []byte(`["new"]`), nil
	}, nil)
	if err != nil || sawExists {
		t.Fatalf("Update after delete: %v, exists=%v; want nil, false", err, sawExists)
	}
	// The write used the tombstone's context, so no tombstone sibling remains.
	if n := f.Siblings("b", "k"); n != 1 {
		t.Errorf("%d siblings after re-creating, want 1", n)
	}
}

// flaky answers the next failPuts PUTs with 503 and passes everything else
// to h, recording the methods that reach it.
type flaky struct {
	h        http.Handler
	failPuts atomic.Int32

	// mu guards methods.
	mu      sync.Mutex
	methods []string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && f.failPuts.Add(-1) >= 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"unavailable","detail":{"want":2,"got":1}}`))
		return
	}
	f.mu.Lock()
	f.methods = append(f.methods, r.Method)
	f.mu.Unlock()
	f.h.ServeHTTP(w, r)
}

func (f *flaky) takeMethods() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.methods
	f.methods = nil
	return m
}

func TestUpdate_retriesOn503(t *testing.T) {
	fl := &flaky{}
	_, srv := startFake(t, func(h http.Handler) http.Handler { fl.h = h; return fl })
	c := newClient(t, []string{srv.URL}, client.WithRetries(3))
	mustPut(t, c, "carts", "alice", "", `["apple"]`)
	fl.takeMethods()

	fl.failPuts.Store(1)
	calls := 0
	mutate := func(cur []byte, exists bool) ([]byte, error) {
		calls++
		return addItem("kiwi")(cur, exists)
	}
	if err := c.Update(t.Context(), "carts", "alice", union, mutate, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := mustGet(t, c, "carts", "alice").Value(); string(v) != `["apple","kiwi"]` {
		t.Errorf("after Update: %q", v)
	}
	if calls != 2 {
		t.Errorf("mutate ran %d times, want 2 (one per cycle)", calls)
	}
	// The failed PUT never reached the fake; the cycle re-read after it.
	if got, want := fl.takeMethods(), []string{"GET", "GET", "PUT", "GET"}; !slices.Equal(got, want) {
		t.Errorf("fake saw %v, want %v", got, want)
	}

	// A plain Put retries on its own.
	fl.failPuts.Store(2)
	mustPut(t, c, "carts", "bob", "", `[]`)
	if got, want := fl.takeMethods(), []string{"PUT"}; !slices.Equal(got, want) {
		t.Errorf("Put with two 503s: fake saw %v, want %v", got, want)
	}
}

func TestUpdate_givesUp(t *testing.T) {
	f, srv := startFake(t, func(h http.Handler) http.Handler {
		fl := &flaky{h: h}
		fl.failPuts.Store(1 << 30)
		return fl
	})
	c := newClient(t, []string{srv.URL}, client.WithRetries(2))
	err := c.Update(t.Context(), "b", "k", union, addItem("x"), nil)
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("Update against failing writes: %v, want ErrUnavailable", err)
	}
	if got := len(f.Requests()); got != 3 {
		t.Errorf("%d reads, want 3 (one per cycle)", got)
	}

	// The context bounds the backoff.
	c = newClient(t, []string{srv.URL}, client.WithRetries(100), client.WithBackoff(time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := c.Update(ctx, "b", "k", union, addItem("x"), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update with a deadline: %v, want DeadlineExceeded", err)
	}
}

func TestUpdate_errors(t *testing.T) {
	f, srv := startFake(t, nil)
	c := newClient(t, []string{srv.URL})
	ctx := t.Context()
	mustPut(t, c, "b", "k", "", `["a"]`)
	mustPut(t, c, "b", "k", "", `["b"]`)
	before := len(f.Requests())

	boom := errors.New("boom")
	err := c.Update(ctx, "b", "k", union, func([]byte, bool) ([]byte, error) { return nil, boom }, nil)
	if err != boom {
		t.Errorf("mutate error came back as %v, want it unchanged", err)
	}
	err = c.Update(ctx, "b", "k", nil, addItem("x"), nil)
	if err == nil || !strings.Contains(err.Error(), "2 siblings and no resolver") {
		t.Errorf("siblings without a resolver: %v", err)
	}
	for _, r := range f.Requests()[before:] {
		if r.Method != http.MethodGet {
			t.Errorf("failed Update sent a %s", r.Method)
		}
	}
	if err := c.Update(ctx, "b", "k", union, nil, nil); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("nil mutate: %v, want ErrBadRequest", err)
	}
}

func TestNew_validates(t *testing.T) {
	cases := []struct {
		name  string
		nodes []string
		opts  []client.Option
	}{
		{"no nodes", nil, nil},
		{"not a URL", []string{"127.0.0.1:7070"}, nil},
		{"bad scheme", []string{"ftp://h"}, nil},
		{"query", []string{"http://h?x=1"}, nil},
		{"negative retries", []string{"http://h"}, []client.Option{client.WithRetries(-1)}},
		{"negative timeout", []string{"http://h"}, []client.Option{client.WithTimeout(-time.Second)}},
		{"backoff", []string{"http://h"}, []client.Option{client.WithBackoff(time.Second, time.Millisecond)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := client.New(tc.nodes, tc.opts...); err == nil {
				t.Errorf("New(%q) = %v, want an error", tc.nodes, c.Nodes())
			}
		})
	}
	c, err := client.New([]string{"http://a:1/", "https://b:2/prefix"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Nodes(), []string{"http://a:1", "https://b:2/prefix"}; !slices.Equal(got, want) {
		t.Errorf("Nodes() = %q, want %q", got, want)
	}
}

func TestClient_reusesConnections(t *testing.T) {
	f := clienttest.NewFake()
	srv := httptest.NewUnstartedServer(f)
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newClient(t, []string{srv.URL})
	const workers, each = 64, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("%d-%d", w, i)
				if _, err := c.Put(t.Context(), "b", key, "", []byte("v"), nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// With the default transport (2 idle connections per host) most of the
	// 640 requests would open a connection of their own.
	if n := conns.Load(); n > 2*workers {
		t.Errorf("%d connections for %d requests by %d workers, want at most %d", n, workers*each, workers, 2*workers)
	}
	if tr := client.NewTransport(); tr.MaxIdleConnsPerHost < 64 {
		t.Errorf("NewTransport keeps %d idle connections per host, want >= 64", tr.MaxIdleConnsPerHost)
	}
}

func TestClient_preflist(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got, want := r.URL.EscapedPath(), "/cluster/preflist/a%2Fb/k%20%3F"; got != want {
			http.Error(w, "path "+got+", want "+want, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"bucket":"a/b","key":"k ?","hash":"00000000000000ff","partition":0,"n_val":3,"replicas":1,`+
			`"primaries":[{"node":"n1","alive":true}],"fallbacks":[{"node":"n2","alive":true,"hint_for":"n3"}]}`)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, []string{srv.URL})
	pl, err := c.Preflist(t.Context(), "a/b", "k ?")
	if err != nil {
		t.Fatal(err)
	}
	if pl.Key != "k ?" || len(pl.Primaries) != 1 || pl.Primaries[0] != (client.PreflistEntry{Node: "n1", Alive: true}) ||
		len(pl.Fallbacks) != 1 || pl.Fallbacks[0].HintFor != "n3" || pl.Pending != nil {
		t.Errorf("Preflist = %+v", pl)
	}
	if _, err := c.Preflist(t.Context(), "b", ""); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("Preflist with an empty key: %v, want ErrBadRequest", err)
	}
}
