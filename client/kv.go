package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// ReadOptions are a read's per-request settings. The zero value (or a nil
// pointer) takes the bucket's defaults.
type ReadOptions struct {
	// R and PR are the read quorums: an integer, or one, quorum, all,
	// default. Empty: the bucket's default.
	R, PR string
	// Timeout is the server-side bound of the request (rounded up to
	// milliseconds). Zero: the node's default.
	Timeout time.Duration
	// NotFoundOK says whether a replica's not-found counts toward R. Nil:
	// the bucket's default.
	NotFoundOK *bool
}

func (o *ReadOptions) query() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	setIf(q, "r", o.R)
	setIf(q, "pr", o.PR)
	setTimeout(q, o.Timeout)
	if o.NotFoundOK != nil {
		q.Set("notfound_ok", strconv.FormatBool(*o.NotFoundOK))
	}
	return q
}

// WriteOptions are a write's per-request settings. The zero value (or a nil
// pointer) takes the bucket's defaults.
type WriteOptions struct {
	// W, PW and DW are the write quorums: an integer, or one, quorum, all,
	// default. Empty: the bucket's default.
	W, PW, DW string
	// Timeout is the server-side bound of the request (rounded up to
	// milliseconds). Zero: the node's default.
	Timeout time.Duration
	// ContentType of the value. Empty: application/octet-stream, except in
	// Update, which keeps the current value's.
	ContentType string
	// Meta is user metadata stored with the value. Keys must be HTTP header
	// tokens; values must not contain control characters. Nil in Update
	// keeps the current value's.
	Meta map[string]string
	// ReturnBody makes Put return the object as stored, with its new
	// context (and siblings, if concurrent writes left some).
	ReturnBody bool
	// TTL makes the value expire that long after the write (rounded to
	// milliseconds); a read then finds it deleted. Zero: the bucket's
	// ttl property (by default, never).
	TTL time.Duration
}

func (o *WriteOptions) query() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	setIf(q, "w", o.W)
	setIf(q, "pw", o.PW)
	setIf(q, "dw", o.DW)
	setTimeout(q, o.Timeout)
	if o.ReturnBody {
		q.Set("returnbody", "true")
	}
	return q
}

// header returns the value's headers: content type, context and metadata.
func (o *WriteOptions) header(op, vctx string) (http.Header, error) {
	h := http.Header{}
	ct := "application/octet-stream"
	if o != nil && o.ContentType != "" {
		ct = o.ContentType
	}
	h.Set("Content-Type", ct)
	if vctx != "" {
		h.Set(ContextHeader, vctx)
	}
	if o == nil {
		return h, nil
	}
	if o.TTL < 0 {
		return nil, badRequest(op, "negative TTL %v", o.TTL)
	}
	if o.TTL > 0 {
		h.Set(TTLHeader, max(o.TTL.Round(time.Millisecond), time.Millisecond).String())
	}
	for k, v := range o.Meta {
		if !isToken(k) {
			return nil, badRequest(op, "metadata key %q is not an HTTP token", k)
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return nil, badRequest(op, "metadata %q has control characters", k)
		}
		h.Set(MetaHeaderPrefix+k, v)
	}
	return h, nil
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setTimeout(q url.Values, d time.Duration) {
	if d > 0 {
		q.Set("timeout", strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10))
	}
}

// isToken reports whether s is an RFC 9110 token, valid as a header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// jsonAccept asks for JSON siblings on a 300, and anything for a value.
const jsonAccept = "application/json, */*;q=0.1"

// Get reads a key. A missing key returns an error wrapping [ErrNotFound]
// and a nil object. A deleted key (a tombstone) returns the object, with its
// context and no siblings, together with an error wrapping [ErrNotFound]:
// pass the context to Put to re-create the key as a successor of the
// delete. With siblings, the object holds them all; resolve them and write
// the result back with the object's context.
func (c *Client) Get(ctx context.Context, bucket, key string, o *ReadOptions) (*Object, error) {
	return c.get(ctx, bucket, key, o, c.retries)
}

func (c *Client) get(ctx context.Context, bucket, key string, o *ReadOptions, retries int) (*Object, error) {
	op := "get " + bucket + "/" + key
	p, err := keyPath(op, bucket, key)
	if err != nil {
		return nil, err
	}
	r, err := c.call(ctx, &request{
		op: op, method: http.MethodGet, path: p, query: o.query(),
		header: http.Header{"Accept": {jsonAccept}},
	}, retries)
	if err != nil {
		return nil, err
	}
	if r.status == http.StatusNotFound {
		err := errorFrom(op, r)
		if vctx := r.header.Get(ContextHeader); vctx != "" {
			return &Object{Context: vctx}, err
		}
		return nil, err
	}
	return objectFrom(op, r)
}

// Put writes value as the successor of everything the context vctx has
// seen. An empty vctx means "seen nothing": if the key exists, the value
// becomes a sibling of what is there. The object is returned only with
// [WriteOptions.ReturnBody]; otherwise it is nil.
func (c *Client) Put(ctx context.Context, bucket, key, vctx string, value []byte, o *WriteOptions) (*Object, error) {
	return c.put(ctx, bucket, key, vctx, value, o, c.retries)
}

