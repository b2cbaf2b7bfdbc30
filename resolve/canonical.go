package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeJSON decodes exactly one JSON value from data. Numbers are kept as
// json.Number, so that no precision is lost before canonicalization.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %w", ErrInvalidValue, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: not JSON: data after the first value", ErrInvalidValue)
	}
	return v, nil
}

// appendCanonical appends the canonical JSON encoding of v, a value as
// decodeJSON returns it: no insignificant white space, object keys sorted
// byte-wise (a key that occurs twice keeps its last value, as decoding
// does), strings escaped minimally, numbers by [canonicalNumber]. Equal
// canonical encodings mean equal JSON values.
func appendCanonical(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, v)
	case json.Number:
		return append(dst, canonicalNumber(string(v))...)
	case string:
		return appendString(dst, v)
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendCanonical(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		dst = append(dst, '{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendCanonical(dst, v[k])
		}
		return append(dst, '}')
	default:
		// decodeJSON produces no other type.
		panic(fmt.Sprintf("resolve: canonical JSON of %T", v))
	}
}

// canonicalNumber normalizes a JSON number literal. An integer literal (no
// fraction, no exponent) is kept digit for digit, so that large integers
// keep their precision. Any other number is read as a float64: an integer
// value under 1e21 in magnitude is written as an integer (1.0 is 1, 1.5e3
// is 1500), any other in the shortest form that round-trips (0.5, 1e-07,
// 1e+21). -0 becomes 0 in every form, and a number out of float64 range is
// kept as written. So 1000000000000000000000 and 1e21 stay different. The
// function is idempotent.
func canonicalNumber(lit string) string {
	if !strings.ContainsAny(lit, ".eE") {
		if lit == "-0" {
			return "0"
		}
		return lit
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return lit
	}
	if f == 0 {
		return "0"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// appendString appends s as a JSON string, escaping only what JSON
// requires: the quote, the backslash and control characters. Invalid UTF-8
// becomes U+FFFD (decoding already does this, so it only matters for
// strings that did not come from JSON).
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\ufffd"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}
