package quorum

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dynamod/dynamod/crdt"
	"github.com/dynamod/dynamod/versioning"
)

// Sentinels of data-type buckets (docs/design.md, "Data types").
var (
	// ErrConflict: the request does not fit the bucket's datatype (an
	// operation on a bucket of another type or of none, a plain write or
	// delete on a datatype bucket, a key holding a value that is not a
	// state of the type). Nothing was changed.
	ErrConflict = errors.New("quorum: conflicts with the bucket's datatype")
	// ErrPrecondition: a remove without the context of a read, or whose
	// context did not see what it removes. Nothing was changed.
	ErrPrecondition = errors.New("quorum: precondition failed")
)

// OpContentType marks a value that carries an encoded crdt.Op on its way
// to the coordinator, which applies it and stores the resulting state
// instead; no stored value ever has it.
const OpContentType = "application/vnd.dynamod.op"

// StateContentType is the content type of a stored state of type t.
func StateContentType(t crdt.Type) string { return "application/vnd.dynamod." + t.String() }

// Type is the bucket's data type (0: plain values).
func (p Props) Type() crdt.Type { return datatypeOf(p) }

func datatypeOf(p Props) crdt.Type {
	if p.Datatype == "" {
		return 0 // plain buckets: the hot path
	}
	t, _ := crdt.ParseType(p.Datatype)
	return t
}

func (p Props) validateDatatype() []error {
	if p.Datatype == "" {
		return nil
	}
	var errs []error
	if t, ok := crdt.ParseType(p.Datatype); !ok || !t.Bucket() {
		errs = append(errs, fmt.Errorf("datatype must be counter, set or map, got %q", p.Datatype))
	}
	if p.TTL != nil && *p.TTL != 0 {
		errs = append(errs, fmt.Errorf("a bucket with a datatype cannot have a ttl (its states never expire)"))
	}
	if p.Resolver != "" && p.Resolver != "siblings" {
		errs = append(errs, fmt.Errorf("a bucket with a datatype merges its own states: resolver must be siblings, got %q", p.Resolver))
	}
	return errs
}

// CheckDatatypeChange refuses a change of a bucket's datatype once set:
// its stored objects are states of the old type.
func CheckDatatypeChange(old, next Props) error {
	if old.Datatype != "" && next.Datatype != old.Datatype {
		return fmt.Errorf("%w: datatype is %q and cannot change (its keys hold %s states)", ErrBadRequest, old.Datatype, old.Datatype)
	}
	return nil
}

// Update applies a data-type operation to a key of a datatype bucket. The
// coordinator (a replica of the key; others forward) applies it, under
// the key's lock, to the join of the states it holds, with the actor it
// mints the write's dot with, and stores the result at that dot with its
// whole local clock as context: one value that supersedes every state it
// joined. Replicas that hold states it had not seen keep them as siblings
// until a read joins them. The result is the object as stored.
//
// A forwarded update whose call fails without an answer is not sent to
// another coordinator (it may have been applied, and an operation applied
// twice counts twice): the caller gets ErrUnavailable.
func (c *Coordinator) Update(ctx context.Context, bucket, key string, op crdt.Op, o WriteOptions) (*Object, error) {
	start := time.Now()
	obj, err := c.update(ctx, bucket, key, op, o)
	c.m.observe("put", err, start)
	return obj, err
}

func (c *Coordinator) update(ctx context.Context, bucket, key string, op crdt.Op, o WriteOptions) (*Object, error) {
	props := c.buckets.Props(bucket)
	if err := checkOp(props, op); err != nil {
		return nil, err
	}
	data := crdt.EncodeOp(op)
	if int64(len(data)) > props.MaxValueBytes {
		return nil, fmt.Errorf("%w: operation of %d bytes exceeds max_value_bytes %d", ErrTooLarge, len(data), props.MaxValueBytes)
	}
	p := c.place(bucket, key, props.NVal)
	if p.n == 0 {
		return nil, &UnavailableError{Op: "put", Reason: "no members"}
	}
	if _, _, _, err := writeQuorums(o, props, p.n); err != nil {
		return nil, err
	}
	v := versioning.Value{Data: data, ContentType: OpContentType, LastModified: c.cfg.Now().UnixNano()}
	return c.write(ctx, "update", p, versioning.New(nil, v), o, props)
}

func checkOp(props Props, op crdt.Op) error {
	t := datatypeOf(props)
	if t == 0 {
		return fmt.Errorf("%w: the bucket has no datatype (set its datatype property to %v)", ErrConflict, op.Type)
	}
	if op.Type != t {
		return fmt.Errorf("%w: a %v operation on a %v bucket", ErrConflict, op.Type, t)
	}
	if err := op.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return nil
}

// isOpWrite reports whether a write carries a data-type operation.
func isOpWrite(client versioning.Clock) bool {
	return len(client.Anon) == 1 && client.Anon[0].ContentType == OpContentType
}

