package resolve

import (
	"errors"
	"testing"
)

func TestCanonicalNumber(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0"},
		{"-0", "0"},
		{"-0.0", "0"},
		{"0e5", "0"},
		{"12", "12"},
		{"-12", "-12"},
		{"12345678901234567890123", "12345678901234567890123"}, // integers keep every digit
		{"1.0", "1"},
		{"1e0", "1"},
		{"1E+2", "100"},
		{"1.5e3", "1500"},
		{"123456789.0", "123456789"},
		{"0.5", "0.5"},
		{"5e-1", "0.5"},
		{"0.0000001", "1e-07"},
		{"1e21", "1e+21"},
		{"1e20", "100000000000000000000"},
		{"1234567.5", "1.2345675e+06"},
		{"1e400", "1e400"}, // out of range: as written
		{"-1e400", "-1e400"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := canonicalNumber(tc.in)
			if got != tc.want {
				t.Fatalf("canonicalNumber(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := canonicalNumber(got); again != got {
				t.Fatalf("not idempotent: canonicalNumber(%q) = %q", got, again)
			}
		})
	}
}

func TestAppendString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\n\r\t\x01\x1f", `"\n\r\t\u0001\u001f"`},
		{"<&>é\u2028日本", "\"<&>é\u2028日本\""},
		{"bad\xffutf8", "\"bad\ufffdutf8\""},
	} {
		if got := string(appendString(nil, tc.in)); got != tc.want {
			t.Errorf("appendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestDecodeCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{` { "b" : [ 1.0 , true , null ] , "a" : "\u0041" } `, `{"a":"A","b":[1,true,null]}`},
		{`{"a":1,"a":2}`, `{"a":2}`}, // a repeated key keeps its last value
		{`"\ud83d\ude00"`, `"😀"`},
		{`[]`, `[]`},
		{`{}`, `{}`},
	} {
		v, err := decodeJSON([]byte(tc.in))
		if err != nil {
			t.Fatalf("decodeJSON(%q): %v", tc.in, err)
		}
		if got := string(appendCanonical(nil, v)); got != tc.want {
			t.Errorf("canonical(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", " ", "nul", "[1,]", "[1] [2]", "[1] x", "{", `{"a"}`, "01", "'a'", "NaN"} {
		if _, err := decodeJSON([]byte(bad)); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("decodeJSON(%q) error = %v, want ErrInvalidValue", bad, err)
		}
	}
}
