package resolve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynamod/dynamod/versioning"
)

// WebhookConfig configures the webhook resolvers of a [Registry].
//
// A webhook resolver POSTs the siblings to its URL as JSON
// (Content-Type: application/json):
//
//	{"bucket": "carts", "key": "alice", "siblings": [
//	  {"value": "<base64>", "content_type": "application/json",
//	   "last_modified": "2025-01-02T03:04:05.123456789Z",
//	   "deleted": false, "meta": {"name": "value"}}]}
//
// value is standard base64 with padding ("" for a tombstone), last_modified
// is RFC 3339 with nanoseconds in UTC, meta holds the user metadata ({} if
// none). The siblings come deduplicated and sorted (by last_modified, then
// value, content_type, deleted, meta), never in the order replicas
// answered. The webhook answers 2xx with
//
//	{"value": "<base64>", "content_type": "application/json", "deleted": false}
//
// where value is required unless deleted is true (the result is then a
// tombstone and value is ignored), and unknown fields are ignored. The
// resolved value's LastModified is the greatest of the siblings', its
// metadata their union (on a clash the greater string wins) and its expiry
// the latest of theirs (none if one has none). Redirects are
// not followed by the registry's own client.
//
// A webhook must answer the same for the same siblings, whatever their
// order, or replicas that resolve independently disagree until the next
// write. Any failure — timeout, connection error, non-2xx status, malformed
// answer, answer or value over its limit, too many calls in flight — is an
// error wrapping [ErrWebhook] and resolves nothing; the caller returns the
// siblings.
type WebhookConfig struct {
	// Timeout bounds one call, from connecting to reading the whole answer;
	// the caller's context may end it sooner. Default 2s; zero means the
	// default.
	Timeout time.Duration
	// MaxConcurrent bounds the calls in flight to one webhook URL; a call
	// beyond it fails at once (it does not queue). Default 16; zero means
	// the default.
	MaxConcurrent int
	// MaxResponseBytes bounds the body of an answer. Default 32 MiB (room
	// for a 16 MiB value in base64); zero means the default.
	MaxResponseBytes int64
	// MaxValueBytes bounds the resolved value. Default 16 MiB; zero means
	// the default.
	MaxValueBytes int64
	// Client sends the calls; the Registry shares it between all its
	// webhooks. nil: a client the Registry owns, with a 2s dial and TLS
	// handshake timeout, keep-alives, the proxy from the environment, and
	// no redirects.
	Client *http.Client
	// Registry receives the webhook metrics. nil: the metrics are kept but
	// not registered.
	Registry prometheus.Registerer
	// Allow lists the hosts webhooks may call: "host" (any port),
	// "host:port", "IP", "IP:port" and CIDRs ("10.0.0.0/8"). Host names
	// match by name, never by what they resolve to; IP-literal URLs match
	// IP and CIDR entries. A webhook whose host is not listed is refused
	// ([ErrNotAllowed]) when its bucket properties are set and when it
	// would be called. Empty: no webhook is allowed.
	Allow []string
}

// DefaultWebhookConfig returns the defaults of [WebhookConfig].
func DefaultWebhookConfig() WebhookConfig {
	return WebhookConfig{
		Timeout:          2 * time.Second,
		MaxConcurrent:    16,
		MaxResponseBytes: 32 << 20,
		MaxValueBytes:    16 << 20,
	}
}

// Validate reports every bad field: a negative field is bad (zero means
// the default).
func (c WebhookConfig) Validate() error {
	var errs []error
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("resolve: WebhookConfig.Timeout must be >= 0, got %v", c.Timeout))
	}
	if c.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("resolve: WebhookConfig.MaxConcurrent must be >= 0, got %d", c.MaxConcurrent))
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, fmt.Errorf("resolve: WebhookConfig.MaxResponseBytes must be >= 0, got %d", c.MaxResponseBytes))
	}
	if c.MaxValueBytes < 0 {
		errs = append(errs, fmt.Errorf("resolve: WebhookConfig.MaxValueBytes must be >= 0, got %d", c.MaxValueBytes))
	}
	return errors.Join(errs...)
}

