package resolve

import (
	"bytes"
	"errors"
	"math/bits"
	"testing"
)

// fuzzMerge checks a merge on two arbitrary documents: it never panics, and
// on valid input it is canonical, idempotent and commutative, and absorbs
// its inputs.
func fuzzMerge(t *testing.T, merge func([][]byte) ([]byte, error), a, b []byte) {
	ma, errA := merge([][]byte{a})
	mb, errB := merge([][]byte{b})
	ab, errAB := merge([][]byte{a, b})
	if (errA == nil && errB == nil) != (errAB == nil) {
		t.Fatalf("merge(a)=%v, merge(b)=%v, but merge(a,b)=%v", errA, errB, errAB)
	}
	if errA == nil {
		for _, in := range [][][]byte{{ma}, {ma, ma}, {a, a}, {ma, a}} {
			if got, err := merge(in); err != nil || !bytes.Equal(got, ma) {
				t.Fatalf("merge(%q) = %q, %v; want %q", in, got, err, ma)
			}
		}
	}
	if errAB != nil {
		return
	}
	if ba, err := merge([][]byte{b, a}); err != nil || !bytes.Equal(ab, ba) {
		t.Fatalf("not commutative: %q and %q", ab, ba)
	}
	for _, in := range [][][]byte{{ab, a}, {ab, mb}, {ma, mb}} {
		if got, err := merge(in); err != nil || !bytes.Equal(got, ab) {
			t.Fatalf("merge(%q) = %q, %v; want %q", in, got, err, ab)
		}
	}
}

func FuzzSetUnion(f *testing.F) {
	for _, s := range [][2]string{
		{`[]`, `[]`}, {`["milk","eggs"]`, `["bread","milk"]`}, {`[1, 1.0, -0, 1e400]`, `[{"b":1,"a":[null]}]`},
		{`["\u0041", "\ud83d\ude00"]`, `[true,false,null]`}, {`x`, `[1]`}, {`{"a":1}`, `[[[]]]`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) { fuzzMerge(t, SetUnion, a, b) })
}

func FuzzMergeObjects(f *testing.F) {
	for _, s := range [][2]string{
		{`{}`, `{}`}, {`{"a":1}`, `{"a":2}`}, {`{"a":{"x":1}}`, `{"a":5,"b":[1]}`},
		{`{"a":{"_siblings":[1,{"_siblings":[2]}]}}`, `{"a":{"_siblings":{"_siblings":[[1]]}}}`},
		{`{"_siblings":[1]}`, `{"a":{"_siblings":[]}}`}, {`[1]`, `{"a":1}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) { fuzzMerge(t, MergeObjects, a, b) })
}

func FuzzMergeCounters(f *testing.F) {
	for _, s := range [][2]string{
		{`{}`, `{}`}, {`{"a":1,"b":2}`, `{"a":3}`}, {`{"a":18446744073709551615}`, `{"a":-1}`}, {`{"a":1,"a":0}`, `[]`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		fuzzMerge(t, MergeCounters, a, b)
		m, err := MergeCounters([][]byte{a, b})
		if err != nil {
			return
		}
		c, err := parseCounter(m)
		if err != nil {
			t.Fatalf("merged counter %q does not parse: %v", m, err)
		}
		var sum, carry uint64
		for _, n := range c {
			var k uint64
			sum, k = bits.Add64(sum, n, 0)
			carry |= k
		}
		got, err := CounterSum(m)
		if carry != 0 && !errors.Is(err, ErrInvalidValue) || carry == 0 && (err != nil || got != sum) {
			t.Fatalf("CounterSum(%q) = %d, %v; want %d (overflow %v)", m, got, err, sum, carry != 0)
		}
	})
}

func FuzzWebhookAnswer(f *testing.F) {
	for _, s := range []string{`{"value":"eA==","content_type":"text/plain"}`, `{"deleted":true}`, `{"value":"!!"}`, `null`, `{"value":"eA=="} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeWebhookAnswer(b, 8)
		if err == nil && (len(v.Data) > 8 || v.Deleted && v.Data != nil) {
			t.Fatalf("decodeWebhookAnswer(%q) = %+v", b, v)
		}
	})
}
