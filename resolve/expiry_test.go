package resolve

import (
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

// TestResolve_expiry: a merge expires when the last of its siblings does,
// never if one of them never does; lww keeps the winner's own expiry and
// tells apart values that differ only in it (one total order).
func TestResolve_expiry(t *testing.T) {
	sib := func(data string, expires int64) versioning.Value {
		return versioning.Value{Data: []byte(data), ContentType: ContentTypeJSON, LastModified: 5, Expires: expires}
	}
	for _, tc := range []struct {
		name string
		in   []versioning.Value
		want int64
	}{
		{"all expire", []versioning.Value{sib(`["a"]`, 100), sib(`["b"]`, 300), sib(`["c"]`, 200)}, 300},
		{"one never", []versioning.Value{sib(`["a"]`, 100), sib(`["b"]`, 0)}, 0},
		{"none", []versioning.Value{sib(`["a"]`, 0), sib(`["b"]`, 0)}, 0},
	} {
		res, err := SetUnionResolver.Resolve(t.Context(), Input{Siblings: tc.in})
		if err != nil {
			t.Fatal(err)
		}
		if res.Value.Expires != tc.want {
			t.Errorf("%s: merge expires at %d, want %d", tc.name, res.Value.Expires, tc.want)
		}
	}
	a, b := sib(`1`, 100), sib(`1`, 200)
	if compareValues(&a, &b) >= 0 || compareValues(&b, &a) <= 0 {
		t.Fatal("values differing only in expiry compare equal")
	}
	for _, order := range [][]versioning.Value{{a, b}, {b, a}} {
		if w, _ := LastWriteWins(order); w.Expires != 200 {
			t.Fatalf("lww of %v kept expiry %d: the pick depends on the order", order, w.Expires)
		}
	}
}
