package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Stats is the /cluster/stats document: what the answering node's client
// API served in each of the last seconds (up to five minutes), for the
// dashboard's sparklines. Every series has one entry per step, oldest
// first, the newest ending at End; all have the same length.
type Stats struct {
	Node        string    `json:"node"`
	StepSeconds float64   `json:"step_seconds"`
	End         time.Time `json:"end"`
	// Ops are the requests answered per operation: get (GET and HEAD of
	// an object), put (PUT, and POST of a new key), delete, list (key
	// listings) and other (every other route).
	Ops map[string]OpSeries `json:"ops"`
	// Counters are per-step increases of the node's counters:
	// quorum_failures (requests that missed their quorum), read_repairs,
	// hints_stored, hints_delivered and ae_keys_repaired (keys anti-entropy
	// pushed or pulled).
	Counters map[string][]uint64 `json:"counters"`
	// Gauges are values at the end of each step: hints_pending.
	Gauges map[string][]float64 `json:"gauges"`
}

// OpSeries is one operation's requests per step: how many were answered,
// how many of them with a 5xx, and the median and 99th percentile of their
// latency in milliseconds (0 in a step without requests).
type OpSeries struct {
	Count  []uint64  `json:"count"`
	Errors []uint64  `json:"errors"`
	P50    []float64 `json:"p50_ms"`
	P99    []float64 `json:"p99_ms"`
}

// Stats returns the /cluster/stats document of whichever node answered.
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	var s Stats
	if err := c.getDoc(ctx, "get stats", "/cluster/stats", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// getDoc GETs a JSON document of the API (query may be nil) into v.
func (c *Client) getDoc(ctx context.Context, op, path string, query url.Values, v any) error {
	r, err := c.call(ctx, &request{
		op: op, method: http.MethodGet, path: path, query: query,
		header: http.Header{"Accept": {"application/json"}},
	}, c.retries)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return errorFrom(op, r)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("client: %s: %s: decode: %w", op, r.node, err)
	}
	return nil
}
