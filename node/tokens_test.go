package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/dynamod/dynamod/auth"
	"github.com/dynamod/dynamod/gossip"
	dhttp "github.com/dynamod/dynamod/http"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transport"
)

// tokenStatic is a Static membership that carries tokens in memory, as
// gossip does: a revoked token cannot change.
type tokenStatic struct {
	*Static
	mu     sync.Mutex
	tokens map[string]gossip.Token
}

func (s *tokenStatic) Tokens() []gossip.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gossip.Token
	for _, t := range s.tokens {
		out = append(out, t)
	}
	return out
}

func (s *tokenStatic) PutToken(t gossip.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.tokens[t.ID]; ok && cur.Revoked {
		return gossip.ErrTokenRevoked
	}
	s.tokens[t.ID] = t
	return nil
}

func startNode(t *testing.T, m Membership) *Node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Name = "n1"
	cfg.Ring.Partitions = 8
	cfg.AntiEntropyOff = true
	net := transport.NewMemNetwork(1)
	var n *Node
	ep := net.Join("n1", transport.HandlerFunc(func(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
		return n.Serve(ctx, from, kind, body)
	}))
	n, err := New(cfg, Parts{Engine: storage.NewMemory(), Members: m, Transport: ep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// TestNode_tokens: a change made through the node holds on it when the
// call returns; grants are added and removed; revocation is final; errors
// map to the statuses http expects.
func TestNode_tokens(t *testing.T) {
	m := &tokenStatic{Static: NewStatic("n1"), tokens: map[string]gossip.Token{}}
	n := startNode(t, m)
	if n.Tokens().Active() != 0 {
		t.Fatal("a new node has tokens")
	}
	read, _ := auth.ParseGrants([]string{"read:b"})
	text, tok, err := n.CreateToken("ci", read)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Tokens().Check(text, auth.Need(auth.Read, "b")); err != nil {
		t.Fatalf("new token refused: %v", err)
	}
	if stored := m.tokens[tok.ID]; !slices.Equal(stored.Grants, []string{"read:b"}) || len(stored.Hash) != auth.HashBytes {
		t.Errorf("stored %+v", stored)
	}
	write, _ := auth.ParseGrants([]string{"write:b"})
	if _, err := n.ChangeGrants(tok.ID, write, read); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Tokens().Check(text, auth.Need(auth.Read, "b")); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("read after its removal: %v", err)
	}
	if _, err := n.Tokens().Check(text, auth.Need(auth.Write, "b")); err != nil {
		t.Errorf("write after its grant: %v", err)
	}
	if err := n.RevokeToken(tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Tokens().Check(text, auth.Need(auth.Write, "b")); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("revoked token: %v", err)
	}
	if err := n.RevokeToken(tok.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if _, err := n.ChangeGrants(tok.ID, read, nil); !errors.Is(err, dhttp.ErrConflict) {
		t.Errorf("granting to a revoked token: %v, want ErrConflict", err)
	}
	if _, err := n.ChangeGrants("ffffffffffffffffffffffff", read, nil); !errors.Is(err, quorum.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	if _, _, err := n.CreateToken("", read); !errors.Is(err, quorum.ErrBadRequest) {
		t.Errorf("empty name: %v, want ErrBadRequest", err)
	}
	many := make([]auth.Grant, 0, auth.MaxGrants+1)
	for i := range auth.MaxGrants + 1 {
		many = append(many, auth.Need(auth.Read, string(rune('a'+i%26))+string(rune('a'+i/26))))
	}
	_, tok2, _ := n.CreateToken("x", nil)
	if _, err := n.ChangeGrants(tok2.ID, many, nil); !errors.Is(err, quorum.ErrBadRequest) {
		t.Errorf("too many grants: %v, want ErrBadRequest", err)
	}

	// A change from elsewhere (gossip) shows after the membership signals.
	m.mu.Lock()
	g := m.tokens[tok2.ID]
	g.Grants = []string{"admin", "bogus"} // a grant that does not parse grants nothing
	m.tokens[tok2.ID] = g
	m.mu.Unlock()
	if err := n.refresh(); err != nil {
		t.Fatal(err)
	}
	got, _ := n.Tokens().Get(tok2.ID)
	if !slices.Equal(got.Grants, []auth.Grant{auth.ClusterAdmin}) {
		t.Errorf("grants after a remote change: %v", got.Grants)
	}
}

func TestNode_noTokenMembership(t *testing.T) {
	n := startNode(t, NewStatic("n1"))
	if _, _, err := n.CreateToken("x", nil); !errors.Is(err, ErrNoTokens) {
		t.Errorf("CreateToken = %v, want ErrNoTokens", err)
	}
	if n.Tokens() != nil {
		t.Error("tokens without a token membership")
	}
}
