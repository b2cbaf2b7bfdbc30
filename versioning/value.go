package versioning

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// ValueEqual reports whether a and b hold the same payload and metadata.
// nil and empty Data are equal, and so are nil and empty Meta.
func ValueEqual(a, b Value) bool {
	return a.LastModified == b.LastModified &&
		a.Deleted == b.Deleted &&
		a.Expires == b.Expires &&
		a.ContentType == b.ContentType &&
		bytes.Equal(a.Data, b.Data) &&
		metaEqual(a.Meta, b.Meta)
}

func metaEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		if vb, ok := b[k]; !ok || va != vb {
			return false
		}
	}
	return true
}

// compareValue is a total order on values that agrees with [ValueEqual]:
// it returns 0 exactly when ValueEqual(a, b). It orders by LastModified
// first, so that sorting in descending order puts the newest value first.
func compareValue(a, b Value) int {
	if c := cmp.Compare(a.LastModified, b.LastModified); c != 0 {
		return c
	}
	if a.Deleted != b.Deleted {
		if a.Deleted {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(a.Expires, b.Expires); c != 0 {
		return c
	}
	if c := strings.Compare(a.ContentType, b.ContentType); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Data, b.Data); c != 0 {
		return c
	}
	return compareMeta(a.Meta, b.Meta)
}

// compareMeta orders metadata maps as their sorted (key, value) lists.
func compareMeta(a, b map[string]string) int {
	if metaEqual(a, b) {
		return 0
	}
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

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// cloneValue returns a deep copy of v.
func cloneValue(v Value) Value {
	if v.Data != nil {
		v.Data = bytes.Clone(v.Data)
	}
	if v.Meta != nil {
		m := make(map[string]string, len(v.Meta))
		for k, x := range v.Meta {
			m[k] = x
		}
		v.Meta = m
	}
	return v
}

// hasher feeds a canonical, unambiguous encoding of clocks and values into
// xxhash. Every variable-length field is length-prefixed; map entries are
// combined with a commutative sum so that iteration order does not matter.
type hasher struct {
	d    xxhash.Digest
	pair xxhash.Digest // scratch digest for one metadata pair
	buf  [8]byte
}

func (h *hasher) reset() { h.d.Reset() }

func (h *hasher) u64(x uint64) {
	binary.LittleEndian.PutUint64(h.buf[:], x)
	_, _ = h.d.Write(h.buf[:])
}

func (h *hasher) bytes(b []byte) {
	h.u64(uint64(len(b)))
	_, _ = h.d.Write(b)
}

func (h *hasher) str(s string) {
	h.u64(uint64(len(s)))
	_, _ = h.d.WriteString(s)
}

// value writes v's content. ValueEqual values write the same bytes.
func (h *hasher) value(v *Value) {
	h.bytes(v.Data)
	h.str(v.ContentType)
	h.u64(uint64(v.LastModified))
	if v.Deleted {
		h.u64(1)
	} else {
		h.u64(0)
	}
	if v.Expires != 0 { // only then: values without one hash as before
		h.u64(2)
		h.u64(uint64(v.Expires))
	}
	var sum uint64
	for k, x := range v.Meta {
		h.pair.Reset()
		binary.LittleEndian.PutUint64(h.buf[:], uint64(len(k)))
		_, _ = h.pair.Write(h.buf[:])
		_, _ = h.pair.WriteString(k)
		_, _ = h.pair.WriteString(x)
		sum += h.pair.Sum64()
	}
	h.u64(uint64(len(v.Meta)))
	h.u64(sum)
}

// valueHash is the content hash of v: equal values have equal hashes. It
// names anonymous siblings.
func valueHash(v *Value) uint64 {
	var h hasher
	h.reset()
	h.value(v)
	return h.d.Sum64()
}

// ExpiredAt reports whether v has expired at now (Unix nanoseconds): it
// has an expiry and now is not before it. An expired value reads as
// deleted.
func (v Value) ExpiredAt(now int64) bool {
	return v.Expires != 0 && now >= v.Expires
}
