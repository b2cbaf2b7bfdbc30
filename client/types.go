package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// TypeValue is a key of a datatype bucket as GET or POST /types answers
// it: the type ("counter", "set", "map"), the value as JSON, and the
// context to send with a remove.
type TypeValue struct {
	Type    string          `json:"type"`
	Value   json.RawMessage `json:"value"`
	Context string          `json:"context"`
}

// SetValue is a set's elements, sorted, and the context of the read.
type SetValue struct {
	Elements []string
	Context  string
}

// MapValue is a map's fields by "name_type", as JSON decodes them
// (counters float64, sets []any of strings, registers strings, flags
// true, maps map[string]any), and the context of the read.
type MapValue struct {
	Fields  map[string]any
	Context string
}

// MapOp is a map operation (docs/design.md, "Data types"): Update maps
// "name_type" to that field's operation ({"increment": n},
// {"add": [...], "remove": [...]}, {"assign": "v"}, {"enable": bool},
// or a nested MapOp); Remove lists "name_type" fields; Context is that of
// a read, needed when anything is removed.
type MapOp struct {
	Update  map[string]any `json:"update,omitempty"`
	Remove  []string       `json:"remove,omitempty"`
	Context string         `json:"context,omitempty"`
}

// TypeOptions are a data-type call's quorums and timeout: R for reads, W
// (and PW, DW) for updates, each an integer or one, quorum, all, default;
// empty takes the bucket's. A client on the minority side of a partition
// updates with W "1". Give at most one.
type TypeOptions struct {
	R, W, PW, DW string
	// Timeout is the server-side bound of the request. Zero: the node's
	// default.
	Timeout time.Duration
}

// query returns the first of opts as query parameters: r for a read,
// w, pw and dw for an update.
func typeQuery(read bool, opts []TypeOptions) url.Values {
	if len(opts) == 0 {
		return nil
	}
	o, q := opts[0], url.Values{}
	if read {
		setIf(q, "r", o.R)
	} else {
		setIf(q, "w", o.W)
		setIf(q, "pw", o.PW)
		setIf(q, "dw", o.DW)
	}
	setTimeout(q, o.Timeout)
	return q
}

func typesPath(op, bucket, key string) (string, error) {
	if bucket == "" || key == "" {
		return "", badRequest(op, "empty bucket or key")
	}
	return "/types/" + segment(bucket) + "/" + segment(key), nil
}

