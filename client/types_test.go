package client

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestUpdateType_notResent: an update that got no good answer is not sent
// to another node (it may have been applied); one that could not connect
// is.
func TestUpdateType_notResent(t *testing.T) {
	var calls [2]atomic.Int64
	srv := func(i int, status int) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls[i].Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			if status == 200 {
				_, _ = w.Write([]byte(`{"type":"counter","value":7,"context":"AQAA"}`))
			} else {
				_, _ = w.Write([]byte(`{"error":"unavailable"}`))
			}
		}))
		t.Cleanup(s.Close)
		return s
	}
	busy, ok := srv(0, 503), srv(1, 200)
	c, err := New([]string{busy.URL, ok.URL}, WithRetries(3))
	if err != nil {
		t.Fatal(err)
	}
	c.next.Store(0)
	if _, err := c.Increment(t.Context(), "b", "k", 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if calls[0].Load() != 1 || calls[1].Load() != 0 {
		t.Fatalf("calls %d, %d: want the update sent once, to the first node", calls[0].Load(), calls[1].Load())
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c, err = New([]string{dead.URL, ok.URL})
	if err != nil {
		t.Fatal(err)
	}
	c.next.Store(0)
	if n, err := c.Increment(t.Context(), "b", "k", 1); err != nil || n != 7 {
		t.Fatalf("got %d, %v; want 7 from the second node", n, err)
	}
}

// TestTypeOptions: reads send r, updates w, pw and dw, both the timeout;
// without options the query is empty.
func TestTypeOptions(t *testing.T) {
	queries := make(chan string, 4)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries <- r.Method + " " + r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"type":"counter","value":3,"context":""}`))
	}))
	defer s.Close()
	c, err := New([]string{s.URL})
	if err != nil {
		t.Fatal(err)
	}
	o := TypeOptions{R: "1", W: "one", PW: "0", DW: "all", Timeout: 1500 * time.Millisecond}
	if _, err := c.Counter(t.Context(), "b", "k", o); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Increment(t.Context(), "b", "k", 1, o); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Increment(t.Context(), "b", "k", 1); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GET r=1&timeout=1500", "POST dw=all&pw=0&timeout=1500&w=one", "POST "} {
		if got := <-queries; got != want {
			t.Fatalf("request %q, want %q", got, want)
		}
	}
}
