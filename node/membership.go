package node

import (
	"errors"
	"slices"
	"sync"
)

// MemberInfo is one member as /cluster shows it.
type MemberInfo struct {
	Name     string `json:"name"`
	Status   string `json:"status"`   // joining, joined, leaving, left, removed
	Liveness string `json:"liveness"` // alive, suspect, dead
	RPCAddr  string `json:"rpc_addr,omitempty"`
	HTTPAddr string `json:"http_addr,omitempty"`
	Gossip   string `json:"gossip_addr,omitempty"`
	// Settled is the member set whose ring the member last finished
	// receiving data for; nil if it never did. Extra encodes the
	// partitions it holds beyond that (ownership.Set).
	Settled []string `json:"settled,omitempty"`
	Extra   string   `json:"-"`
}

// gone reports whether a member of status s is out of the cluster for good.
func gone(status string) bool { return status == "left" || status == "removed" }

// Errors of membership changes.
var (
	// ErrUnknownMember: no member has that name.
	ErrUnknownMember = errors.New("unknown member")
	// ErrMemberAlive: a live member cannot be removed; it must leave.
	ErrMemberAlive = errors.New("member is alive")
	// ErrNotSupported: the membership cannot change (a static one).
	ErrNotSupported = errors.New("membership changes are not supported here")
)

// Membership is what a node needs from the cluster layer: who owns the
// ring, who holds what, who answers, and the cluster-wide bucket
// properties. The gossip adapter implements it for real nodes; [Static] for
// tests and single nodes. Every method is safe for concurrent use and must
// not block.
type Membership interface {
	// RingMembers are the members of the target ring, which own
	// partitions once transfers are done (joining and joined). Liveness
	// does not change it: a failure is temporary (docs/design.md,
	// "Membership").
	RingMembers() []string
	// Settle publishes what this node holds (see MemberInfo.Settled); a
	// joining node becomes joined.
	Settle(settled []string, extra string) error
	// MarkLeaving takes this node out of the target ring; it keeps
	// holding its data until the new owners have it.
	MarkLeaving() error
	// MarkLeft records that this node handed everything off.
	MarkLeft() error
	// Remove takes a dead member out for good: ErrUnknownMember,
	// ErrMemberAlive.
	Remove(name string) error
	// Alive reports whether a member answers, as far as this node knows.
	Alive(name string) bool
	// Changes is signalled (coalesced) after any change of the above or of
	// the bucket properties.
	Changes() <-chan struct{}
	// Members lists every known member for /cluster.
	Members() []MemberInfo
	// BucketProps returns the stored properties (JSON) by bucket.
	BucketProps() map[string][]byte
	// SetBucketProps stores a bucket's properties cluster-wide; nil resets.
	SetBucketProps(bucket string, props []byte) error
}

// Static is a fixed member set with settable liveness and a local bucket
// property table. Safe for concurrent use.
type Static struct {
	members []string
	changes chan struct{}

	// mu guards the fields below.
	mu    sync.Mutex
	alive func(name string) bool
	props map[string][]byte
}

// NewStatic returns a membership of exactly members, all alive.
func NewStatic(members ...string) *Static {
	m := slices.Clone(members)
	slices.Sort(m)
	return &Static{members: m, changes: make(chan struct{}, 1), props: map[string][]byte{}}
}

// SetAlive installs the liveness function (nil: everyone alive) and
// signals a change.
func (s *Static) SetAlive(f func(name string) bool) {
	s.mu.Lock()
	s.alive = f
	s.mu.Unlock()
	s.notify()
}

func (s *Static) notify() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// RingMembers implements Membership.
func (s *Static) RingMembers() []string { return s.members }

// Alive implements Membership.
func (s *Static) Alive(name string) bool {
	s.mu.Lock()
	f := s.alive
	s.mu.Unlock()
	if f == nil {
		return slices.Contains(s.members, name)
	}
	return f(name)
}

// Changes implements Membership.
func (s *Static) Changes() <-chan struct{} { return s.changes }

// Settle implements Membership: a static member set is always settled.
func (s *Static) Settle([]string, string) error { return nil }

// MarkLeaving implements Membership: not supported.
func (s *Static) MarkLeaving() error { return ErrNotSupported }

// MarkLeft implements Membership: not supported.
func (s *Static) MarkLeft() error { return ErrNotSupported }

// Remove implements Membership: not supported.
func (s *Static) Remove(string) error { return ErrNotSupported }

// Members implements Membership.
func (s *Static) Members() []MemberInfo {
	out := make([]MemberInfo, 0, len(s.members))
	for _, m := range s.members {
		l := "alive"
		if !s.Alive(m) {
			l = "dead"
		}
		out = append(out, MemberInfo{Name: m, Status: "joined", Liveness: l, Settled: s.members})
	}
	return out
}

// BucketProps implements Membership.
func (s *Static) BucketProps() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte, len(s.props))
	for k, v := range s.props {
		out[k] = v
	}
	return out
}

// SetBucketProps implements Membership.
func (s *Static) SetBucketProps(bucket string, props []byte) error {
	s.mu.Lock()
	if props == nil {
		delete(s.props, bucket)
	} else {
		s.props[bucket] = slices.Clone(props)
	}
	s.mu.Unlock()
	s.notify()
	return nil
}
