package versioning

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden (read the diff first)")

// goodContexts round-trip; the golden file pins their encodings.
var goodContexts = []struct {
	name string
	ctx  Context
}{
	{"one small", Context{{1, 1}}},
	{"two", Context{{actA, 3}, {actB, 200}}},
	{"random actors", Context{{0x0123456789abcdef, 1}, {0x9e3779b97f4a7c15, 1 << 20}, {0xfedcba9876543210, 42}}},
	{"extremes", Context{{0, 1}, {math.MaxUint64, math.MaxUint64}}},
}

func TestContext_roundTrip(t *testing.T) {
	for _, tc := range goodContexts {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.ctx.Encode()
			got, err := DecodeContext(s)
			if err != nil {
				t.Fatalf("DecodeContext(%q): %v", s, err)
			}
			if !slices.Equal(got, tc.ctx) {
				t.Fatalf("round trip: got %v, want %v", got, tc.ctx)
			}
			if strings.ContainsAny(s, "+/=") {
				t.Fatalf("%q is not unpadded base64url", s)
			}
			raw := tc.ctx.AppendBinary([]byte("prefix"))
			if !bytes.HasPrefix(raw, []byte("prefix")) {
				t.Fatalf("AppendBinary dropped the prefix")
			}
			bin, err := ParseContextBinary(raw[len("prefix"):])
			if err != nil || !slices.Equal(bin, tc.ctx) {
				t.Fatalf("ParseContextBinary: %v, %v", bin, err)
			}
			framed := append(tc.ctx.AppendBinary(nil), 0xff, 0xee)
			c, n, err := ConsumeContextBinary(framed)
			if err != nil || n != len(framed)-2 || !slices.Equal(c, tc.ctx) {
				t.Fatalf("ConsumeContextBinary = %v, %d, %v", c, n, err)
			}
			if want := 1 + len(tc.ctx)*8; len(raw)-len("prefix") < want || len(raw)-len("prefix") > want+len(tc.ctx)*10 {
				t.Fatalf("binary form has %d bytes", len(raw)-len("prefix"))
			}
		})
	}
}

func TestContext_empty(t *testing.T) {
	if s := Context(nil).Encode(); s != "" {
		t.Errorf("nil encodes as %q", s)
	}
	if s := (Context{}).Encode(); s != "" {
		t.Errorf("empty encodes as %q", s)
	}
	if c, err := DecodeContext(""); c != nil || err != nil {
		t.Errorf(`DecodeContext("") = %v, %v`, c, err)
	}
	if c, err := ParseContextBinary([]byte{0}); c != nil || err != nil {
		t.Errorf("ParseContextBinary(0) = %v, %v", c, err)
	}
	if b := Context(nil).AppendBinary(nil); !bytes.Equal(b, []byte{0}) {
		t.Errorf("nil AppendBinary = %x", b)
	}
}

// TestContext_golden pins the wire format of the Dynamod-Context header.
func TestContext_golden(t *testing.T) {
	var buf strings.Builder
	for _, tc := range goodContexts {
		fmt.Fprintf(&buf, "%s\t%x\t%s\n", tc.name, tc.ctx.AppendBinary(nil), tc.ctx.Encode())
	}
	path := filepath.Join("testdata", "context.golden")
	if *update {
		if err := os.WriteFile(path, []byte(buf.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != string(want) {
		t.Errorf("wire format changed:\n got:\n%s\nwant:\n%s", got, want)
	}
}

// enc is the header form of raw binary bytes.
func enc(b ...byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// entry is one binary entry with a one-byte counter.
func entry(actor byte, counter byte) []byte {
	return []byte{0, 0, 0, 0, 0, 0, 0, actor, counter}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var badContexts = []struct {
	name string
	s    string
	want string // in the error message
}{
	{"not base64", "!!!!", "base64"},
	{"standard alphabet", "+/+/", "base64"},
	{"padding", enc(cat([]byte{1}, entry(1, 1))...) + "==", "base64"},
	{"line break", enc(cat([]byte{1}, entry(1, 1))...)[:4] + "\n" + enc(cat([]byte{1}, entry(1, 1))...)[4:], "line break"},
	// "AQAAAAAAAAABAQ" with the four unused bits of the last digit set.
	{"nonzero trailing bits", "AQAAAAAAAAABAR", "base64"},
	{"single character", "A", "base64"},
	{"encoded empty", enc(0), "empty context"},
	{"truncated count", enc(0x80), "count: truncated"},
	{"count overflow", enc(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "overflows"},
	{"non-minimal count", enc(cat([]byte{0x81, 0x00}, entry(1, 1))...), "count: non-minimal"},
	{"absurd count", enc(cat([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, entry(1, 1))...), "cannot fit"},
	{"count too large for the bytes", enc(cat([]byte{2}, entry(1, 1))...), "cannot fit"},
	{"truncated actor", enc(cat([]byte{2}, entry(1, 0xff), bytes.Repeat([]byte{0xff}, 8), []byte{0x01})...), "entry 1: truncated actor"},
	{"truncated counter", enc(cat([]byte{1}, entry(1, 0x80))...), "counter: truncated"},
	{"non-minimal counter", enc(cat([]byte{1}, entry(1, 0x81), []byte{0x00})...), "counter: non-minimal"},
	{"zero counter", enc(cat([]byte{1}, entry(1, 0))...), "counter 0"},
	{"trailing byte", enc(cat([]byte{1}, entry(1, 1), []byte{7})...), "trailing"},
	{"unsorted actors", enc(cat([]byte{2}, entry(2, 1), entry(1, 1))...), "not sorted"},
	{"duplicate actors", enc(cat([]byte{2}, entry(1, 1), entry(1, 2))...), "not sorted"},
}

func TestDecodeContext_rejects(t *testing.T) {
	for _, tc := range badContexts {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeContext(tc.s)
			if !errors.Is(err, ErrBadContext) || c != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeContext(%q) = %v, %v; want ErrBadContext: …%s…", tc.s, c, err, tc.want)
			}
		})
	}
	if _, err := ParseContextBinary(nil); !errors.Is(err, ErrBadContext) {
		t.Errorf("ParseContextBinary(nil) = %v, want ErrBadContext", err)
	}
}

// FuzzDecodeContext: DecodeContext never panics, every error wraps
// ErrBadContext, and whatever decodes is a valid context that re-encodes to
// the same string. The raw bytes go through ParseContextBinary as well.
func FuzzDecodeContext(f *testing.F) {
	for _, tc := range goodContexts {
		f.Add(tc.ctx.Encode())
		f.Add(string(tc.ctx.AppendBinary(nil)))
	}
	for _, tc := range badContexts {
		f.Add(tc.s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeContext(s)
		if err != nil {
			if !errors.Is(err, ErrBadContext) {
				t.Fatalf("error %v does not wrap ErrBadContext", err)
			}
		} else {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("decoded an invalid context %v: %v", c, verr)
			}
			if got := c.Encode(); got != s {
				t.Fatalf("%q decoded to %v, which encodes as %q", s, c, got)
			}
		}
		b, err := ParseContextBinary([]byte(s))
		if err != nil {
			if !errors.Is(err, ErrBadContext) {
				t.Fatalf("binary error %v does not wrap ErrBadContext", err)
			}
			return
		}
		if verr := b.Validate(); verr != nil {
			t.Fatalf("parsed an invalid context %v: %v", b, verr)
		}
		if got := b.AppendBinary(nil); string(got) != s {
			t.Fatalf("%x parsed to %v, which encodes as %x", s, b, got)
		}
	})
}
