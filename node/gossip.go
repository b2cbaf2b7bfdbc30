package node

import (
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

func (m gossipMembership) Members() []MemberInfo {
	ms := m.g.Members()
	out := make([]MemberInfo, 0, len(ms))
	for _, x := range ms {
		out = append(out, MemberInfo{
			Name: x.Name, Status: x.Status.String(), Liveness: x.Liveness.String(),
			RPCAddr: x.RPCAddr, HTTPAddr: x.HTTPAddr, Gossip: x.GossipAddr,
		})
	}
	return out
}
