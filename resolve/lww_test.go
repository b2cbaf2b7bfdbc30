package resolve

import (
	"errors"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

func TestLastWriteWins(t *testing.T) {
	ct := func(v versioning.Value, ct string) versioning.Value { v.ContentType = ct; return v }
	meta := func(v versioning.Value, m map[string]string) versioning.Value { v.Meta = m; return v }
	for _, tc := range []struct {
		name string
		in   []versioning.Value
		want versioning.Value
	}{
		{"one", []versioning.Value{valAt("a", 1)}, valAt("a", 1)},
		{"newest wins", []versioning.Value{valAt("a", 1), valAt("b", 3), valAt("c", 2)}, valAt("b", 3)},
		{"newer tombstone wins", []versioning.Value{valAt("a", 1), tomb(2)}, tomb(2)},
		{"older tombstone loses", []versioning.Value{tomb(1), valAt("a", 2)}, valAt("a", 2)},
		{"tie: greater data", []versioning.Value{valAt("a", 5), valAt("b", 5), valAt("ab", 5)}, valAt("b", 5)},
		{"tie: greater content type", []versioning.Value{ct(valAt("a", 5), "text/plain"), ct(valAt("a", 5), "application/json")}, ct(valAt("a", 5), "text/plain")},
		{"tie: live over tombstone", []versioning.Value{tomb(5), valAt("", 5)}, valAt("", 5)},
		{"tie: greater meta", []versioning.Value{meta(valAt("a", 5), map[string]string{"k": "1"}), meta(valAt("a", 5), map[string]string{"k": "2"}), valAt("a", 5)}, meta(valAt("a", 5), map[string]string{"k": "2"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, in := range [][]versioning.Value{tc.in, reversed(tc.in)} {
				got, ok := LastWriteWins(in)
				if !ok || !versioning.ValueEqual(got, tc.want) {
					t.Fatalf("LastWriteWins(%s) = %s, %v; want %s", showAll(in), show(got), ok, show(tc.want))
				}
				res, err := LWWResolver.Resolve(t.Context(), Input{Siblings: in})
				if err != nil || !versioning.ValueEqual(res.Value, tc.want) || res.Invalid != nil || res.Warning != "" {
					t.Fatalf("LWWResolver = %+v, %v; want %s", res, err, show(tc.want))
				}
			}
		})
	}
	if _, ok := LastWriteWins(nil); ok {
		t.Error("LastWriteWins(nil) reported a value")
	}
	if _, err := LWWResolver.Resolve(t.Context(), Input{}); !errors.Is(err, ErrNoValue) {
		t.Errorf("LWWResolver on no siblings: error = %v, want ErrNoValue", err)
	}
}

func reversed[T any](s []T) []T {
	out := make([]T, len(s))
	for i, x := range s {
		out[len(s)-1-i] = x
	}
	return out
}
