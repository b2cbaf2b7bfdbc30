package auth

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// seq is a deterministic random source for tests.
func seq(start byte) io.Reader {
	b := make([]byte, 256)
	for i := range b {
		b[i] = start + byte(i)
	}
	return bytes.NewReader(b)
}

var now = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func mustGrants(t *testing.T, ss ...string) []Grant {
	t.Helper()
	gs, err := ParseGrants(ss)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

func TestParseGrant(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Grant
		err  string
	}{
		{in: "admin", want: ClusterAdmin},
		{in: "read:b", want: Grant{Read, "b"}},
		{in: "write:*", want: Grant{Write, "*"}},
		{in: "admin:x", want: Grant{Admin, "x"}},
		{in: "read:a:b", want: Grant{Read, "a:b"}}, // the first colon splits
		{in: "", err: "want read:BUCKET"},
		{in: "read", err: "want read:BUCKET"},
		{in: "read:", err: "bucket must be"},
		{in: "delete:b", err: `unknown permission "delete"`},
		{in: "READ:b", err: "unknown permission"},
		{in: "read:\xff", err: "bucket must be"},
		{in: "read:" + strings.Repeat("b", 256), err: "bucket must be"},
		{in: "read:" + strings.Repeat("b", 300), err: "longer than"},
		{in: "admin:", err: "bucket must be"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			g, err := ParseGrant(tc.in)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrBadGrant) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseGrant(%q) = %v, %v; want an ErrBadGrant with %q", tc.in, g, err, tc.err)
				}
				return
			}
			if err != nil || g != tc.want {
				t.Fatalf("ParseGrant(%q) = %v, %v; want %v", tc.in, g, err, tc.want)
			}
			if back, _ := ParseGrant(g.String()); back != g {
				t.Errorf("round trip of %q: %v", tc.in, back)
			}
		})
	}
}

func TestParseGrants(t *testing.T) {
	gs, err := ParseGrants([]string{"read:a", "read:a", "write:a"})
	if err != nil || len(gs) != 2 {
		t.Fatalf("duplicates: %v, %v", gs, err)
	}
	_, err = ParseGrants([]string{"read:a", "bogus", "nope:x"})
	if err == nil || !strings.Contains(err.Error(), "bogus") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("every bad grant is reported: %v", err)
	}
	if _, err := ParseGrants(make([]string, MaxGrants+1)); !errors.Is(err, ErrBadGrant) {
		t.Errorf("too many grants: %v", err)
	}
}

func TestGrantAllows(t *testing.T) {
	for _, tc := range []struct {
		grant, need string // need "admin" is cluster admin
		want        bool
	}{
		{"admin", "admin", true},
		{"admin", "read:b", true},
		{"admin", "write:b", true},
		{"admin", "admin:b", true},
		{"admin:b", "read:b", true},
		{"admin:b", "write:b", true},
		{"admin:b", "admin:b", true},
		{"admin:b", "read:c", false},
		{"admin:b", "admin", false},
		{"admin:*", "admin", false},
		{"admin:*", "write:c", true},
		{"read:b", "read:b", true},
		{"read:b", "write:b", false}, // read and write are separate
		{"write:b", "read:b", false},
		{"write:b", "write:b", true},
		{"write:b", "admin:b", false},
		{"read:*", "read:anything", true},
		{"read:*", "write:anything", false},
		{"read:b", "read:bb", false},
		{"read:b", "admin", false},
	} {
		g, _ := ParseGrant(tc.grant)
		need, _ := ParseGrant(tc.need)
		if got := g.Allows(need); got != tc.want {
			t.Errorf("%s allows %s = %v, want %v", tc.grant, tc.need, got, tc.want)
		}
	}
}

func TestNewAndParse(t *testing.T) {
	text, tok, err := New(seq(1), "ci", mustGrants(t, "read:b"), now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, Prefix) || !ValidID(tok.ID) || tok.Name != "ci" || !tok.Created.Equal(now) {
		t.Fatalf("token %q, %+v", text, tok)
	}
	id, secret, err := Parse(text)
	if err != nil || id != tok.ID || len(secret) != SecretBytes {
		t.Fatalf("Parse = %q, %x, %v", id, secret, err)
	}
	if tok.Hash != sha256.Sum256(secret) {
		t.Error("the stored hash is not SHA-256 of the secret")
	}
	if strings.Contains(text, string(tok.Hash[:])) {
		t.Error("hash leaked into the token")
	}
	// Two tokens from different randomness differ in id and secret.
	text2, tok2, _ := New(seq(100), "ci", nil, now)
	if tok2.ID == tok.ID || text2 == text {
		t.Error("tokens from different randomness are equal")
	}
	// A short random source is an error, not a weak token.
	if _, _, err := New(bytes.NewReader(make([]byte, 10)), "x", nil, now); err == nil {
		t.Error("New with too little randomness succeeded")
	}
	for _, name := range []string{"", strings.Repeat("n", MaxNameBytes+1), "a\nb", "\xff"} {
		if _, _, err := New(seq(1), name, nil, now); !errors.Is(err, ErrBadName) {
			t.Errorf("name %q: %v, want ErrBadName", name, err)
		}
	}
	if _, _, err := New(seq(1), "x", make([]Grant, MaxGrants+1), now); !errors.Is(err, ErrBadGrant) {
		t.Errorf("too many grants: %v", err)
	}
}

