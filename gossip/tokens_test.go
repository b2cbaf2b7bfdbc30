package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

const (
	tokID  = "0123456789abcdef01234567"
	tokID2 = "fedcba9876543210fedcba98"
)

var tokHash = strings.Repeat("ab", 32)

func tokenWire(id string, e tokenEntry) wireState {
	return wireState{V: stateVersion, Tokens: map[string]tokenEntry{id: e}}
}

// TestMergeTokens_revocationWins: a revoked entry beats every entry that
// is not revoked, whatever the versions, in any order, so a grant change
// concurrent with (or later than) a revocation never brings a token back.
func TestMergeTokens_revocationWins(t *testing.T) {
	live := tokenEntry{Ver: 9, Origin: "b", Name: "ci", Hash: tokHash, Grants: []string{"admin"}}
	revoked := tokenEntry{Ver: 3, Origin: "a", Name: "ci", Hash: tokHash, Grants: []string{"read:x"}, Revoked: true}
	for _, order := range [][]tokenEntry{{live, revoked}, {revoked, live}} {
		s := apply(tokenWire(tokID, order[0]), tokenWire(tokID, order[1]))
		if got := s.tokens[tokID]; !got.Revoked {
			t.Errorf("after %v: token not revoked: %+v", order, got)
		}
	}
	// Among live entries the later version wins.
	older := live
	older.Ver, older.Grants = 2, []string{"read:x"}
	if got := apply(tokenWire(tokID, live), tokenWire(tokID, older)).tokens[tokID]; got.Ver != 9 {
		t.Errorf("older entry won: %+v", got)
	}
}

// TestMergeTokens_isJoin: the token part of merge is commutative,
// associative and idempotent over random entries.
func TestMergeTokens_isJoin(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	rnd := func() wireState {
		w := wireState{V: stateVersion, Tokens: map[string]tokenEntry{}}
		for range r.IntN(4) {
			w.Tokens[pick(tokID, tokID2)] = tokenEntry{
				Ver: uint64(1 + r.IntN(3)), Origin: pick("a", "b"), Name: pick("x", "y"), Hash: tokHash,
				Grants: [][]string{nil, {"admin"}, {"read:b"}}[r.IntN(3)], Revoked: r.IntN(3) == 0,
			}
		}
		return w
	}
	same := func(a, b *clusterState) bool {
		if len(a.tokens) != len(b.tokens) {
			return false
		}
		for k, v := range a.tokens {
			if compareToken(v, b.tokens[k]) != 0 {
				return false
			}
		}
		return true
	}
	for i := range 1000 {
		x, y, z := rnd(), rnd(), rnd()
		if !same(apply(x, y), apply(y, x)) {
			t.Fatalf("case %d: not commutative", i)
		}
		if !same(apply(apply(x, y).wire(""), z), apply(x, apply(y, z).wire(""))) {
			t.Fatalf("case %d: not associative", i)
		}
		if !same(apply(x, y, x, y), apply(x, y)) {
			t.Fatalf("case %d: not idempotent", i)
		}
	}
}