func (c *Client) put(ctx context.Context, bucket, key, vctx string, value []byte, o *WriteOptions, retries int) (*Object, error) {
	op := "put " + bucket + "/" + key
	p, err := keyPath(op, bucket, key)
	if err != nil {
		return nil, err
	}
	h, err := o.header(op, vctx)
	if err != nil {
		return nil, err
	}
	if value == nil {
		value = []byte{}
	}
	if o != nil && o.ReturnBody {
		h.Set("Accept", jsonAccept)
	}
	r, err := c.call(ctx, &request{op: op, method: http.MethodPut, path: p, query: o.query(), header: h, body: value}, retries)
	if err != nil {
		return nil, err
	}
	switch r.status {
	case http.StatusNoContent, http.StatusCreated:
		return nil, nil
	case http.StatusOK, http.StatusMultipleChoices:
		if o == nil || !o.ReturnBody {
			return nil, nil
		}
		return objectFrom(op, r)
	}
	return nil, errorFrom(op, r)
}

// Delete writes a tombstone that supersedes everything vctx has seen.
// Deleting a key that does not exist is not an error.
func (c *Client) Delete(ctx context.Context, bucket, key, vctx string, o *WriteOptions) error {
	op := "delete " + bucket + "/" + key
	p, err := keyPath(op, bucket, key)
	if err != nil {
		return err
	}
	h := http.Header{}
	if vctx != "" {
		h.Set(ContextHeader, vctx)
	}
	q := o.query()
	q.Del("returnbody")
	r, err := c.call(ctx, &request{op: op, method: http.MethodDelete, path: p, query: q, header: h}, c.retries)
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusNoContent, http.StatusOK, http.StatusNotFound:
		return nil
	}
	return errorFrom(op, r)
}

// Create stores value under a key the server generates and returns the key.
// [WriteOptions.ReturnBody] is ignored.
func (c *Client) Create(ctx context.Context, bucket string, value []byte, o *WriteOptions) (string, error) {
	op := "create in " + bucket
	if bucket == "" {
		return "", badRequest(op, "empty bucket")
	}
	h, err := o.header(op, "")
	if err != nil {
		return "", err
	}
	if value == nil {
		value = []byte{}
	}
	q := o.query()
	q.Del("returnbody")
	r, err := c.call(ctx, &request{op: op, method: http.MethodPost, path: "/kv/" + segment(bucket), query: q, header: h, body: value}, c.retries)
	if err != nil {
		return "", err
	}
	if r.status != http.StatusCreated && r.status != http.StatusOK && r.status != http.StatusNoContent {
		return "", errorFrom(op, r)
	}
	loc := r.header.Get("Location")
	u, err := url.Parse(loc)
	if loc == "" || err != nil {
		return "", fmt.Errorf("client: %s: %s answered %d without a usable Location %q", op, r.node, r.status, loc)
	}
	key, err := url.PathUnescape(path.Base(u.EscapedPath()))
	if err != nil || key == "" || key == "/" || key == "." {
		return "", fmt.Errorf("client: %s: %s answered a bad Location %q", op, r.node, loc)
	}
	return key, nil
}

// Update runs a read-modify-write cycle on a key:
//
//  1. Get the key. If it has several live siblings, resolve merges their
//     values into one (it must be deterministic and should be commutative;
//     a nil resolve makes siblings an error).
//  2. mutate gets the current value and whether the key exists, and
//     returns the new value. An error from mutate aborts Update and is
//     returned as is.
//  3. Put the new value with the context of the read, so it supersedes
//     every sibling that was merged.
//
// When the read or the write fails transiently (every node unreachable or
// answering 503), the whole cycle is retried, re-reading the key, up to the
// client's retry count, with exponential backoff and jitter; ctx bounds it
// all. A write that failed with 503 may still have reached some replicas, so
// mutate may see its own earlier result on a retry.
//
// Unless o sets them, the content type and metadata of the current value
// are kept.
func (c *Client) Update(ctx context.Context, bucket, key string,
	resolve func(siblings [][]byte) []byte,
	mutate func(current []byte, exists bool) ([]byte, error),
	o *WriteOptions,
) error {
	if mutate == nil {
		return badRequest("update "+bucket+"/"+key, "nil mutate")
	}
	for attempt := 0; ; attempt++ {
		err := c.updateOnce(ctx, bucket, key, resolve, mutate, o)
		if me, ok := err.(errMutate); ok {
			return me.err
		}
		if err == nil || !transient(err) || attempt >= c.retries {
			return err
		}
		if err := c.sleep(ctx, attempt); err != nil {
			return fmt.Errorf("client: update %s/%s: %w", bucket, key, err)
		}
	}
}

// errMutate marks an error of the caller's mutate, which Update returns
// unwrapped.
type errMutate struct{ err error }

func (e errMutate) Error() string { return e.err.Error() }

func (c *Client) updateOnce(ctx context.Context, bucket, key string,
	resolve func([][]byte) []byte,
	mutate func([]byte, bool) ([]byte, error),
	o *WriteOptions,
) error {
	// The read and the write fail over across the nodes but do not retry on
	// their own: the cycle as a whole is retried.
	obj, err := c.get(ctx, bucket, key, nil, 0)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	var current []byte
	exists := false
	switch vs := obj.Values(); len(vs) {
	case 0:
	case 1:
		current, exists = vs[0], true
	default:
		if resolve == nil {
			return fmt.Errorf("client: update %s/%s: %d siblings and no resolver", bucket, key, len(vs))
		}
		current, exists = resolve(vs), true
	}
	next, err := mutate(current, exists)
	if err != nil {
		return errMutate{err}
	}
	wo := WriteOptions{}
	if o != nil {
		wo = *o
	}
	wo.ReturnBody = false
	if s := obj.firstLive(); s != nil {
		if wo.ContentType == "" {
			wo.ContentType = s.ContentType
		}
		if wo.Meta == nil {
			wo.Meta = s.Meta
		}
	}
	var vctx string
	if obj != nil {
		vctx = obj.Context
	}
	_, err = c.put(ctx, bucket, key, vctx, next, &wo, 0)
	return err
}
