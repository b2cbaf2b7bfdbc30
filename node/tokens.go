package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dynamod/dynamod/auth"
	"github.com/dynamod/dynamod/gossip"
	dhttp "github.com/dynamod/dynamod/http"
	"github.com/dynamod/dynamod/quorum"
)

var _ dhttp.TokenStore = (*Node)(nil)

// TokenMembership is the optional capability of a Membership that carries
// client tokens cluster-wide (the gossip adapter has it). Without it the
// node has no tokens and refuses to make any.
type TokenMembership interface {
	// Tokens returns every token, revoked ones included.
	Tokens() []gossip.Token
	// PutToken writes a new version of a token's entry; a revoked token
	// cannot change (gossip.ErrTokenRevoked).
	PutToken(t gossip.Token) error
}

func (m gossipMembership) Tokens() []gossip.Token        { return m.g.Tokens() }
func (m gossipMembership) PutToken(t gossip.Token) error { return m.g.PutToken(t) }

// ErrNoTokens: the node's membership does not carry tokens.
var ErrNoTokens = errors.New("node: this membership carries no client tokens")

// LoopbackAddr reports whether every address a bind address can be reached
// at is a loopback address, as the start-up rule decides it (an
// unspecified host is not; a host name is looked up, bounded by ctx).
func LoopbackAddr(ctx context.Context, addr string) bool { return loopback(ctx, addr) }

// Tokens implements http.TokenStore: the snapshot refresh made at the last
// change of the cluster state. nil: no tokens.
func (n *Node) Tokens() *auth.Set { return n.tokens.Load() }

// refreshTokens rebuilds the token snapshot from the membership. A grant
// that does not parse is dropped with a warning (it grants nothing).
func (n *Node) refreshTokens() {
	tm, ok := n.members.(TokenMembership)
	if !ok {
		return
	}
	n.tokenMu.Lock() // two refreshes must not store out of order
	defer n.tokenMu.Unlock()
	raw := tm.Tokens()
	ts := make([]auth.Token, 0, len(raw))
	for _, r := range raw {
		t, err := tokenOf(r)
		if err != nil {
			n.log.Warn("token with bad grants: dropping them", "token", r.ID, "err", err)
		}
		ts = append(ts, t)
	}
	n.tokens.Store(auth.NewSet(ts))
}

// tokenOf converts a stored token; grants that do not parse are left out
// and reported.
func tokenOf(r gossip.Token) (auth.Token, error) {
	t := auth.Token{ID: r.ID, Name: r.Name, Created: r.Created, Revoked: r.Revoked}
	copy(t.Hash[:], r.Hash)
	var errs []error
	for _, s := range r.Grants {
		g, err := auth.ParseGrant(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.Grants = append(t.Grants, g)
	}
	return t, errors.Join(errs...)
}

// storedToken is t as the membership stores it.
func storedToken(t auth.Token) gossip.Token {
	return gossip.Token{ID: t.ID, Name: t.Name, Hash: t.Hash[:], Grants: auth.Strings(t.Grants), Created: t.Created, Revoked: t.Revoked}
}

// putToken stores t cluster-wide and refreshes the snapshot, so that the
// change holds on this node when it returns.
func (n *Node) putToken(tm TokenMembership, t auth.Token) error {
	err := tm.PutToken(storedToken(t))
	switch {
	case errors.Is(err, gossip.ErrTokenRevoked):
		return fmt.Errorf("%w: token %s is revoked", dhttp.ErrConflict, t.ID)
	case errors.Is(err, gossip.ErrInvalidToken):
		return fmt.Errorf("%w: %w", quorum.ErrBadRequest, err)
	case err != nil:
		return err
	}
	n.refreshTokens()
	return nil
}

// CreateToken implements http.TokenStore: a fresh token from crypto/rand,
// stored cluster-wide.
func (n *Node) CreateToken(name string, grants []auth.Grant) (string, auth.Token, error) {
	tm, ok := n.members.(TokenMembership)
	if !ok {
		return "", auth.Token{}, ErrNoTokens
	}
	text, t, err := auth.New(rand.Reader, name, grants, time.Now().UTC().Truncate(time.Millisecond))
	if err != nil {
		return "", auth.Token{}, fmt.Errorf("%w: %w", quorum.ErrBadRequest, err)
	}
	n.tokenWriteMu.Lock()
	defer n.tokenWriteMu.Unlock()
	if err := n.putToken(tm, t); err != nil {
		return "", auth.Token{}, err
	}
	n.log.Info("token created", "token", t.ID, "name", name, "grants", auth.Strings(grants))
	return text, t, nil
}

// current returns token id as the membership has it now.
func (n *Node) current(tm TokenMembership, id string) (auth.Token, error) {
	for _, r := range tm.Tokens() {
		if r.ID == id {
			t, _ := tokenOf(r) // bad grants are dropped: a change rewrites them
			return t, nil
		}
	}
	return auth.Token{}, fmt.Errorf("%w: no token %s", quorum.ErrNotFound, id)
}

// ChangeGrants implements http.TokenStore.
func (n *Node) ChangeGrants(id string, add, remove []auth.Grant) (auth.Token, error) {
	tm, ok := n.members.(TokenMembership)
	if !ok {
		return auth.Token{}, ErrNoTokens
	}
	n.tokenWriteMu.Lock()
	defer n.tokenWriteMu.Unlock()
	t, err := n.current(tm, id)
	if err != nil {
		return t, err
	}
	if t.Revoked {
		return t, fmt.Errorf("%w: token %s is revoked", dhttp.ErrConflict, id)
	}
	gs := slices.Clone(t.Grants)
	for _, g := range add {
		if !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	gs = slices.DeleteFunc(gs, func(g auth.Grant) bool { return slices.Contains(remove, g) })
	if len(gs) > auth.MaxGrants {
		return t, fmt.Errorf("%w: a token holds at most %d grants", quorum.ErrBadRequest, auth.MaxGrants)
	}
	t.Grants = gs
	if err := n.putToken(tm, t); err != nil {
		return auth.Token{}, err
	}
	n.log.Info("token grants changed", "token", id, "grants", auth.Strings(gs))
	return t, nil
}

// RevokeToken implements http.TokenStore. Revoking a revoked token does
// nothing.
func (n *Node) RevokeToken(id string) error {
	tm, ok := n.members.(TokenMembership)
	if !ok {
		return ErrNoTokens
	}
	n.tokenWriteMu.Lock()
	defer n.tokenWriteMu.Unlock()
	t, err := n.current(tm, id)
	if err != nil || t.Revoked {
		return err
	}
	t.Revoked = true
	if err := n.putToken(tm, t); err != nil {
		return err
	}
	n.log.Info("token revoked", "token", id)
	return nil
}
