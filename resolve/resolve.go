package resolve

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/dynamod/dynamod/versioning"
)

// Input is what a resolver sees: the siblings of one key, in no particular
// order. Resolvers must not modify the siblings or keep them after Resolve
// returns.
type Input struct {
	Bucket, Key string
	Siblings    []versioning.Value
}

// Result is a resolver's answer.
type Result struct {
	// Value is the merged value. Its LastModified is the greatest of the
	// siblings it was merged from.
	Value versioning.Value
	// Invalid holds the siblings the resolver could not use (for example
	// values that are not JSON, for a JSON merge), unchanged, deduplicated
	// and in a canonical order. The caller keeps them as siblings next to
	// Value and reports them; they are never dropped.
	Invalid []versioning.Value
	// Warning, if not empty, is a one-line description of what went wrong
	// for the client (a warning header). It never contains values.
	Warning string
}

// Resolver merges the siblings of a key into one value.
//
// Implementations must be deterministic and insensitive to the order and
// duplication of siblings, and safe for concurrent use. Pure resolvers must
// also be merges in the algebraic sense, so that replicas which resolve
// independently converge: with f(a, b) meaning the resolver's Value for the
// siblings a and b, f(a, f(b, c)) == f(f(a, b), c), f(a, b) == f(b, a) and
// f(v, v) == v for every v that is itself a result.
//
// ctx bounds any I/O (see the webhook resolver). An error means "nothing was
// resolved": the caller returns the siblings unchanged, with a warning.
type Resolver interface {
	Resolve(ctx context.Context, in Input) (Result, error)
}

// Func adapts a function to [Resolver].
type Func func(ctx context.Context, in Input) (Result, error)

// Resolve calls f.
func (f Func) Resolve(ctx context.Context, in Input) (Result, error) { return f(ctx, in) }

var _ Resolver = Func(nil)

// Sentinel errors.
var (
	// ErrUnknown: a resolver spec that names no resolver.
	ErrUnknown = errors.New("resolve: unknown resolver")
	// ErrBadSpec: a malformed resolver spec or name (for example a webhook
	// URL that is not http or https, or a name that clashes with a
	// built-in).
	ErrBadSpec = errors.New("resolve: bad resolver spec")
	// ErrInvalidValue: a value the merge function cannot use (for example
	// not JSON, or JSON of the wrong type).
	ErrInvalidValue = errors.New("resolve: invalid value")
	// ErrNoValue: no sibling the resolver can use (all are invalid, or
	// there are none). Nothing was resolved.
	ErrNoValue = errors.New("resolve: no usable sibling")
	// ErrWebhook: a webhook call failed (timeout, connection error, non-2xx
	// status, malformed or oversized answer, too many calls in flight).
	// Nothing was resolved.
	ErrWebhook = errors.New("resolve: webhook failed")
)

// compareValues is a total order on values: LastModified, then Data, then
// ContentType, then Deleted (a tombstone before a live value), then Meta as
// a sorted list of pairs, then Expires. It returns 0 exactly when the
// values are versioning.ValueEqual.
func compareValues(a, b *versioning.Value) int {
	if c := cmp.Compare(a.LastModified, b.LastModified); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Data, b.Data); c != 0 {
		return c
	}
	if c := strings.Compare(a.ContentType, b.ContentType); c != 0 {
		return c
	}
	if a.Deleted != b.Deleted {
		if a.Deleted {
			return -1
		}
		return 1
	}
	if c := compareMeta(a.Meta, b.Meta); c != 0 {
		return c
	}
	return cmp.Compare(a.Expires, b.Expires)
}

func compareMeta(a, b map[string]string) int {
	ka, kb := sortedKeys(a), sortedKeys(b)
	for i := range min(len(ka), len(kb)) {
		if c := strings.Compare(ka[i], kb[i]); c != 0 {
			return c
		}
		if c := strings.Compare(a[ka[i]], b[kb[i]]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(ka), len(kb))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// canonicalValues returns vs sorted by [compareValues] without duplicates,
// in a fresh slice; the values themselves are not copied.
func canonicalValues(vs []versioning.Value) []versioning.Value {
	if len(vs) == 0 {
		return nil
	}
	out := slices.Clone(vs)
	slices.SortFunc(out, func(a, b versioning.Value) int { return compareValues(&a, &b) })
	return slices.CompactFunc(out, func(a, b versioning.Value) bool { return compareValues(&a, &b) == 0 })
}

// mergeMeta is the union of the values' metadata; when two values disagree
// on a name, the greater (byte-wise) string wins. nil if there is none.
func mergeMeta(vs []versioning.Value) map[string]string {
	var out map[string]string
	for i := range vs {
		for k, x := range vs[i].Meta {
			if out == nil {
				out = make(map[string]string)
			}
			if y, ok := out[k]; !ok || x > y {
				out[k] = x
			}
		}
	}
	return out
}

// latestExpiry is when a merge of vs expires: never (0) if any of them
// never does, else when the last of them does.
func latestExpiry(vs []versioning.Value) int64 {
	var t int64
	for _, v := range vs {
		if v.Expires == 0 {
			return 0
		}
		t = max(t, v.Expires)
	}
	return t
}

// maxModified is the greatest LastModified of vs, 0 if vs is empty.
func maxModified(vs []versioning.Value) int64 {
	var t int64
	for i, v := range vs {
		if i == 0 || v.LastModified > t {
			t = v.LastModified
		}
	}
	return t
}

// Failure classes: what [FailureClass] names. A client sees the class in
// a warning, never the error text, which may tell what the node can reach
// (a refused connection against a timeout is a port scan's answer too,
// but an error's text says much more: addresses, TLS details, bodies).
const (
	ClassTimeout    = "timeout"
	ClassRefused    = "refused"     // the connection failed
	ClassBadStatus  = "bad status"  // a non-2xx answer
	ClassBadAnswer  = "bad answer"  // malformed or oversized
	ClassBusy       = "busy"        // too many calls in flight
	ClassCanceled   = "canceled"    // the request ended first
	ClassNotAllowed = "not allowed" // the host is not on the allowlist
	ClassUnknown    = "unknown resolver"
	ClassNoValue    = "no usable sibling"
	ClassFailed     = "failed" // anything else
)

// classified is an error with its failure class.
type classified struct {
	class string
	err   error
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// FailureClass names the class of a resolver or lookup error: one of the
// Class constants.
func FailureClass(err error) string {
	var c *classified
	switch {
	case errors.As(err, &c):
		return c.class
	case errors.Is(err, ErrNotAllowed):
		return ClassNotAllowed
	case errors.Is(err, ErrUnknown), errors.Is(err, ErrBadSpec):
		return ClassUnknown
	case errors.Is(err, ErrNoValue):
		return ClassNoValue
	case errors.Is(err, context.DeadlineExceeded):
		return ClassTimeout
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	}
	return ClassFailed
}