// TestDecodeState_rejectsBadTokens: one bad token entry rejects the whole
// message.
func TestDecodeState_rejectsBadTokens(t *testing.T) {
	good := tokenEntry{Ver: 1, Origin: "a", Name: "ci", Hash: tokHash, Grants: []string{"read:b"}, Created: 1}
	if _, err := decodeState(encodeState(tokenWire(tokID, good))); err != nil {
		t.Fatalf("good entry rejected: %v", err)
	}
	bad := map[string]func(id *string, e *tokenEntry){
		"short id":      func(id *string, e *tokenEntry) { *id = "abc" },
		"upper-case id": func(id *string, e *tokenEntry) { *id = strings.ToUpper(tokID) },
		"no version":    func(id *string, e *tokenEntry) { e.Ver = 0 },
		"huge version":  func(id *string, e *tokenEntry) { e.Ver = maxVersion + 1 },
		"no origin":     func(id *string, e *tokenEntry) { e.Origin = "" },
		"no name":       func(id *string, e *tokenEntry) { e.Name = "" },
		"long name":     func(id *string, e *tokenEntry) { e.Name = strings.Repeat("n", maxTokenName+1) },
		"short hash":    func(id *string, e *tokenEntry) { e.Hash = "abcd" },
		"non-hex hash":  func(id *string, e *tokenEntry) { e.Hash = strings.Repeat("zz", 32) },
		"too many":      func(id *string, e *tokenEntry) { e.Grants = make([]string, maxTokenGrants+1) },
		"empty grant":   func(id *string, e *tokenEntry) { e.Grants = []string{""} },
		"long grant":    func(id *string, e *tokenEntry) { e.Grants = []string{strings.Repeat("g", maxGrantLen+1)} },
		"negative time": func(id *string, e *tokenEntry) { e.Created = -1 },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			id, e := tokID, good
			mutate(&id, &e)
			w := tokenWire(id, e)
			w.Buckets = map[string]bucketEntry{"ok": {Ver: 1, Origin: "a", Props: []byte(`{}`)}}
			if _, err := decodeState(encodeState(w)); !errors.Is(err, errMalformed) {
				t.Errorf("decodeState accepted %s: %v", name, err)
			}
		})
	}
}

// TestGossip_tokensSpreadAndRevoke: a token put on one node reaches the
// others by broadcast alone (push-pull off), a revocation reaches them too,
// and a revoked token cannot be changed again.
func TestGossip_tokensSpreadAndRevoke(t *testing.T) {
	c := newCluster(t)
	c.tune = func(mc *memberlist.Config) {
		fastTimings(mc)
		mc.PushPullInterval = 0
	}
	nodes := c.startN("a", "b", "c")
	a, b := nodes[0], nodes[1]
	waitFor(t, settle, "all alive", allSee(func(g *Gossip) error { return seesAlive(g, "a", "b", "c") }, nodes...))

	hash := bytes.Repeat([]byte{7}, 32)
	created := time.UnixMilli(1_700_000_000_123).UTC()
	tok := Token{ID: tokID, Name: "ci", Hash: hash, Grants: []string{"read:b"}, Created: created}
	if err := a.PutToken(tok); err != nil {
		t.Fatal(err)
	}
	has := func(want Token) func(g *Gossip) error {
		return func(g *Gossip) error {
			ts := g.Tokens()
			if len(ts) != 1 || ts[0].ID != want.ID || ts[0].Revoked != want.Revoked ||
				!bytes.Equal(ts[0].Hash, want.Hash) || !ts[0].Created.Equal(want.Created) ||
				strings.Join(ts[0].Grants, ",") != strings.Join(want.Grants, ",") {
				return fmt.Errorf("%s: tokens %+v, want %+v", g.LocalName(), ts, want)
			}
			return nil
		}
	}
	waitFor(t, settle, "token reaches everyone", allSee(has(tok), nodes...))

	tok.Grants = []string{"read:b", "write:b"}
	if err := b.PutToken(tok); err != nil {
		t.Fatal(err)
	}
	waitFor(t, settle, "grant reaches everyone", allSee(has(tok), nodes...))

	tok.Revoked = true
	if err := a.PutToken(tok); err != nil {
		t.Fatal(err)
	}
	waitFor(t, settle, "revocation reaches everyone", allSee(has(tok), nodes...))

	tok.Revoked = false
	if err := b.PutToken(tok); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("un-revoking: %v, want ErrTokenRevoked", err)
	}
	other := tok
	other.Hash = bytes.Repeat([]byte{8}, 32)
	other.Revoked = true
	if err := b.PutToken(other); err == nil {
		t.Error("changing a revoked token's hash succeeded")
	}
	for _, bad := range []Token{
		{ID: "x", Name: "n", Hash: hash},
		{ID: tokID2, Name: "", Hash: hash},
		{ID: tokID2, Name: "n", Hash: hash[:5]},
	} {
		if err := a.PutToken(bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("PutToken(%+v) = %v, want ErrInvalidToken", bad, err)
		}
	}
}
