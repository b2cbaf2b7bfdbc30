package resolve

import (
	"bytes"
	"fmt"
	"slices"
)

// SiblingsKey is the key of a conflict set in [MergeObjects] results.
const SiblingsKey = "_siblings"

// MergeObjects merges JSON objects key by key:
//
//   - A key present in some objects only is kept with its value: a missing
//     key is not a conflict (so a key one writer removed comes back if a
//     concurrent writer kept it).
//   - Values that are equal (as JSON, see [SetUnion] for how values are
//     compared) are kept once.
//   - Object values are merged recursively by these same rules.
//   - Otherwise the values conflict, and the key gets a conflict set: the
//     object {"_siblings": [v1, v2, ...]} holding each distinct non-object
//     value once, plus, if any of the values were objects, their recursive
//     merge as one more element, all sorted by canonical JSON. Arrays are
//     values like any other: two different arrays under one key conflict.
//
// Below the top level, an object whose only key is "_siblings" holding an
// array is read as a conflict set, not as a plain object, so a merged result
// merges again cleanly: merging {"k": {"_siblings": [1, 2]}} with {"k": 3}
// gives {"k": {"_siblings": [1, 2, 3]}}, and a conflict set with one element
// is just that element. To settle a conflict, write a plain value under the
// key with the context of the merged read. (An object whose only key is
// "_siblings" holding something else is a plain object; in the rare case
// where it would be written as one that looks like a conflict set, its value
// is written as a one-element conflict set.)
//
// The result is canonical JSON; no arguments give {}. An argument that is
// not a JSON object is an error wrapping [ErrInvalidValue]. The rule is
// commutative, associative and idempotent: the order of the arguments and
// duplicates never change the result.
func MergeObjects(values [][]byte) ([]byte, error) { return objectMerge.mergeBytes(values) }

// MergeObjectsResolver resolves by [MergeObjects]. Siblings that are not JSON
// objects come back in Result.Invalid; a tombstone counts as the empty
// object, so a concurrent write wins over a delete.
var MergeObjectsResolver Resolver = Func(objectMerge.resolve)

// node is the state a JSON value in value position stands for: a set of
// distinct non-object values (by canonical encoding) and at most one object,
// the merge of every object value. One element is a plain value; any other
// number is a conflict set.
type node struct {
	scalars set              // canonical encodings of non-object values; nil if none
	obj     map[string]*node // nil: no object value
}

var objectMerge = &jsonMerge[map[string]*node]{
	name:   SpecMergeObjects,
	want:   "a JSON object",
	parse:  parseTopObject,
	bottom: func() map[string]*node { return map[string]*node{} },
	join:   joinObjects,
	encode: func(o map[string]*node) []byte { return appendObject(nil, o, true) },
}

func parseTopObject(data []byte) (map[string]*node, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidValue)
	}
	return parseObject(m), nil
}

func parseObject(m map[string]any) map[string]*node {
	o := make(map[string]*node, len(m))
	for k, v := range m {
		n := &node{}
		addValue(n, v)
		o[k] = n
	}
	return o
}

// addValue merges the value v, in value position, into n.
func addValue(n *node, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		if n.scalars == nil {
			n.scalars = set{}
		}
		n.scalars[string(appendCanonical(nil, v))] = struct{}{}
		return
	}
	if elems, ok := m[SiblingsKey].([]any); ok && len(m) == 1 {
		for _, e := range elems { // a conflict set
			addValue(n, e)
		}
		return
	}
	n.obj = joinObjects(n.obj, parseObject(m))
}

// joinObjects merges src into dst (either may be nil, meaning no object;
// the result is nil only if both are). src must not be used afterwards.
func joinObjects(dst, src map[string]*node) map[string]*node {
	if dst == nil {
		return src
	}
	for k, s := range src {
		if d, ok := dst[k]; ok {
			joinNodes(d, s)
		} else {
			dst[k] = s
		}
	}
	return dst
}

// joinNodes merges src into dst; src must not be used afterwards.
func joinNodes(dst, src *node) {
	if dst.scalars == nil {
		dst.scalars = src.scalars
	} else {
		for e := range src.scalars {
			dst.scalars[e] = struct{}{}
		}
	}
	dst.obj = joinObjects(dst.obj, src.obj)
}

// appendNode appends the encoding of n in value position.
func appendNode(dst []byte, n *node) []byte {
	elems := make([][]byte, 0, len(n.scalars)+1)
	for e := range n.scalars {
		elems = append(elems, []byte(e))
	}
	if n.obj != nil {
		elems = append(elems, appendObject(nil, n.obj, false))
	}
	if len(elems) == 1 {
		return append(dst, elems[0]...)
	}
	return appendConflict(dst, elems)
}

// appendConflict appends the conflict set of the encoded elements.
func appendConflict(dst []byte, elems [][]byte) []byte {
	slices.SortFunc(elems, bytes.Compare)
	dst = append(dst, `{"`+SiblingsKey+`":[`...)
	for i, e := range elems {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, e...)
	}
	return append(dst, "]}"...)
}

// appendObject appends the encoding of the object o. Below the top level,
// an object whose only key is "_siblings" would be read back as a conflict
// set if its value were written as an array; the value is then written as a
// one-element conflict set instead, which reads back as the same value.
func appendObject(dst []byte, o map[string]*node, top bool) []byte {
	dst = append(dst, '{')
	for i, k := range sortedKeys(o) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		v := appendNode(nil, o[k])
		if !top && len(o) == 1 && k == SiblingsKey && v[0] == '[' {
			v = appendConflict(nil, [][]byte{v})
		}
		dst = append(dst, v...)
	}
	return append(dst, '}')
}
