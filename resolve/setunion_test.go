package resolve

import (
	"errors"
	"testing"
)

func TestSetUnion(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want string
	}{
		{"none", nil, `[]`},
		{"one empty", []string{`[]`}, `[]`},
		{"canonicalizes one", []string{` [ "b" , "a", "b" ] `}, `["a","b"]`},
		{"disjoint", []string{`["milk"]`, `["eggs"]`}, `["eggs","milk"]`},
		{"overlapping", []string{`["milk","eggs"]`, `["bread","milk"]`}, `["bread","eggs","milk"]`},
		{"equal numbers", []string{`[1, 1.0, 1e0, 10e-1]`}, `[1]`},
		{"equal objects", []string{`[{"a":1,"b":2}]`, `[{"b":2.0,"a":1}]`}, `[{"a":1,"b":2}]`},
		{"mixed types sorted by encoding", []string{`[null, true, "s", 2, [1], {"k":{}}]`}, `["s",2,[1],null,true,{"k":{}}]`},
		{"escapes", []string{`["\u0041", "A", "\"", "\u0022"]`}, `["A","\""]`},
		{"nested arrays are values", []string{`[[1,2]]`, `[[2,1]]`}, `[[1,2],[2,1]]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetUnion(bs(tc.in...))
			if err != nil {
				t.Fatalf("SetUnion: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("SetUnion(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestSetUnion_invalid(t *testing.T) {
	for _, bad := range []string{``, `x`, `{"a":1}`, `"[1]"`, `1`, `null`, `[1`, `[1] [2]`} {
		_, err := SetUnion(bs(`[1]`, bad))
		if !errors.Is(err, ErrInvalidValue) {
			t.Errorf("SetUnion with %q: error = %v, want ErrInvalidValue", bad, err)
		}
	}
}