// applyDatatype turns a write on a datatype bucket into what the
// coordinator stores, with the actor it mints with: an operation becomes
// the join of the local states with the operation applied, written over
// the whole local clock; any other write must carry states of the type
// (a read's join written back). On a plain bucket, an operation is
// refused. The hot path of plain buckets costs one comparison.
func applyDatatype(local versioning.Clock, client versioning.Clock, actor versioning.ActorID, props Props) (versioning.Clock, error) {
	t := datatypeOf(props)
	if t == 0 {
		if isOpWrite(client) {
			return client, fmt.Errorf("%w: the bucket has no datatype", ErrConflict)
		}
		return client, nil
	}
	if !isOpWrite(client) {
		for _, v := range client.Anon {
			if v.Deleted {
				return client, fmt.Errorf("%w: keys of a %v bucket are not deleted", ErrConflict, t)
			}
			s, err := crdt.DecodeState(v.Data)
			if err != nil || s.Type != t {
				return client, fmt.Errorf("%w: a %v bucket stores only %v states (use /types)", ErrConflict, t, t)
			}
		}
		return client, nil
	}
	op, err := crdt.DecodeOp(client.Anon[0].Data)
	if err != nil {
		return client, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if op.Type != t {
		return client, fmt.Errorf("%w: a %v operation on a %v bucket", ErrConflict, op.Type, t)
	}
	base, err := JoinStates(t, versioning.Values(local))
	if err != nil {
		return client, err
	}
	now := client.Anon[0].LastModified
	next, err := crdt.Apply(base, op, actor, now)
	if err != nil {
		return client, opError(err)
	}
	v := versioning.Value{Data: next.Encode(), ContentType: StateContentType(t), LastModified: now}
	if int64(len(v.Data)) > props.MaxValueBytes {
		return client, fmt.Errorf("%w: the state would be %d bytes, max_value_bytes is %d", ErrTooLarge, len(v.Data), props.MaxValueBytes)
	}
	return versioning.New(versioning.Join(local), v), nil
}

// opError maps an error of crdt.Apply to the quorum sentinel a client
// sees.
func opError(err error) error {
	switch {
	case errors.Is(err, crdt.ErrNoContext), errors.Is(err, crdt.ErrNotSeen):
		return fmt.Errorf("%w: %w", ErrPrecondition, err)
	case errors.Is(err, crdt.ErrType):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case errors.Is(err, crdt.ErrBadOp), errors.Is(err, crdt.ErrOverflow):
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return err
}

// JoinStates joins the states among vs (tombstones skipped) into one
// state of type t; none gives the empty state. A value that is not a
// state of type t is ErrConflict.
func JoinStates(t crdt.Type, vs []versioning.Value) (crdt.State, error) {
	s := crdt.New(t)
	for _, v := range vs {
		if v.Deleted {
			continue
		}
		vs, err := crdt.DecodeState(v.Data)
		if err != nil || vs.Type != t {
			return crdt.State{}, fmt.Errorf("%w: the key holds a value that is not a %v state", ErrConflict, t)
		}
		if s, err = crdt.Join(s, vs); err != nil {
			return crdt.State{}, fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	return s, nil
}

// joinSiblings is the read path of a datatype bucket whose read found
// several states: it answers their join, one value, and writes it back
// as the resolver write-back does (a new dot whose context is the read's
// joined history), so storage collapses too. Values that are not states
// of the type stay as they are, with a warning.
func (c *Coordinator) joinSiblings(ctx context.Context, p placement, props Props, obj *Object) *Object {
	t := datatypeOf(props)
	vs := versioning.Values(obj.Clock)
	s, err := JoinStates(t, vs)
	if err != nil {
		obj.Warning = "a sibling is not a " + t.String() + " state"
		return obj
	}
	var last int64
	for _, v := range vs {
		last = max(last, v.LastModified)
	}
	v := versioning.Value{Data: s.Encode(), ContentType: StateContentType(t), LastModified: last}
	client := versioning.New(obj.Context, v)
	written, err := c.write(ctx, "resolve", p, client, WriteOptions{}, props)
	if err != nil {
		c.m.resolutions.WithLabelValues("unwritten").Inc()
		c.log.Debug("joined state not written back", "bucket", p.key.Bucket, "err", err)
		return &Object{Clock: client, Context: obj.Context, Replicas: obj.Replicas}
	}
	c.m.resolutions.WithLabelValues("ok").Inc()
	if wvs := versioning.Values(written.Clock); len(wvs) > 1 {
		// An update raced the write-back: answer the join of both.
		if js, err := JoinStates(t, wvs); err == nil {
			v.Data = js.Encode()
			return &Object{Clock: versioning.New(written.Context, v), Context: written.Context, Replicas: written.Replicas}
		}
	}
	return written
}
