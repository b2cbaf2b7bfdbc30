package resolve

import (
	"errors"
	"testing"
)

func TestMergeObjects(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want string
	}{
		{"none", nil, `{}`},
		{"canonicalizes one", []string{` { "b" : 1.0, "a" : [2, 1] } `}, `{"a":[2,1],"b":1}`},
		{"disjoint keys", []string{`{"a":1}`, `{"b":2}`}, `{"a":1,"b":2}`},
		{"equal values", []string{`{"a":1,"b":"x"}`, `{"a":1.0,"b":"x"}`}, `{"a":1,"b":"x"}`},
		{"scalar conflict", []string{`{"a":2}`, `{"a":1}`}, `{"a":{"_siblings":[1,2]}}`},
		{"three-way conflict", []string{`{"a":2}`, `{"a":"x"}`, `{"a":null}`}, `{"a":{"_siblings":["x",2,null]}}`},
		{"nested objects merge", []string{`{"p":{"x":1,"y":{"z":1}}}`, `{"p":{"y":{"w":2}}}`}, `{"p":{"x":1,"y":{"w":2,"z":1}}}`},
		{"nested conflict", []string{`{"p":{"x":1}}`, `{"p":{"x":2}}`}, `{"p":{"x":{"_siblings":[1,2]}}}`},
		{"arrays conflict as values", []string{`{"a":[1]}`, `{"a":[2]}`}, `{"a":{"_siblings":[[1],[2]]}}`},
		{"object against scalar", []string{`{"a":{"x":1}}`, `{"a":5}`, `{"a":{"y":2}}`}, `{"a":{"_siblings":[5,{"x":1,"y":2}]}}`},
		{"conflict set merges again", []string{`{"a":{"_siblings":[1,2]}}`, `{"a":3}`}, `{"a":{"_siblings":[1,2,3]}}`},
		{"conflict sets merge", []string{`{"a":{"_siblings":[1,2]}}`, `{"a":{"_siblings":[2,3]}}`}, `{"a":{"_siblings":[1,2,3]}}`},
		{"one-element conflict set is its element", []string{`{"a":{"_siblings":[1]}}`}, `{"a":1}`},
		{"nested conflict set is flattened", []string{`{"a":{"_siblings":[1,{"_siblings":[2,3]}]}}`}, `{"a":{"_siblings":[1,2,3]}}`},
		{"empty conflict set stays", []string{`{"a":{"_siblings":[]}}`}, `{"a":{"_siblings":[]}}`},
		{"empty conflict set is the identity", []string{`{"a":{"_siblings":[]}}`, `{"a":4}`}, `{"a":4}`},
		{"_siblings with more keys is an object", []string{`{"a":{"_siblings":[1],"b":2}}`}, `{"a":{"_siblings":[1],"b":2}}`},
		{"_siblings not an array is an object", []string{`{"a":{"_siblings":5}}`, `{"a":{"_siblings":6}}`}, `{"a":{"_siblings":{"_siblings":[5,6]}}}`},
		{"top level _siblings is a plain key", []string{`{"_siblings":[1,2]}`}, `{"_siblings":[1,2]}`},
		{"top level _siblings conflicts like any key", []string{`{"_siblings":[1]}`, `{"_siblings":[2]}`}, `{"_siblings":{"_siblings":[[1],[2]]}}`},
		// An object whose only key is _siblings, holding one array, is
		// written so that it does not read back as a conflict set.
		{"object that looks like a conflict set", []string{`{"a":{"_siblings":{"_siblings":[[1,2]]}}}`}, `{"a":{"_siblings":{"_siblings":[[1,2]]}}}`},
		{"duplicate key keeps the last", []string{`{"a":1,"a":2}`}, `{"a":2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MergeObjects(bs(tc.in...))
			if err != nil {
				t.Fatalf("MergeObjects: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("MergeObjects(%q) = %s, want %s", tc.in, got, tc.want)
			}
			again, err := MergeObjects([][]byte{got, got})
			if err != nil || string(again) != string(got) {
				t.Fatalf("not idempotent: MergeObjects(%s, %[1]s) = %s, %v", got, again, err)
			}
		})
	}
}

func TestMergeObjects_invalid(t *testing.T) {
	for _, bad := range []string{``, `[]`, `[{"a":1}]`, `1`, `"x"`, `null`, `{"a":1`, `{"a":1} {}`} {
		if _, err := MergeObjects(bs(`{}`, bad)); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("MergeObjects with %q: error = %v, want ErrInvalidValue", bad, err)
		}
	}
}
