package bench

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestRun_sendsToken: every request carries the run's bearer token (a
// server that needs it answers the rest 401, counted as errors).
func TestRun_sendsToken(t *testing.T) {
	f := newFakeKV(64)
	var missing atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer dmd_t" {
			missing.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig([]string{srv.URL}, 200)
	cfg.Token = "dmd_t"
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if missing.Load() != 0 || res.Errors != 0 {
		t.Errorf("%d requests without the token, %d errors", missing.Load(), res.Errors)
	}
}
