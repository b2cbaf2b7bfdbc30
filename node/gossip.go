package node

import (
	"errors"
	"fmt"

	"github.com/dynamod/dynamod/gossip"
)

// gossipMembership adapts gossip.Gossip to Membership.
type gossipMembership struct{ g *gossip.Gossip }

// GossipMembership returns g as a node Membership. The caller closes g
// (typically through Parts.Closers).
func GossipMembership(g *gossip.Gossip) Membership { return gossipMembership{g} }

func (m gossipMembership) RingMembers() []string                   { return m.g.RingMembers() }
func (m gossipMembership) Alive(name string) bool                  { return m.g.Alive(name) }
func (m gossipMembership) Changes() <-chan struct{}                { return m.g.Changes() }
func (m gossipMembership) BucketProps() map[string][]byte          { return m.g.BucketProps() }
func (m gossipMembership) SetBucketProps(b string, p []byte) error { return m.g.SetBucketProps(b, p) }

func (m gossipMembership) Settle(s []string, extra string) error { return m.g.Settle(s, extra) }
func (m gossipMembership) MarkLeaving() error                    { return m.g.MarkLeaving() }
func (m gossipMembership) MarkLeft() error                       { return m.g.MarkLeft() }

func (m gossipMembership) Remove(name string) error {
	err := m.g.Remove(name)
	switch {
	case errors.Is(err, gossip.ErrUnknownMember):
		return fmt.Errorf("%w %q", ErrUnknownMember, name)
	case errors.Is(err, gossip.ErrMemberAlive):
		return fmt.Errorf("%w: %q answers; a live node leaves instead (dynamod leave --node ITS_URL)", ErrMemberAlive, name)
	}
	return err
}

func (m gossipMembership) Members() []MemberInfo {
	ms := m.g.Members()
	out := make([]MemberInfo, 0, len(ms))
	for _, x := range ms {
		out = append(out, MemberInfo{
			Name: x.Name, Status: x.Status.String(), Liveness: x.Liveness.String(),
			RPCAddr: x.RPCAddr, HTTPAddr: x.HTTPAddr, Gossip: x.GossipAddr,
			Settled: x.Settled, Extra: x.Extra,
		})
	}
	return out
}
