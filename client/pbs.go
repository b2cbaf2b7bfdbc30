package client

import (
	"context"
	"net/url"
)

// PBS is the /cluster/pbs document: one node's estimate of how stale its
// reads can be (probabilistically bounded staleness, Bailis et al. 2012),
// from the latencies it measured over the last WindowSeconds.
type PBS struct {
	Node string `json:"node"`
	// Bucket is the bucket asked about; "" for the default properties.
	Bucket string `json:"bucket"`
	// N, R and W are the bucket's, resolved (n at most the members).
	N int `json:"n"`
	R int `json:"r"`
	W int `json:"w"`
	// Samples counts the latencies the estimate draws from.
	Samples       PBSSamples `json:"samples"`
	WindowSeconds int        `json:"window_seconds"`
	// Trials is the Monte Carlo trials behind each curve.
	Trials int `json:"trials"`
	// Curves has one entry per R and W in 1..N, the bucket's own first;
	// empty while a kind of sample is missing.
	Curves []PBSCurve `json:"curves"`
}

// PBSSamples counts the samples of each one-way latency.
type PBSSamples struct {
	WriteRequest int `json:"write_request"`
	WriteAck     int `json:"write_ack"`
	ReadRequest  int `json:"read_request"`
	ReadResponse int `json:"read_response"`
}

// PBSCurve is the estimate for one R and W.
type PBSCurve struct {
	R int `json:"r"`
	W int `json:"w"`
	// Strict is R+W > N: every read sees every acknowledged write.
	Strict bool `json:"strict"`
	// Visibility is the probability that a read started TMS ms after a
	// write was acknowledged returns it or a newer version.
	Visibility []PBSPoint `json:"visibility"`
	// KStaleness is the probability that a read returns one of the last
	// K versions, for K = 1..5 (quorums drawn at random).
	KStaleness []PBSStaleness `json:"k_staleness"`
	// ExpectedVersionsBehind is the mean number of versions a read is
	// behind, in the same model as KStaleness.
	ExpectedVersionsBehind float64 `json:"expected_versions_behind"`
}

// PBSPoint is one point of a t-visibility curve.
type PBSPoint struct {
	TMS float64 `json:"t_ms"`
	P   float64 `json:"p"`
}

// PBSStaleness is one point of a k-staleness curve.
type PBSStaleness struct {
	K int     `json:"k"`
	P float64 `json:"p"`
}

// PBS returns the staleness estimate of whichever node answered for
// bucket ("" for the default properties). Make the client with one node's
// URL to ask that node.
func (c *Client) PBS(ctx context.Context, bucket string) (*PBS, error) {
	op := "get pbs"
	var q url.Values
	if bucket != "" {
		op += " of " + bucket
		q = url.Values{"bucket": {bucket}}
	}
	var p PBS
	if err := c.getDoc(ctx, op, "/cluster/pbs", q, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
