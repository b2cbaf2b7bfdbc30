package resolve

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dynamod/dynamod/versioning"
)

// newTestRegistry returns a registry with cfg and its metrics registry,
// closed when the test ends.
func newTestRegistry(t *testing.T, cfg WebhookConfig) (*Registry, *prometheus.Registry) {
	t.Helper()
	preg := prometheus.NewRegistry()
	cfg.Registry = preg
	if cfg.Allow == nil {
		cfg.Allow = []string{"127.0.0.1"} // the test servers
	}
	reg, err := NewRegistry(WithWebhook(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	return reg, preg
}

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func lookupWebhook(t *testing.T, reg *Registry, url string) Resolver {
	t.Helper()
	r, err := reg.Lookup(WebhookPrefix + url)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// gathered returns the families of preg by name.
func gathered(t *testing.T, preg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := preg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// webhookCalls reads dynamod_resolve_webhook_calls_total{result} from preg.
func webhookCalls(t *testing.T, preg *prometheus.Registry, result string) float64 {
	t.Helper()
	mf := gathered(t, preg)["dynamod_resolve_webhook_calls_total"]
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "result" && l.GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no calls counter for result %q", result)
	return 0
}

// histogramCount is the number of observations of the latency histogram.
func histogramCount(t *testing.T, preg *prometheus.Registry) uint64 {
	t.Helper()
	mf, ok := gathered(t, preg)["dynamod_resolve_webhook_duration_seconds"]
	if !ok {
		t.Fatal("latency histogram not registered")
	}
	return mf.GetMetric()[0].GetHistogram().GetSampleCount()
}

func inFlight(t *testing.T, preg *prometheus.Registry) float64 {
	t.Helper()
	return gathered(t, preg)["dynamod_resolve_webhook_in_flight"].GetMetric()[0].GetGauge().GetValue()
}

var answerOK = `{"value":"` + base64.StdEncoding.EncodeToString([]byte("merged")) + `","content_type":"text/plain","deleted":false}`

func TestWebhook_success(t *testing.T) {
	checkGoroutines(t)
	var (
		mu     sync.Mutex
		bodies []string
	)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		_, _ = io.WriteString(w, answerOK)
	})
	reg, preg := newTestRegistry(t, WebhookConfig{})
	hook := lookupWebhook(t, reg, srv.URL+"/resolve?x=1")

	a := versioning.Value{Data: []byte("A"), ContentType: "text/plain", LastModified: 1_700_000_000_123_456_789, Meta: map[string]string{"k": "a"}}
	b := versioning.Value{Data: []byte{0, 1, 2, 0xff}, LastModified: 1_600_000_000_000_000_000, Meta: map[string]string{"k": "b", "o": "1"}}
	d := versioning.Value{Deleted: true, LastModified: 1_650_000_000_000_000_000}
	res, err := hook.Resolve(t.Context(), Input{Bucket: "carts", Key: "alice", Siblings: []versioning.Value{a, d, b, a}})
	if err != nil {
		t.Fatal(err)
	}
	want := versioning.Value{Data: []byte("merged"), ContentType: "text/plain", LastModified: a.LastModified,
		Meta: map[string]string{"k": "b", "o": "1"}}
	if !versioning.ValueEqual(res.Value, want) || res.Invalid != nil || res.Warning != "" {
		t.Fatalf("Resolve = %s %s %q, want %s", show(res.Value), showAll(res.Invalid), res.Warning, show(want))
	}

	// The request: bucket, key, siblings deduplicated and sorted.
	var req struct {
		Bucket   string `json:"bucket"`
		Key      string `json:"key"`
		Siblings []struct {
			Value        *string           `json:"value"`
			ContentType  *string           `json:"content_type"`
			LastModified string            `json:"last_modified"`
			Deleted      bool              `json:"deleted"`
			Meta         map[string]string `json:"meta"`
		} `json:"siblings"`
	}
	dec := json.NewDecoder(strings.NewReader(bodies[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("request %s: %v", bodies[0], err)
	}
	if req.Bucket != "carts" || req.Key != "alice" || len(req.Siblings) != 3 {
		t.Fatalf("request %s", bodies[0])
	}
	for i, v := range []versioning.Value{b, d, a} { // oldest first
		s := req.Siblings[i]
		lm, err := time.Parse(time.RFC3339Nano, s.LastModified)
		data, derr := base64.StdEncoding.DecodeString(*s.Value)
		if err != nil || derr != nil || lm.UnixNano() != v.LastModified || string(data) != string(v.Data) ||
			*s.ContentType != v.ContentType || s.Deleted != v.Deleted || s.Meta == nil || len(s.Meta) != len(v.Meta) {
			t.Errorf("sibling %d = %+v, want %s", i, s, show(v))
		}
	}

	// Sibling order does not change the request.
	if _, err := hook.Resolve(t.Context(), Input{Bucket: "carts", Key: "alice", Siblings: []versioning.Value{b, a, d}}); err != nil {
		t.Fatal(err)
	}
	if bodies[0] != bodies[1] {
		t.Errorf("requests differ with sibling order:\n%s\n%s", bodies[0], bodies[1])
	}
	if n := webhookCalls(t, preg, resultOK); n != 2 {
		t.Errorf("calls{ok} = %v, want 2", n)
	}
	if n := histogramCount(t, preg); n != 2 {
		t.Errorf("latency observations = %d, want 2", n)
	}
	if again := lookupWebhook(t, reg, srv.URL+"/resolve?x=1"); again != hook {
		t.Error("Lookup made a second resolver for the same URL")
	}
}

func TestWebhook_answers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		want   versioning.Value
	}{
		{"tombstone", `{"deleted":true}`, versioning.Value{Deleted: true, LastModified: 9}},
		{"tombstone ignores value", `{"deleted":true,"value":"eA==","content_type":"x/y"}`, versioning.Value{Deleted: true, LastModified: 9}},
		{"empty value", `{"value":""}`, versioning.Value{LastModified: 9}},
		{"unknown fields ignored", `{"value":"eA==","future":[1,2]} `, versioning.Value{Data: []byte("x"), LastModified: 9}},
		{"value at the size limit", `{"value":"` + base64.StdEncoding.EncodeToString([]byte("12345678")) + `"}`, versioning.Value{Data: []byte("12345678"), LastModified: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, tc.answer) })
			reg, _ := newTestRegistry(t, WebhookConfig{MaxValueBytes: 8})
			res, err := lookupWebhook(t, reg, srv.URL).Resolve(t.Context(), Input{Siblings: []versioning.Value{valAt("a", 9), valAt("b", 2)}})
			if err != nil {
				t.Fatal(err)
			}
			if !versioning.ValueEqual(res.Value, tc.want) {
				t.Fatalf("Resolve = %s, want %s", show(res.Value), show(tc.want))
			}
		})
	}
}

