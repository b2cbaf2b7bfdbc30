package resolve

import (
	"context"
	"fmt"

	"github.com/dynamod/dynamod/versioning"
)

// ContentTypeJSON is the content type of every value the JSON merges
// produce (tombstones excepted: they have none).
const ContentTypeJSON = "application/json"

// jsonMerge is a join-semilattice on the states S that one kind of JSON
// document stands for, together with its codec. parse and encode must be
// inverse on encode's image (parse(encode(s)) is s), join must be
// commutative, associative and idempotent, and bottom its identity. The
// merge of a set of documents is then encode(join(parse(d) for each d)),
// which inherits the laws and does not depend on order or duplication.
type jsonMerge[S any] struct {
	name string // the spec name, for messages
	want string // what a valid value is, for messages: "a JSON array"
	// parse reads one document; the error wraps ErrInvalidValue.
	parse func(data []byte) (S, error)
	// bottom returns the empty state, the meaning of a tombstone.
	bottom func() S
	// join merges src into dst and returns the result. It may modify dst
	// and take parts of src: src must not be used afterwards.
	join func(dst, src S) S
	// encode writes the canonical document of s.
	encode func(s S) []byte
}

// mergeBytes is the library form: it merges documents, failing on the
// first one that is not valid. No documents merge to encode(bottom()).
func (m *jsonMerge[S]) mergeBytes(docs [][]byte) ([]byte, error) {
	acc := m.bottom()
	for i, d := range docs {
		s, err := m.parse(d)
		if err != nil {
			return nil, fmt.Errorf("resolve: %s: value %d: %w", m.name, i, err)
		}
		acc = m.join(acc, s)
	}
	return m.encode(acc), nil
}

// resolve is the [Resolver] form. A tombstone sibling stands for bottom (a
// concurrent write wins over a delete); a sibling that does not parse goes
// to Result.Invalid. The result is a tombstone when every valid sibling is
// one; its LastModified, Meta and expiry come from the valid siblings (see
// mergeMeta, latestExpiry).
func (m *jsonMerge[S]) resolve(_ context.Context, in Input) (Result, error) {
	acc := m.bottom()
	live := false
	var valid, invalid []versioning.Value
	for _, v := range in.Siblings {
		if v.Deleted {
			valid = append(valid, v)
			continue
		}
		s, err := m.parse(v.Data)
		if err != nil {
			invalid = append(invalid, v)
			continue
		}
		valid = append(valid, v)
		acc = m.join(acc, s)
		live = true
	}
	if len(valid) == 0 {
		return Result{}, fmt.Errorf("%s: %w: none of %d siblings is %s", m.name, ErrNoValue, len(in.Siblings), m.want)
	}
	res := Result{Value: versioning.Value{
		LastModified: maxModified(valid),
		Meta:         mergeMeta(valid),
		Expires:      latestExpiry(valid),
	}}
	if live {
		res.Value.Data = m.encode(acc)
		res.Value.ContentType = ContentTypeJSON
	} else {
		res.Value.Deleted = true
	}
	if len(invalid) > 0 {
		res.Invalid = canonicalValues(invalid)
		n := len(res.Invalid)
		res.Warning = fmt.Sprintf("%s: %d %s not %s; kept as siblings", m.name, n, plural(n, "sibling is", "siblings are"), m.want)
	}
	return res, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
