package storage

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

func TestKeyLayout(t *testing.T) {
	tests := []struct {
		name   string
		target string // hint keys only
		k      Key
		object string // want, as a Go string of bytes
		hint   string
	}{
		{
			name:   "plain",
			target: "n1",
			k:      Key{Hash: 0x0102030405060708, Bucket: "users", Key: "alice"},
			object: "o\x01\x02\x03\x04\x05\x06\x07\x08\x05usersalice",
			hint:   "h\x02n1\x01\x02\x03\x04\x05\x06\x07\x08\x05usersalice",
		},
		{
			name:   "emptyBucketAndKey",
			target: "x",
			k:      Key{Hash: 0},
			object: "o\x00\x00\x00\x00\x00\x00\x00\x00\x00",
			hint:   "h\x01x\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		},
		{
			name:   "binaryBytes",
			target: "a/\x00",
			k:      Key{Hash: math.MaxUint64, Bucket: "b\x00/", Key: "\x00\xff/ü"},
			object: "o\xff\xff\xff\xff\xff\xff\xff\xff\x03b\x00/\x00\xff/ü",
			hint:   "h\x03a/\x00\xff\xff\xff\xff\xff\xff\xff\xff\x03b\x00/\x00\xff/ü",
		},
		{
			name:   "longBucket",
			target: "t",
			k:      Key{Hash: 1, Bucket: string(bytes.Repeat([]byte("b"), 200)), Key: "k"},
			object: "o\x00\x00\x00\x00\x00\x00\x00\x01\xc8\x01" + string(bytes.Repeat([]byte("b"), 200)) + "k",
			hint:   "h\x01t\x00\x00\x00\x00\x00\x00\x00\x01\xc8\x01" + string(bytes.Repeat([]byte("b"), 200)) + "k",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := appendObjectKey(nil, tc.k); string(got) != tc.object {
				t.Fatalf("object key = %q, want %q", got, tc.object)
			}
			if got := appendHintKey(nil, tc.target, tc.k); string(got) != tc.hint {
				t.Fatalf("hint key = %q, want %q", got, tc.hint)
			}
			k, err := parseObjectKey([]byte(tc.object))
			if err != nil || k != tc.k {
				t.Fatalf("parseObjectKey = %+v, %v; want %+v", k, err, tc.k)
			}
			target, k, err := parseHintKey([]byte(tc.hint))
			if err != nil || k != tc.k || target != tc.target {
				t.Fatalf("parseHintKey = %q %+v, %v; want %q %+v", target, k, err, tc.target, tc.k)
			}
		})
	}
}

func TestParseKey_malformed(t *testing.T) {
	objects := []string{
		"",
		"x\x00\x00\x00\x00\x00\x00\x00\x00\x00", // wrong prefix
		"o\x00\x00\x00",                         // truncated hash
		"o\x00\x00\x00\x00\x00\x00\x00\x00",     // no bucket length
		"o\x00\x00\x00\x00\x00\x00\x00\x00\x05ab",                                       // bucket longer than the rest
		"o\x00\x00\x00\x00\x00\x00\x00\x00\x81\x00b",                                    // non-minimal length
		"o\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", // overflow
	}
	for _, b := range objects {
		if k, err := parseObjectKey([]byte(b)); err == nil {
			t.Errorf("parseObjectKey(%q) = %+v, want an error", b, k)
		}
	}
	hints := []string{
		"",
		"o\x01n\x00\x00\x00\x00\x00\x00\x00\x00\x00", // wrong prefix
		"h\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",  // empty target
		"h\x09n1",         // target longer than the rest
		"h\x02n1\x00\x00", // truncated hash
		"h\x02n1\x00\x00\x00\x00\x00\x00\x00\x00\x03", // bucket longer than the rest
	}
	for _, b := range hints {
		if target, k, err := parseHintKey([]byte(b)); err == nil {
			t.Errorf("parseHintKey(%q) = %q %+v, want an error", b, target, k)
		}
	}
}

// TestObjectKey_orderAndUniqueness: object keys sort by hash, and distinct
// keys (even ones whose bucket and key concatenate alike) encode distinctly.
func TestObjectKey_orderAndUniqueness(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	parts := []string{"", "a", "b", "ab", "\x00", "\xff", "a/b"}
	randKey := func() Key {
		return Key{Hash: rng.Uint64N(4) << 62 >> rng.IntN(3), Bucket: parts[rng.IntN(len(parts))], Key: parts[rng.IntN(len(parts))]}
	}
	for range 5000 {
		a, b := randKey(), randKey()
		ea, eb := appendObjectKey(nil, a), appendObjectKey(nil, b)
		if (a == b) != bytes.Equal(ea, eb) {
			t.Fatalf("%+v and %+v: equality of encodings disagrees", a, b)
		}
		if a.Hash < b.Hash && bytes.Compare(ea, eb) >= 0 {
			t.Fatalf("%+v sorts after %+v", a, b)
		}
		start, end := objectRange(a.Hash, a.Hash)
		if bytes.Compare(ea, start) < 0 || (end != nil && bytes.Compare(ea, end) >= 0) {
			t.Fatalf("%+v outside its own hash range", a)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ in, want string }{
		{"h", "i"},
		{"h\x02n1", "h\x02n2"},
		{"h\x01\xff", "h\x02"},
		{"\xff\xff", ""},
	}
	for _, tc := range tests {
		got := prefixEnd([]byte(tc.in))
		if string(got) != tc.want || (tc.want == "" && got != nil) {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
