package http

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"strings"

	"github.com/dynamod/dynamod/crdt"
	"github.com/dynamod/dynamod/quorum"
)

// The data-type API (docs/design.md, "Data types"):
//
//	GET  /types/{bucket}/{key}   {"type", "value", "context"}; 404 if no replica has the key
//	POST /types/{bucket}/{key}   a JSON operation (crdt.ParseOp); 200 with the state stored
//
// Both answer 409 on a bucket without a datatype. A remove (set elements,
// map fields) takes the context of a read, as the body's "context" member
// or the Dynamod-Context header (the same value if both); without one, or
// with one that did not see what it removes, the answer is 412.

// typeDoc is the answer of both routes.
type typeDoc struct {
	Type    string `json:"type"`
	Value   any    `json:"value"`
	Context string `json:"context"`
}

// datatypeOf answers 409 for a bucket without a datatype.
func datatypeOf(props quorum.Props, bucket string) (crdt.Type, error) {
	t := props.Type()
	if t == 0 {
		return 0, &clientError{err: quorum.ErrConflict, msg: "no datatype",
			detail: fmt.Sprintf("bucket %q has no datatype; set its datatype property to counter, set or map", bucket)}
	}
	return t, nil
}

// refuseKV answers 409 to a plain write or delete on a datatype bucket:
// its values are states that only their operations may change.
func refuseKV(props quorum.Props) error {
	if props.Datatype == "" {
		return nil
	}
	return &clientError{err: quorum.ErrConflict, msg: "datatype bucket",
		detail: "the bucket's datatype is " + props.Datatype + ": change its keys with POST /types/{bucket}/{key}; they are not written or deleted through /kv"}
}

// typeTarget is what both /types routes start with: the bucket and key,
// the bucket's properties and its data type (an error if it has none).
func (a *api) typeTarget(w nethttp.ResponseWriter, r *nethttp.Request) (bucket, key string, props quorum.Props, t crdt.Type, err error) {
	if bucket, key, err = bucketAndKey(w, r); err != nil {
		return
	}
	props = a.b.BucketProps(bucket)
	t, err = datatypeOf(props, bucket)
	return
}

// getType serves GET /types/{bucket}/{key}.
func (a *api) getType(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, key, props, t, err := a.typeTarget(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	o, err := parseReadOptions(queryOf(r), props)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := a.withTimeout(w, r, o.Timeout, a.b.DefaultTimeout())
	defer cancel()
	s, err := a.b.GetType(ctx, bucket, key, o)
	if err == nil && s.Type != t {
		err = fmt.Errorf("%w: the key holds a %v", quorum.ErrConflict, s.Type)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeType(w, r, s)
}

// postType serves POST /types/{bucket}/{key}.
func (a *api) postType(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, key, props, t, err := a.typeTarget(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	o, _, err := parseWriteOptions(queryOf(r), props)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := requireJSON(r.Header); err != nil {
		a.writeError(w, r, err)
		return
	}
	body, err := a.readBody(w, r, props.MaxValueBytes)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	op, err := crdt.ParseOp(t, body)
	if err != nil {
		a.writeError(w, r, &clientError{err: quorum.ErrBadRequest, msg: "bad operation", detail: strings.TrimPrefix(err.Error(), "crdt: ")})
		return
	}
	if h := r.Header.Values(hdrContext); len(h) > 0 {
		if len(h) > 1 {
			a.writeError(w, r, headerError(hdrContext, "given more than once"))
			return
		}
		c, err := crdt.DecodeContext(h[0])
		if err != nil {
			a.writeError(w, r, headerError(hdrContext, "not a context of a /types read"))
			return
		}
		if op.Context != nil && crdt.EncodeContext(*op.Context) != h[0] {
			a.writeError(w, r, badRequest("the Dynamod-Context header and the body's context differ"))
			return
		}
		op.Context = &c
	}
	ctx, cancel := a.withTimeout(w, r, o.Timeout, a.b.DefaultTimeout())
	defer cancel()
	s, err := a.b.UpdateType(ctx, bucket, key, op, o)
	if err != nil {
		a.writeError(w, r, typeError(err))
		return
	}
	a.writeType(w, r, s)
}

// typeError gives the errors of an update their client text.
func typeError(err error) error {
	switch {
	case errors.Is(err, quorum.ErrPrecondition):
		msg := "the remove's context did not see what it removes; read again and retry"
		if errors.Is(err, crdt.ErrNoContext) || strings.Contains(err.Error(), crdt.ErrNoContext.Error()) {
			msg = "a remove needs the context of a read that saw what it removes (the body's \"context\" or Dynamod-Context)"
		}
		return &clientError{err: err, msg: "precondition failed", detail: msg}
	}
	return err
}

func (a *api) writeType(w nethttp.ResponseWriter, r *nethttp.Request, s crdt.State) {
	c := crdt.EncodeContext(s.Ctx)
	w.Header().Set("Dynamod-Context", c)
	a.writeJSON(w, r, nethttp.StatusOK, typeDoc{Type: s.Type.String(), Value: s.Value(), Context: c})
}