func TestParseMalformed(t *testing.T) {
	good, _, _ := New(seq(1), "x", nil, now)
	id, _, _ := Parse(good)
	for _, text := range []string{
		"", "Bearer x", "dmd_", "dmd__", "dmd_" + id, "dmd_" + id + "_",
		"dmd_" + strings.ToUpper(id) + good[len("dmd_")+len(id):],
		good + "A", good[:len(good)-1], "xyz" + good[3:],
		"dmd_" + id + "_" + strings.Repeat("!", 43),
	} {
		if _, _, err := Parse(text); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Parse(%q) = %v, want ErrUnauthenticated", text, err)
		}
	}
}

func TestSetCheck(t *testing.T) {
	readText, reader, _ := New(seq(1), "reader", mustGrants(t, "read:b"), now)
	adminText, admin, _ := New(seq(50), "root", mustGrants(t, "admin"), now)
	goneText, gone, _ := New(seq(100), "gone", mustGrants(t, "admin"), now)
	gone.Revoked = true
	s := NewSet([]Token{reader, admin, gone})
	if s.Active() != 2 {
		t.Errorf("Active = %d, want 2", s.Active())
	}

	if tok, err := s.Check(readText, Need(Read, "b")); err != nil || tok.ID != reader.ID {
		t.Errorf("reader reads b: %v", err)
	}
	if _, err := s.Check(readText, Need(Write, "b")); !errors.Is(err, ErrForbidden) {
		t.Errorf("reader writes b: %v, want ErrForbidden", err)
	}
	if _, err := s.Check(readText, ClusterAdmin); !errors.Is(err, ErrForbidden) {
		t.Errorf("reader is admin: %v, want ErrForbidden", err)
	}
	if _, err := s.Check(adminText, ClusterAdmin); err != nil {
		t.Errorf("admin: %v", err)
	}
	if _, err := s.Check(goneText, Need(Read, "b")); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("revoked token: %v, want ErrUnauthenticated", err)
	}
	if _, err := s.Check("", Need(Read, "b")); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("no token: %v", err)
	}
	// The right id with a wrong secret: the constant-time compare refuses.
	id, secret, _ := Parse(readText)
	secret[0] ^= 1
	forged := Prefix + id + "_" + secretEncoding.EncodeToString(secret)
	if _, err := s.Check(forged, Need(Read, "b")); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("wrong secret: %v, want ErrUnauthenticated", err)
	}
	if reader.Matches(secret) {
		t.Error("Matches accepts a wrong secret")
	}
	// An unknown id, and a nil set.
	other, _, _ := New(seq(200), "x", mustGrants(t, "admin"), now)
	if _, err := s.Check(other, Need(Read, "b")); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("unknown token: %v", err)
	}
	var none *Set
	if _, err := none.Check(adminText, Need(Read, "b")); !errors.Is(err, ErrUnauthenticated) || none.Active() != 0 {
		t.Errorf("nil set: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	good, _, _ := New(seq(1), "x", nil, now)
	for _, s := range []string{good, "", "dmd_", "dmd_0_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := Parse(s)
		if err == nil && (!ValidID(id) || len(secret) != SecretBytes) {
			t.Fatalf("Parse(%q) accepted %q %x", s, id, secret)
		}
		_, _ = ParseGrant(s)
	})
}

// BenchmarkSetCheck is the per-request cost of a token check over 1000
// tokens: go test -bench SetCheck ./auth/
func BenchmarkSetCheck(b *testing.B) {
	var ts []Token
	var text string
	for i := range 1000 {
		tx, tok, err := New(seq(byte(i)), "t", []Grant{{Read, "b"}, {Write, "c"}}, now)
		if err != nil {
			b.Fatal(err)
		}
		tok.ID = fmt.Sprintf("%024x", i) // seq repeats: give each its own id
		if i == 500 {
			text = Prefix + tok.ID + tx[len(Prefix)+2*IDBytes:]
		}
		ts = append(ts, tok)
	}
	s := NewSet(ts)
	need := Need(Write, "c")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Check(text, need); err != nil {
			b.Fatal(err)
		}
	}
}
