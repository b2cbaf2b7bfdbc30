package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/dynamod/dynamod/client"
)

func TestReady(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" {
			http.NotFound(w, r)
			return
		}
		if !ready.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"not ready","detail":"no members"}`))
			return
		}
		_, _ = w.Write([]byte("OK"))
	}))
	defer srv.Close()
	cl, err := client.New([]string{srv.URL}, client.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Ready(context.Background()); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("not ready: err = %v, want ErrUnavailable", err)
	}
	ready.Store(true)
	if err := cl.Ready(context.Background()); err != nil {
		t.Fatalf("ready: %v", err)
	}
}
