package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Keys lists the live keys of a bucket, in no particular order. It walks
// every partition of the cluster: an expensive call, meant for tools and
// tests rather than request paths.
func (c *Client) Keys(ctx context.Context, bucket string) ([]string, error) {
	op := "list keys of " + bucket
	if bucket == "" {
		return nil, badRequest(op, "empty bucket")
	}
	r, err := c.call(ctx, &request{
		op: op, method: http.MethodGet, path: "/kv/" + segment(bucket),
		query: url.Values{"keys": {"true"}}, header: http.Header{"Accept": {"application/json"}},
	}, c.retries)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, errorFrom(op, r)
	}
	// The answer is one {"keys": [...]} document, or a stream of them when
	// the server sends the listing in chunks.
	keys := []string{}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	for {
		var chunk struct {
			Keys []string `json:"keys"`
		}
		err := dec.Decode(&chunk)
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("client: %s: %s: decode: %w", op, r.node, err)
		}
		keys = append(keys, chunk.Keys...)
	}
}

// Props returns a bucket's properties, defaults applied.
func (c *Client) Props(ctx context.Context, bucket string) (map[string]any, error) {
	op := "get props of " + bucket
	if bucket == "" {
		return nil, badRequest(op, "empty bucket")
	}
	var props map[string]any
	if err := c.getDoc(ctx, op, propsPath(bucket), nil, &props); err != nil {
		return nil, err
	}
	// Accept Riak's {"props": {...}} envelope too.
	if inner, ok := props["props"].(map[string]any); ok && len(props) == 1 {
		props = inner
	}
	return props, nil
}

// SetProps changes the given properties of a bucket; the others keep their
// values.
func (c *Client) SetProps(ctx context.Context, bucket string, props map[string]any) error {
	op := "set props of " + bucket
	if bucket == "" {
		return badRequest(op, "empty bucket")
	}
	body, err := json.Marshal(props)
	if err != nil {
		return badRequest(op, "encode: %v", err)
	}
	r, err := c.call(ctx, &request{
		op: op, method: http.MethodPut, path: propsPath(bucket),
		header: http.Header{"Content-Type": {"application/json"}}, body: body,
	}, c.retries)
	if err != nil {
		return err
	}
	if r.status/100 != 2 {
		return errorFrom(op, r)
	}
	return nil
}

// ResetProps returns a bucket's properties to the cluster defaults.
func (c *Client) ResetProps(ctx context.Context, bucket string) error {
	op := "reset props of " + bucket
	if bucket == "" {
		return badRequest(op, "empty bucket")
	}
	r, err := c.call(ctx, &request{op: op, method: http.MethodDelete, path: propsPath(bucket)}, c.retries)
	if err != nil {
		return err
	}
	if r.status/100 != 2 {
		return errorFrom(op, r)
	}
	return nil
}

func propsPath(bucket string) string { return "/buckets/" + segment(bucket) + "/props" }

// Cluster returns the /cluster document of whichever node answered:
// members, liveness, ownership and pending transfers.
func (c *Client) Cluster(ctx context.Context) (json.RawMessage, error) {
	const op = "get cluster"
	r, err := c.call(ctx, &request{
		op: op, method: http.MethodGet, path: "/cluster",
		header: http.Header{"Accept": {"application/json"}},
	}, c.retries)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, errorFrom(op, r)
	}
	if !json.Valid(r.body) {
		return nil, fmt.Errorf("client: %s: %s answered invalid JSON", op, r.node)
	}
	return json.RawMessage(r.body), nil
}

// Leave asks the node to leave the cluster for good (POST /admin/leave):
// it hands every partition it holds to the new owners, records itself
// left and stops. It returns once the node has accepted; watch Cluster for
// the progress. Make the client with the leaving node's URL alone.
func (c *Client) Leave(ctx context.Context) error {
	return c.postOK(ctx, "leave", "/admin/leave")
}

// Remove takes a dead member out of the cluster for good (POST
// /admin/remove/NAME); its partitions are rebuilt on their new owners from
// the surviving replicas. A live member is refused (409): it must leave.
func (c *Client) Remove(ctx context.Context, name string) error {
	if name == "" {
		return badRequest("remove", "empty member name")
	}
	return c.postOK(ctx, "remove "+name, "/admin/remove/"+segment(name))
}

// postOK POSTs to path and wants a 2xx.
func (c *Client) postOK(ctx context.Context, op, path string) error {
	r, err := c.call(ctx, &request{op: op, method: http.MethodPost, path: path}, 0)
	if err != nil {
		return err
	}
	if r.status/100 != 2 {
		return errorFrom(op, r)
	}
	return nil
}

// Ping reports whether some node answers /ping. Failover applies, so a nil
// error does not mean every node is up.
func (c *Client) Ping(ctx context.Context) error { return c.getOK(ctx, "ping", "/ping") }

// Ready checks that a node serves requests (GET /ready): its storage is
// open and it knows its members. A node that is up but not ready answers
// 503, reported as an error matching ErrUnavailable.
func (c *Client) Ready(ctx context.Context) error { return c.getOK(ctx, "ready", "/ready") }

// getOK GETs path and wants a 200.
func (c *Client) getOK(ctx context.Context, op, path string) error {
	r, err := c.call(ctx, &request{op: op, method: http.MethodGet, path: path}, c.retries)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return errorFrom(op, r)
	}
	return nil
}