// GetType reads a key of a datatype bucket. A key no replica has is
// ErrNotFound.
func (c *Client) GetType(ctx context.Context, bucket, key string, opts ...TypeOptions) (*TypeValue, error) {
	op := "get type " + bucket + "/" + key
	path, err := typesPath(op, bucket, key)
	if err != nil {
		return nil, err
	}
	var v TypeValue
	if err := c.getDoc(ctx, op, path, typeQuery(true, opts), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// UpdateType sends a data-type operation (any value that encodes as the
// operation's JSON) and returns the state the coordinator stored.
//
// An update is not idempotent: applied twice, an increment counts twice.
// So it is sent to one node, and to the next only when a node cannot be
// connected to at all; a node's 503, a timeout or a broken connection is
// returned (ErrUnavailable) and not retried: the update may or may not
// have been applied.
func (c *Client) UpdateType(ctx context.Context, bucket, key string, operation any, opts ...TypeOptions) (*TypeValue, error) {
	op := "update " + bucket + "/" + key
	path, err := typesPath(op, bucket, key)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(operation)
	if err != nil {
		return nil, badRequest(op, "encode: %v", err)
	}
	rq := &request{op: op, method: http.MethodPost, path: path, query: typeQuery(false, opts),
		header: http.Header{"Content-Type": {"application/json"}}, body: body}
	start := c.next.Add(1) - 1
	var lastErr error
	for i := range len(c.nodes) {
		node := c.nodes[(start+uint64(i))%uint64(len(c.nodes))]
		r, err := c.once(ctx, node, rq)
		if err != nil {
			lastErr = err
			var oe *net.OpError
			if ctx.Err() == nil && errors.As(err, &oe) && oe.Op == "dial" {
				continue // never reached the node: safe to try another
			}
			break
		}
		if r.status != http.StatusOK {
			return nil, errorFrom(op, r)
		}
		var v TypeValue
		if err := json.Unmarshal(r.body, &v); err != nil {
			return nil, fmt.Errorf("client: %s: %s: decode: %w", op, r.node, err)
		}
		return &v, nil
	}
	return nil, fmt.Errorf("client: %s: no answer (the update may or may not have been applied): %w: %w", op, ErrUnavailable, lastErr)
}

// Counter reads a counter; a key nobody wrote reads 0.
func (c *Client) Counter(ctx context.Context, bucket, key string, opts ...TypeOptions) (int64, error) {
	v, err := c.GetType(ctx, bucket, key, opts...)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return counterOf(v)
}

// Increment adds n (negative: subtracts) to a counter and returns its
// value at the coordinator after the update.
func (c *Client) Increment(ctx context.Context, bucket, key string, n int64, opts ...TypeOptions) (int64, error) {
	v, err := c.UpdateType(ctx, bucket, key, map[string]int64{"increment": n}, opts...)
	if err != nil {
		return 0, err
	}
	return counterOf(v)
}

func counterOf(v *TypeValue) (int64, error) {
	var n int64
	if err := json.Unmarshal(v.Value, &n); err != nil || v.Type != "counter" {
		return 0, fmt.Errorf("client: not a counter: %s %s", v.Type, v.Value)
	}
	return n, nil
}

// Set reads a set; a key nobody wrote reads empty (context "").
func (c *Client) Set(ctx context.Context, bucket, key string, opts ...TypeOptions) (*SetValue, error) {
	v, err := c.GetType(ctx, bucket, key, opts...)
	if errors.Is(err, ErrNotFound) {
		return &SetValue{}, nil
	}
	if err != nil {
		return nil, err
	}
	return setOf(v)
}

// UpdateSet adds and removes elements. A remove needs the context of a
// read that saw the element (ErrPrecondition otherwise); an add made
// concurrently with a remove of the same element wins.
func (c *Client) UpdateSet(ctx context.Context, bucket, key string, add, remove []string, context string, opts ...TypeOptions) (*SetValue, error) {
	body := struct {
		Add     []string `json:"add,omitempty"`
		Remove  []string `json:"remove,omitempty"`
		Context string   `json:"context,omitempty"`
	}{add, remove, context}
	v, err := c.UpdateType(ctx, bucket, key, body, opts...)
	if err != nil {
		return nil, err
	}
	return setOf(v)
}

func setOf(v *TypeValue) (*SetValue, error) {
	var es []string
	if err := json.Unmarshal(v.Value, &es); err != nil || v.Type != "set" {
		return nil, fmt.Errorf("client: not a set: %s %s", v.Type, v.Value)
	}
	slices.Sort(es)
	return &SetValue{Elements: es, Context: v.Context}, nil
}

// Map reads a map; a key nobody wrote reads empty.
func (c *Client) Map(ctx context.Context, bucket, key string, opts ...TypeOptions) (*MapValue, error) {
	v, err := c.GetType(ctx, bucket, key, opts...)
	if errors.Is(err, ErrNotFound) {
		return &MapValue{Fields: map[string]any{}}, nil
	}
	if err != nil {
		return nil, err
	}
	return mapOf(v)
}

// UpdateMap applies a map operation.
func (c *Client) UpdateMap(ctx context.Context, bucket, key string, op MapOp, opts ...TypeOptions) (*MapValue, error) {
	v, err := c.UpdateType(ctx, bucket, key, op, opts...)
	if err != nil {
		return nil, err
	}
	return mapOf(v)
}

func mapOf(v *TypeValue) (*MapValue, error) {
	var m map[string]any
	if err := json.Unmarshal(v.Value, &m); err != nil || v.Type != "map" {
		return nil, fmt.Errorf("client: not a map: %s %s", v.Type, v.Value)
	}
	return &MapValue{Fields: m, Context: v.Context}, nil
}
