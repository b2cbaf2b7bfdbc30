package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynamod/dynamod/quorum"
)

// streamObjects decodes a streamed listing: keys objects, maybe a final
// error object.
func streamObjects(t *testing.T, body io.Reader) (batches [][]string, errObj map[string]any) {
	t.Helper()
	dec := json.NewDecoder(body)
	for range 100000 {
		var obj map[string]json.RawMessage
		if err := dec.Decode(&obj); err == io.EOF {
			return batches, errObj
		} else if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if errObj != nil {
			t.Fatal("object after the error object")
		}
		if _, ok := obj["error"]; ok {
			errObj = map[string]any{}
			for k, v := range obj {
				var x any
				if err := json.Unmarshal(v, &x); err != nil {
					t.Fatal(err)
				}
				errObj[k] = x
			}
			continue
		}
		var keys []string
		if err := json.Unmarshal(obj["keys"], &keys); err != nil || keys == nil {
			t.Fatalf("object %v is not {\"keys\":[...]}", obj)
		}
		batches = append(batches, keys)
	}
	t.Fatal("endless stream")
	return nil, nil
}

func TestListKeys(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 1200 {
		k := fmt.Sprintf("key-%04d", i)
		want = append(want, k)
		e.do("PUT", "/kv/b/"+k, []byte("v")).want(t, 204)
	}
	// A tombstone is not listed.
	e.do("PUT", "/kv/b/dead", []byte("v")).want(t, 204)
	c := e.do("GET", "/kv/b/dead", nil).want(t, 200).header.Get(hdrContext)
	e.do("DELETE", "/kv/b/dead", nil, hdrContext, c).want(t, 204)

	t.Run("stream", func(t *testing.T) {
		req, _ := nethttp.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/kv/b?keys=stream", nil)
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || !slices.Equal(res.TransferEncoding, []string{"chunked"}) {
			t.Fatalf("status %d, transfer encoding %v; want 200 chunked", res.StatusCode, res.TransferEncoding)
		}
		batches, errObj := streamObjects(t, res.Body)
		if errObj != nil {
			t.Fatalf("error object %v", errObj)
		}
		if len(batches) < 3 {
			t.Errorf("%d objects for 1200 keys, want at least 3 (batches of %d)", len(batches), streamBatch)
		}
		got := slices.Concat(batches...)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("streamed %d keys, want %d (each once)", len(got), len(want))
		}
	})
	t.Run("true", func(t *testing.T) {
		var doc keysDoc
		if err := json.Unmarshal(e.do("GET", "/kv/b?keys=true", nil).want(t, 200).body, &doc); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(doc.Keys, want) {
			t.Errorf("listed %d keys, want %d sorted", len(doc.Keys), len(want))
		}
	})
	t.Run("fails mid-stream", func(t *testing.T) {
		e.f.set(func(f *fakeBackend) { f.listFailAfter = 700 })
		defer e.f.set(func(f *fakeBackend) { f.listFailAfter = 0 })
		r := e.do("GET", "/kv/b?keys=stream", nil).want(t, 200)
		batches, errObj := streamObjects(t, strings.NewReader(r.String()))
		if n := len(slices.Concat(batches...)); n != 700 || errObj == nil || errObj["error"] != "unavailable" {
			t.Fatalf("%d keys then %v; want 700 then an unavailable error object", n, errObj)
		}
		// keys=true cannot have started: a real status.
		e.do("GET", "/kv/b?keys=true", nil).want(t, 503)
	})
	t.Run("fails before the first key", func(t *testing.T) {
		e.f.set(func(f *fakeBackend) { f.failWith = &quorum.UnavailableError{Op: "list", Want: 3, Got: 0} })
		defer e.f.set(func(f *fakeBackend) { f.failWith = nil })
		r := e.do("GET", "/kv/b?keys=stream", nil).want(t, 503)
		r.errorBody(t)
		e.f.set(func(f *fakeBackend) { f.failWith = errors.New("scan: disk gone") })
		r = e.do("GET", "/kv/b?keys=stream", nil).want(t, 500)
		if contains(r.String(), "disk") {
			t.Errorf("internal error leaked: %s", r.body)
		}
	})
}

// TestKeyStream_lateCallback checks that a backend calling fn after
// ListKeys returned gets an error instead of writing to a finished response.
func TestKeyStream_lateCallback(t *testing.T) {
	s := &keyStream{w: &statusWriter{ResponseWriter: discardWriter{}}, rc: nethttp.NewResponseController(discardWriter{})}
	if err := s.add("a"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
	if err := s.add("b"); !errors.Is(err, errStreamDone) {
		t.Fatalf("late add = %v, want errStreamDone", err)
	}
}

type discardWriter struct{}

func (discardWriter) Header() nethttp.Header      { return nethttp.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

func TestListBuckets(t *testing.T) {
	e := newEnv(t)
	var doc struct{ Buckets []string }
	if err := json.Unmarshal(e.do("GET", "/buckets", nil).want(t, 200).body, &doc); err != nil || doc.Buckets == nil || len(doc.Buckets) != 0 {
		t.Fatalf("empty store: %+v (%v), want []", doc, err)
	}
	for _, b := range []string{"zeta", "alpha", "a/b"} {
		e.do("PUT", "/kv/"+strings.ReplaceAll(b, "/", "%2F")+"/k", []byte("v")).want(t, 204)
	}
	e.do("PUT", "/buckets/props-only/props", []byte(`{"n_val":1}`), "Content-Type", "application/json").want(t, 204)
	if err := json.Unmarshal(e.do("GET", "/buckets", nil).want(t, 200).body, &doc); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/b", "alpha", "props-only", "zeta"}; !slices.Equal(doc.Buckets, want) {
		t.Fatalf("buckets = %q, want %q", doc.Buckets, want)
	}
}

// gatedLister lists 600 keys, then waits for the test to have read the
// first streamed object before listing one more.
type gatedLister struct {
	*fakeBackend
	gate chan struct{}
}

func (g gatedLister) ListKeys(ctx context.Context, _ string, fn func(string) error) error {
	for i := range 600 {
		if err := fn(fmt.Sprint("k", i)); err != nil {
			return err
		}
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return fn("last")
}

// TestListKeys_flushesAsItGoes reads the first object of a stream while the
// backend is still listing.
func TestListKeys_flushesAsItGoes(t *testing.T) {
	g := gatedLister{fakeBackend: newFake(), gate: make(chan struct{})}
	srv := httptest.NewServer(NewHandler(g, Config{}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := nethttp.NewRequestWithContext(ctx, "GET", srv.URL+"/kv/b?keys=stream", nil)
	res, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	var first keysDoc
	if err := dec.Decode(&first); err != nil { // blocks forever (until ctx) if not flushed
		t.Fatal(err)
	}
	if len(first.Keys) != streamBatch {
		t.Errorf("first object has %d keys, want %d", len(first.Keys), streamBatch)
	}
	close(g.gate)
	batches, errObj := streamObjects(t, dec.Buffered())
	rest, errObj2 := streamObjects(t, res.Body)
	if errObj != nil || errObj2 != nil {
		t.Fatalf("error objects %v %v", errObj, errObj2)
	}
	if n := len(first.Keys) + len(slices.Concat(batches...)) + len(slices.Concat(rest...)); n != 601 {
		t.Errorf("streamed %d keys, want 601", n)
	}
}
