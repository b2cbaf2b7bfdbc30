package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Token format.
const (
	// Prefix starts every token, so that a secret scanner can find one.
	Prefix = "dmd_"
	// IDBytes and SecretBytes are the random bytes of a token's id and
	// secret.
	IDBytes     = 12
	SecretBytes = 32
	// HashBytes is the length of the stored hash (SHA-256).
	HashBytes = sha256.Size
	// MaxNameBytes bounds a token's name.
	MaxNameBytes = 128
)

var secretEncoding = base64.RawURLEncoding

// Errors of token checks and parsing.
var (
	// ErrUnauthenticated: no token, a malformed one, an unknown id, a wrong
	// secret or a revoked token (401).
	ErrUnauthenticated = errors.New("auth: unauthenticated")
	// ErrForbidden: a valid token without the grant the request needs
	// (403).
	ErrForbidden = errors.New("auth: forbidden")
	// ErrBadName: a token name that is empty, too long or not printable
	// UTF-8.
	ErrBadName = errors.New("auth: bad token name")
)

// Token is the stored form of a token: everything but the secret, whose
// SHA-256 it keeps.
type Token struct {
	ID      string
	Name    string
	Hash    [HashBytes]byte
	Grants  []Grant
	Created time.Time
	Revoked bool
}

// CheckName validates a token name: 1..MaxNameBytes bytes of printable
// UTF-8 (spaces allowed).
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameBytes || !utf8.ValidString(name) {
		return fmt.Errorf("%w: want 1..%d bytes of UTF-8", ErrBadName, MaxNameBytes)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %q has a control character", ErrBadName, name)
		}
	}
	return nil
}

// ValidID reports whether id has the form of a token id: 2·IDBytes
// lower-case hex digits.
func ValidID(id string) bool {
	if len(id) != 2*IDBytes {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// New makes a token named name with grants, created at now, drawing its id
// and secret from random (crypto/rand.Reader in production). It returns the
// token text, to be shown once, and the stored form.
func New(random io.Reader, name string, grants []Grant, now time.Time) (string, Token, error) {
	if err := CheckName(name); err != nil {
		return "", Token{}, err
	}
	if len(grants) > MaxGrants {
		return "", Token{}, fmt.Errorf("%w: %d grants, at most %d", ErrBadGrant, len(grants), MaxGrants)
	}
	var b [IDBytes + SecretBytes]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", Token{}, fmt.Errorf("auth: draw a token: %w", err)
	}
	id := hex.EncodeToString(b[:IDBytes])
	secret := b[IDBytes:]
	t := Token{ID: id, Name: name, Hash: sha256.Sum256(secret), Grants: append([]Grant(nil), grants...), Created: now}
	return Prefix + id + "_" + secretEncoding.EncodeToString(secret), t, nil
}

// Parse splits a token's text into its id and secret. Any malformed text
// is ErrUnauthenticated.
func Parse(text string) (id string, secret []byte, err error) {
	rest, ok := strings.CutPrefix(text, Prefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: not a dynamod token", ErrUnauthenticated)
	}
	// The id is hex, so the first '_' ends it; the secret (base64url) may
	// hold more.
	id, enc, ok := strings.Cut(rest, "_")
	if !ok || !ValidID(id) || len(enc) != secretEncoding.EncodedLen(SecretBytes) {
		return "", nil, fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	secret, err = secretEncoding.Strict().DecodeString(enc)
	if err != nil || len(secret) != SecretBytes {
		return "", nil, fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	return id, secret, nil
}

// Matches reports, in constant time, whether secret hashes to t's hash.
func (t Token) Matches(secret []byte) bool {
	h := sha256.Sum256(secret)
	return subtle.ConstantTimeCompare(h[:], t.Hash[:]) == 1
}

// Allows reports whether one of t's grants allows need. A revoked token
// allows nothing.
func (t Token) Allows(need Grant) bool {
	if t.Revoked {
		return false
	}
	for _, g := range t.Grants {
		if g.Allows(need) {
			return true
		}
	}
	return false
}

// Set is an immutable set of tokens by id, built once per change of the
// cluster's tokens and read by every request.
type Set struct {
	byID   map[string]Token
	active int
}

// NewSet indexes tokens by id (a later duplicate id replaces an earlier
// one). Each token's Grants is shared with the caller, and
// neither side may change it afterwards.
func NewSet(tokens []Token) *Set {
	s := &Set{byID: make(map[string]Token, len(tokens))}
	for _, t := range tokens {
		s.byID[t.ID] = t
	}
	for _, t := range s.byID {
		if !t.Revoked {
			s.active++
		}
	}
	return s
}

// Active counts the tokens not revoked. A nil Set has none.
func (s *Set) Active() int {
	if s == nil {
		return 0
	}
	return s.active
}

// Get returns the token with id.
func (s *Set) Get(id string) (Token, bool) {
	if s == nil {
		return Token{}, false
	}
	t, ok := s.byID[id]
	return t, ok
}

// Check authenticates the token text presented and checks that it allows
// need. It returns the token on success; ErrUnauthenticated when text is
// empty, malformed, unknown, revoked or has a wrong secret; ErrForbidden
// when the token is valid but lacks the grant. A nil Set knows no token.
func (s *Set) Check(text string, need Grant) (Token, error) {
	if text == "" {
		return Token{}, fmt.Errorf("%w: no token", ErrUnauthenticated)
	}
	id, secret, err := Parse(text)
	if err != nil {
		return Token{}, err
	}
	t, ok := s.Get(id)
	if !ok || !t.Matches(secret) {
		return Token{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	if t.Revoked {
		return Token{}, fmt.Errorf("%w: token %s is revoked", ErrUnauthenticated, id)
	}
	if !t.Allows(need) {
		return t, fmt.Errorf("%w: token %s lacks %s", ErrForbidden, id, need)
	}
	return t, nil
}

// All returns the tokens sorted by id. A nil Set has none.
func (s *Set) All() []Token {
	if s == nil {
		return nil
	}
	out := make([]Token, 0, len(s.byID))
	for _, t := range s.byID {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Token) int { return strings.Compare(a.ID, b.ID) })
	return out
}
