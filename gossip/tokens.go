package gossip

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on token entries. Gossip carries client tokens as opaque records:
// it checks their shape and sizes, and package auth (through the node)
// gives them meaning.
const (
	tokenIDLen     = 24 // hex of 12 bytes
	tokenHashLen   = 32 // SHA-256
	maxTokenName   = 128
	maxTokenGrants = 64
	maxGrantLen    = 6 + 255 // "admin:" and a bucket name
)

// ErrInvalidToken: a token record was rejected (bad id, name, hash or
// grants).
var ErrInvalidToken = errors.New("gossip: invalid token")

// ErrTokenRevoked: a revoked token cannot be changed (revocation is final).
var ErrTokenRevoked = errors.New("gossip: token is revoked")

// Token is a client token as the cluster state carries it: everything but
// its secret (package auth says what it means).
type Token struct {
	ID      string // 24 lower-case hex digits
	Name    string
	Hash    []byte // SHA-256 of the secret
	Grants  []string
	Created time.Time // kept to the millisecond
	Revoked bool
}

// tokenEntry is one token in the cluster state. A revoked token stays as
// an entry with Revoked set, and a revoked entry wins over any entry that
// is not, whatever its version: revocation is never undone.
type tokenEntry struct {
	Ver     uint64   `json:"ver"`
	Origin  string   `json:"origin"`
	Name    string   `json:"name"`
	Hash    string   `json:"hash"` // hex
	Grants  []string `json:"grants,omitempty"`
	Created int64    `json:"created"` // Unix milliseconds
	Revoked bool     `json:"revoked,omitempty"`
}

// compareToken totally orders token entries: revoked above not revoked,
// then version, origin and content, so that the per-entry max is a join
// and a revocation absorbs every concurrent or later grant change.
func compareToken(a, b tokenEntry) int {
	if a.Revoked != b.Revoked {
		if a.Revoked {
			return 1
		}
		return -1
	}
	return cmp.Or(
		cmp.Compare(a.Ver, b.Ver),
		strings.Compare(a.Origin, b.Origin),
		strings.Compare(a.Name, b.Name),
		strings.Compare(a.Hash, b.Hash),
		slices.Compare(a.Grants, b.Grants),
		cmp.Compare(a.Created, b.Created),
	)
}

// checkToken validates one token entry from a peer or from disk.
func checkToken(id string, e tokenEntry) error {
	if err := checkEntryID(e.Ver, e.Origin); err != nil {
		return err
	}
	return checkTokenFields(id, e)
}

// checkTokenFields validates what a token entry says, its version aside.
func checkTokenFields(id string, e tokenEntry) error {
	if !validTokenID(id) {
		return errors.New("bad id")
	}
	if e.Name == "" || len(e.Name) > maxTokenName || !utf8.ValidString(e.Name) {
		return fmt.Errorf("name must be 1..%d bytes of UTF-8", maxTokenName)
	}
	if h, err := hex.DecodeString(e.Hash); err != nil || len(h) != tokenHashLen || e.Hash != strings.ToLower(e.Hash) {
		return fmt.Errorf("hash must be %d bytes in lower-case hex", tokenHashLen)
	}
	if len(e.Grants) > maxTokenGrants {
		return fmt.Errorf("%d grants (max %d)", len(e.Grants), maxTokenGrants)
	}
	for _, g := range e.Grants {
		if g == "" || len(g) > maxGrantLen || !utf8.ValidString(g) {
			return fmt.Errorf("grant of %d bytes (want 1..%d of UTF-8)", len(g), maxGrantLen)
		}
	}
	if e.Created < 0 || e.Created > 1<<50 {
		return errors.New("created time out of range")
	}
	return nil
}

func validTokenID(id string) bool {
	if len(id) != tokenIDLen {
		return false
	}
	for i := range len(id) {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkTokens validates every token entry of w.
func checkTokens(w wireState) error {
	for id, e := range w.Tokens {
		if err := checkToken(id, e); err != nil {
			return fmt.Errorf("%w: token %q: %w", errMalformed, id, err)
		}
	}
	return nil
}

// Tokens returns every token of the cluster state, revoked ones included,
// sorted by id. The caller owns the result. Changes signals after a token
// changed, so a reader refreshes its own snapshot there.
func (g *Gossip) Tokens() []Token {
	g.mu.Lock()
	out := make([]Token, 0, len(g.state.tokens))
	for id, e := range g.state.tokens {
		h, _ := hex.DecodeString(e.Hash) // validated
		out = append(out, Token{
			ID: id, Name: e.Name, Hash: h, Grants: slices.Clone(e.Grants),
			Created: time.UnixMilli(e.Created).UTC(), Revoked: e.Revoked,
		})
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b Token) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// PutToken writes t cluster-wide as a new version of its entry: a new
// token, new grants, or its revocation (Revoked set). A token already
// revoked cannot change (ErrTokenRevoked); an id must keep its hash. The
// entry is broadcast at once, like bucket properties; PutToken does not
// wait for other nodes.
func (g *Gossip) PutToken(t Token) error {
	e := tokenEntry{
		Name: t.Name, Hash: hex.EncodeToString(t.Hash), Grants: slices.Clone(t.Grants),
		Created: t.Created.UnixMilli(), Revoked: t.Revoked,
	}
	if err := checkTokenFields(t.ID, e); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if g.isClosed() {
		return ErrClosed
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, ok := g.state.tokens[t.ID]; ok {
		if cur.Revoked {
			return fmt.Errorf("gossip: token %s: %w", t.ID, ErrTokenRevoked)
		}
		if cur.Hash != e.Hash {
			return fmt.Errorf("%w: token %s: the hash of an id never changes", ErrInvalidToken, t.ID)
		}
	}
	e.Ver, e.Origin = g.state.tick(), g.cfg.Name
	g.state.tokens[t.ID] = e
	g.publishLocked(wireState{Tokens: map[string]tokenEntry{t.ID: e}}, true)
	return nil
}