// block answers nothing until the request's context ends, and signals
// entered when it starts. It reads the request body first: the server
// notices a client that went away only once the body is consumed.
func block(entered chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if entered != nil {
			entered <- struct{}{}
		}
		<-r.Context().Done()
	}
}

func TestWebhook_failures(t *testing.T) {
	big := `{"value":"eA==","pad":"` + strings.Repeat("x", 100) + `"}`
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		cfg     WebhookConfig
		result  string
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }, WebhookConfig{}, resultStatus},
		{"404", http.NotFound, WebhookConfig{}, resultStatus},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}, WebhookConfig{}, resultStatus},
		{"not JSON", answer("merged!"), WebhookConfig{}, resultMalformed},
		{"empty body", answer(""), WebhookConfig{}, resultMalformed},
		{"null", answer("null"), WebhookConfig{}, resultMalformed},
		{"array", answer(`["eA=="]`), WebhookConfig{}, resultMalformed},
		{"no value", answer(`{"content_type":"text/plain"}`), WebhookConfig{}, resultMalformed},
		{"value not a string", answer(`{"value":5}`), WebhookConfig{}, resultMalformed},
		{"deleted not a bool", answer(`{"value":"eA==","deleted":"no"}`), WebhookConfig{}, resultMalformed},
		{"bad base64", answer(`{"value":"!!!!"}`), WebhookConfig{}, resultMalformed},
		{"unpadded base64", answer(`{"value":"eA"}`), WebhookConfig{}, resultMalformed},
		{"data after the answer", answer(`{"value":"eA=="} {}`), WebhookConfig{}, resultMalformed},
		{"truncated", answer(`{"value":"eA==`), WebhookConfig{}, resultMalformed},
		{"body over the limit", answer(big), WebhookConfig{MaxResponseBytes: int64(len(big)) - 1}, resultTooLarge},
		{"value over the limit", answer(`{"value":"` + base64.StdEncoding.EncodeToString([]byte("123456789")) + `"}`), WebhookConfig{MaxValueBytes: 8}, resultTooLarge},
		{"timeout", block(nil), WebhookConfig{Timeout: 50 * time.Millisecond}, resultTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			srv := newServer(t, tc.handler)
			reg, preg := newTestRegistry(t, tc.cfg)
			res, err := lookupWebhook(t, reg, srv.URL).Resolve(t.Context(), Input{Siblings: []versioning.Value{val("secret-a"), val("secret-b")}})
			if !errors.Is(err, ErrWebhook) {
				t.Fatalf("Resolve = %s, %v; want ErrWebhook", show(res.Value), err)
			}
			if res.Value.Data != nil || res.Invalid != nil {
				t.Errorf("a failed call returned %s %s", show(res.Value), showAll(res.Invalid))
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows a value: %v", err)
			}
			if got, want := FailureClass(err), outcomeClass[tc.result]; got != want || want == "" {
				t.Errorf("FailureClass = %q, want %q", got, want)
			}
			for _, r := range results {
				want := 0.0
				if r == tc.result {
					want = 1
				}
				if got := webhookCalls(t, preg, r); got != want {
					t.Errorf("calls{%s} = %v, want %v (error %v)", r, got, want, err)
				}
			}
		})
	}
}