func (c WebhookConfig) withDefaults() WebhookConfig {
	d := DefaultWebhookConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = d.MaxConcurrent
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = d.MaxResponseBytes
	}
	if c.MaxValueBytes == 0 {
		c.MaxValueBytes = d.MaxValueBytes
	}
	return c
}

func newHTTPClient(cfg WebhookConfig) *http.Client {
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   2 * time.Second,
			ExpectContinueTimeout: time.Second,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   cfg.MaxConcurrent,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// webhook is the resolver of one webhook URL.
type webhook struct {
	url    string // for requests
	name   string // for messages: the URL without its password
	cfg    WebhookConfig
	client *http.Client
	m      *metrics
	// sem holds a token per call in flight.
	sem chan struct{}
}

var _ Resolver = (*webhook)(nil)

func newWebhook(u *url.URL, cfg WebhookConfig, client *http.Client, m *metrics) *webhook {
	return &webhook{
		url:    u.String(),
		name:   u.Redacted(),
		cfg:    cfg,
		client: client,
		m:      m,
		sem:    make(chan struct{}, cfg.MaxConcurrent),
	}
}

// Call outcomes, the values of the result label.
const (
	resultOK        = "ok"
	resultTimeout   = "timeout"
	resultCanceled  = "canceled"
	resultError     = "error"     // connection or transport error
	resultStatus    = "status"    // non-2xx
	resultMalformed = "malformed" // not the answer format
	resultTooLarge  = "too_large" // body or value over its limit
	resultBusy      = "busy"      // MaxConcurrent calls in flight
)

// outcomeClass maps a failed call's outcome to its failure class.
var outcomeClass = map[string]string{
	resultTimeout: ClassTimeout, resultCanceled: ClassCanceled, resultError: ClassRefused,
	resultStatus: ClassBadStatus, resultMalformed: ClassBadAnswer, resultTooLarge: ClassBadAnswer,
	resultBusy: ClassBusy,
}

var results = []string{resultOK, resultTimeout, resultCanceled, resultError, resultStatus, resultMalformed, resultTooLarge, resultBusy}

// Resolve POSTs the siblings to the webhook and returns its answer. It
// never blocks waiting for a free slot, and returns within the configured
// Timeout or when ctx ends.
func (w *webhook) Resolve(ctx context.Context, in Input) (Result, error) {
	if len(in.Siblings) == 0 {
		return Result{}, fmt.Errorf("resolve: webhook %s: %w: no siblings", w.name, ErrNoValue)
	}
	select {
	case w.sem <- struct{}{}:
	default:
		w.m.calls.WithLabelValues(resultBusy).Inc()
		return Result{}, &classified{ClassBusy, fmt.Errorf("resolve: webhook %s: %w: %d calls in flight", w.name, ErrWebhook, cap(w.sem))}
	}
	defer func() { <-w.sem }()
	w.m.inFlight.Inc()
	defer w.m.inFlight.Dec()

	start := time.Now()
	res, outcome, err := w.call(ctx, in)
	w.m.duration.Observe(time.Since(start).Seconds())
	w.m.calls.WithLabelValues(outcome).Inc()
	if err != nil {
		return Result{}, &classified{outcomeClass[outcome], fmt.Errorf("resolve: webhook %s: %w: %w", w.name, ErrWebhook, err)}
	}
	return res, nil
}

// call makes one request and returns the result, the outcome label and, on
// failure, the cause.
func (w *webhook) call(ctx context.Context, in Input) (Result, string, error) {
	body, err := encodeWebhookRequest(in)
	if err != nil {
		return Result{}, resultError, err
	}
	callCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return Result{}, resultError, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "dynamod-resolve")
	resp, err := w.client.Do(req)
	if err != nil {
		return Result{}, failure(ctx, callCtx), err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Read a little so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return Result{}, resultStatus, fmt.Errorf("status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, w.cfg.MaxResponseBytes+1))
	if err != nil {
		return Result{}, failure(ctx, callCtx), fmt.Errorf("reading the answer: %w", err)
	}
	if int64(len(b)) > w.cfg.MaxResponseBytes {
		return Result{}, resultTooLarge, fmt.Errorf("answer over %d bytes", w.cfg.MaxResponseBytes)
	}
	v, err := decodeWebhookAnswer(b, w.cfg.MaxValueBytes)
	if err != nil {
		if errors.Is(err, errValueTooLarge) {
			return Result{}, resultTooLarge, err
		}
		return Result{}, resultMalformed, err
	}
	v.LastModified = maxModified(in.Siblings)
	v.Meta = mergeMeta(in.Siblings)
	v.Expires = latestExpiry(in.Siblings)
	return Result{Value: v}, resultOK, nil
}

// failure names the outcome of a call that failed in transit.
func failure(parent, call context.Context) string {
	switch {
	case parent.Err() != nil && !errors.Is(parent.Err(), context.DeadlineExceeded):
		return resultCanceled
	case call.Err() != nil:
		return resultTimeout
	default:
		return resultError
	}
}

type webhookRequest struct {
	Bucket   string           `json:"bucket"`
	Key      string           `json:"key"`
	Siblings []webhookSibling `json:"siblings"`
}

type webhookSibling struct {
	Value        []byte            `json:"value"`
	ContentType  string            `json:"content_type"`
	LastModified string            `json:"last_modified"`
	Deleted      bool              `json:"deleted"`
	Meta         map[string]string `json:"meta"`
}

func encodeWebhookRequest(in Input) ([]byte, error) {
	sibs := canonicalValues(in.Siblings)
	req := webhookRequest{Bucket: in.Bucket, Key: in.Key, Siblings: make([]webhookSibling, len(sibs))}
	for i, v := range sibs {
		s := webhookSibling{
			Value:        v.Data,
			ContentType:  v.ContentType,
			LastModified: time.Unix(0, v.LastModified).UTC().Format(time.RFC3339Nano),
			Deleted:      v.Deleted,
			Meta:         v.Meta,
		}
		if s.Value == nil {
			s.Value = []byte{} // "" rather than null
		}
		if s.Meta == nil {
			s.Meta = map[string]string{}
		}
		req.Siblings[i] = s
	}
	return json.Marshal(req)
}

// webhookAnswer is the body of a webhook's answer.
type webhookAnswer struct {
	Value       *string `json:"value"`
	ContentType string  `json:"content_type"`
	Deleted     bool    `json:"deleted"`
}

var errValueTooLarge = errors.New("value over the limit")

// decodeWebhookAnswer reads an answer into a value (without LastModified and
// Meta). A value over maxValue bytes is an error wrapping errValueTooLarge.
func decodeWebhookAnswer(b []byte, maxValue int64) (versioning.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var a webhookAnswer
	if err := dec.Decode(&a); err != nil {
		return versioning.Value{}, fmt.Errorf("malformed answer: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return versioning.Value{}, errors.New("malformed answer: data after the JSON object")
	}
	if a.Deleted {
		return versioning.Value{Deleted: true}, nil
	}
	if a.Value == nil {
		return versioning.Value{}, errors.New("malformed answer: no value")
	}
	if int64(base64.StdEncoding.DecodedLen(len(*a.Value))) > maxValue+2 { // +2: padding
		return versioning.Value{}, fmt.Errorf("%w: over %d bytes", errValueTooLarge, maxValue)
	}
	data, err := base64.StdEncoding.DecodeString(*a.Value)
	if err != nil {
		return versioning.Value{}, fmt.Errorf("malformed answer: value: %w", err)
	}
	if int64(len(data)) > maxValue {
		return versioning.Value{}, fmt.Errorf("%w: over %d bytes", errValueTooLarge, maxValue)
	}
	return versioning.Value{Data: data, ContentType: a.ContentType}, nil
}
