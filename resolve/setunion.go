package resolve

import "fmt"

// SetUnion merges JSON arrays as sets: the result holds every element of
// every array once, in canonical JSON (no white space, object keys sorted,
// numbers normalized as described in the package doc), sorted byte-wise by
// that encoding. Elements are compared by their canonical encoding, so
// [1, {"a":1,"b":2}] and [{"b":2,"a":1}, 1.0] are the same set. The order of
// the arrays, the order within them and duplicates never change the result;
// no arrays give []. An argument that is not a JSON array is an error
// wrapping [ErrInvalidValue].
func SetUnion(values [][]byte) ([]byte, error) { return setUnion.mergeBytes(values) }

// SetUnionResolver resolves by [SetUnion]. Siblings that are not JSON
// arrays come back in Result.Invalid; a tombstone counts as the empty set.
var SetUnionResolver Resolver = Func(setUnion.resolve)

// set is a set of canonical JSON encodings.
type set map[string]struct{}

var setUnion = &jsonMerge[set]{
	name:   SpecSetUnion,
	want:   "a JSON array",
	parse:  parseSet,
	bottom: func() set { return set{} },
	join: func(dst, src set) set {
		for e := range src {
			dst[e] = struct{}{}
		}
		return dst
	},
	encode: encodeSet,
}

func parseSet(data []byte) (set, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON array", ErrInvalidValue)
	}
	s := make(set, len(arr))
	var buf []byte
	for _, e := range arr {
		buf = appendCanonical(buf[:0], e)
		s[string(buf)] = struct{}{}
	}
	return s, nil
}

func encodeSet(s set) []byte {
	elems := sortedKeys(s)
	n := 2 + max(len(elems)-1, 0)
	for _, e := range elems {
		n += len(e)
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, e := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, ']')
}