func answer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) }
}

func TestWebhook_deadURL(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	reg, preg := newTestRegistry(t, WebhookConfig{})
	_, err = lookupWebhook(t, reg, "http://user:pw-secret@"+addr+"/").Resolve(t.Context(), Input{Siblings: []versioning.Value{val("a")}})
	if !errors.Is(err, ErrWebhook) {
		t.Fatalf("error = %v, want ErrWebhook", err)
	}
	if strings.Contains(err.Error(), "pw-secret") {
		t.Errorf("error shows the URL's password: %v", err)
	}
	if got := webhookCalls(t, preg, resultError); got != 1 {
		t.Errorf("calls{error} = %v, want 1", got)
	}
	if got := FailureClass(err); got != ClassRefused {
		t.Errorf("FailureClass = %q, want %q", got, ClassRefused)
	}
}

// The caller's context bounds a call: cancelling it ends the call as
// "canceled", and a caller deadline shorter than Timeout ends it as
// "timeout".
func TestWebhook_callerContext(t *testing.T) {
	checkGoroutines(t)
	entered := make(chan struct{}, 1)
	srv := newServer(t, block(entered))
	reg, preg := newTestRegistry(t, WebhookConfig{Timeout: time.Minute})
	hook := lookupWebhook(t, reg, srv.URL)
	in := Input{Siblings: []versioning.Value{val("a")}}

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := hook.Resolve(ctx, in)
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, ErrWebhook) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: error = %v, want ErrWebhook and context.Canceled", err)
	}
	if got := webhookCalls(t, preg, resultCanceled); got != 1 {
		t.Errorf("calls{canceled} = %v, want 1", got)
	}

	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := hook.Resolve(ctx, in); !errors.Is(err, ErrWebhook) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("call past the caller's deadline: error = %v, want ErrWebhook and DeadlineExceeded", err)
	}
	// The request may never have reached the server: under load the 50 ms
	// can pass before the handler runs (this test once waited here for
	// ever). If it did, its entry lands in entered's free slot.
	if got := webhookCalls(t, preg, resultTimeout); got != 1 {
		t.Errorf("calls{timeout} = %v, want 1", got)
	}
}

// A call beyond MaxConcurrent fails at once; the calls in flight finish.
func TestWebhook_concurrencyLimit(t *testing.T) {
	checkGoroutines(t)
	const limit = 2
	entered := make(chan struct{}, limit)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that a client going away ends r.Context()
		entered <- struct{}{}
		select {
		case <-release:
			_, _ = io.WriteString(w, answerOK)
		case <-r.Context().Done():
		}
	})
	reg, preg := newTestRegistry(t, WebhookConfig{MaxConcurrent: limit})
	hook := lookupWebhook(t, reg, srv.URL)
	in := Input{Siblings: []versioning.Value{val("a"), val("b")}}

	var wg sync.WaitGroup
	errs := make(chan error, limit)
	for range limit {
		wg.Go(func() {
			_, err := hook.Resolve(t.Context(), in)
			errs <- err
		})
	}
	for range limit {
		<-entered
	}
	if got := inFlight(t, preg); got != limit {
		t.Errorf("in flight = %v, want %d", got, limit)
	}
	_, err := hook.Resolve(t.Context(), in)
	if !errors.Is(err, ErrWebhook) {
		t.Errorf("call over the limit: error = %v, want ErrWebhook", err)
	}
	if got := webhookCalls(t, preg, resultBusy); got != 1 {
		t.Errorf("calls{busy} = %v, want 1", got)
	}
	// Another URL has its own limit.
	other := newServer(t, answer(answerOK))
	if _, err := lookupWebhook(t, reg, other.URL).Resolve(t.Context(), in); err != nil {
		t.Errorf("another webhook while the first is full: %v", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call in flight: %v", err)
		}
	}
	// Slots are given back.
	if _, err := hook.Resolve(t.Context(), in); err != nil {
		t.Errorf("call after the others finished: %v", err)
	}
	if got := webhookCalls(t, preg, resultOK); got != limit+2 {
		t.Errorf("calls{ok} = %v, want %d", got, limit+2)
	}
}

func TestWebhook_noSiblings(t *testing.T) {
	reg, preg := newTestRegistry(t, WebhookConfig{})
	// No server: an empty input must not call out.
	_, err := lookupWebhook(t, reg, "http://127.0.0.1:1/").Resolve(t.Context(), Input{})
	if !errors.Is(err, ErrNoValue) {
		t.Fatalf("error = %v, want ErrNoValue", err)
	}
	for _, r := range results {
		if got := webhookCalls(t, preg, r); got != 0 {
			t.Errorf("calls{%s} = %v, want 0", r, got)
		}
	}
}

func TestWebhookConfig_Validate(t *testing.T) {
	if err := (WebhookConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := DefaultWebhookConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	err := WebhookConfig{Timeout: -1, MaxConcurrent: -1, MaxResponseBytes: -1, MaxValueBytes: -1}.Validate()
	for _, field := range []string{"Timeout", "MaxConcurrent", "MaxResponseBytes", "MaxValueBytes"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate does not report %s: %v", field, err)
		}
	}
	if _, err := NewRegistry(WithWebhook(WebhookConfig{Timeout: -time.Second})); err == nil {
		t.Error("NewRegistry accepted a negative timeout")
	}
	got := WebhookConfig{MaxConcurrent: 3}.withDefaults()
	want := DefaultWebhookConfig()
	want.MaxConcurrent = 3
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("withDefaults = %+v, want %+v", got, want)
	}
}
