package gossip

import (
	"fmt"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// faultNet injects faults between real memberlist nodes on 127.0.0.1: each
// node gets a faultTransport wrapping a NetTransport, and the net decides,
// per (from, to) pair of node names, whether packets are dropped and stream
// dials refused. Faults act on the sender side, so a symmetric partition
// blocks both directions of a pair (Partition does).
type faultNet struct {
	mu sync.Mutex
	// names maps gossip addresses to node names (packets addressed by
	// address alone, e.g. joins, still get matched).
	names map[string]string
	// blocked holds the (from, to) name pairs that cannot talk.
	blocked map[[2]string]bool

	dropped atomic.Int64 // packets dropped and dials refused
}

func newFaultNet() *faultNet {
	return &faultNet{names: map[string]string{}, blocked: map[[2]string]bool{}}
}

// Partition cuts every link between nodes of different groups, both ways,
// on top of the cuts already in place.
func (n *faultNet) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, gi := range groups {
		for j, gj := range groups {
			if i == j {
				continue
			}
			for _, a := range gi {
				for _, b := range gj {
					n.blocked[[2]string{a, b}] = true
				}
			}
		}
	}
}

// Heal removes every cut.
func (n *faultNet) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.blocked)
}

// cut reports whether from may not reach a, counting the fault.
func (n *faultNet) cut(from string, a memberlist.Address) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	to := a.Name
	if to == "" {
		to = n.names[a.Addr]
	}
	if n.blocked[[2]string{from, to}] {
		n.dropped.Add(1)
		return true
	}
	return false
}

// transport binds a NetTransport on a free 127.0.0.1 port for node name and
// wraps it. memberlist's dynamic port (0) is not used: TCP and UDP must get
// the same port, so take a port the kernel hands out for TCP, release it,
// and retry the pair on a bind conflict.
func (n *faultNet) transport(t testing.TB, name string, logger *log.Logger) (*faultTransport, string) {
	t.Helper()
	nt, addr := bindNetTransport(t, logger)
	n.mu.Lock()
	n.names[addr] = name
	n.mu.Unlock()
	return &faultTransport{NetTransport: nt, net: n, name: name}, addr
}

// bindNetTransport listens on a free 127.0.0.1 port, TCP and UDP.
func bindNetTransport(t testing.TB, logger *log.Logger) (*memberlist.NetTransport, string) {
	t.Helper()
	var lastErr error
	for range 50 {
		port := freePort(t)
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"},
			BindPort:  port,
			Logger:    logger,
		})
		if err == nil {
			return nt, fmt.Sprintf("127.0.0.1:%d", port)
		}
		if !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("bind transport: %v", err)
		}
		lastErr = err
	}
	t.Fatalf("no free port pair after 50 tries: %v", lastErr)
	return nil, ""
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// faultTransport is one node's view of a faultNet.
type faultTransport struct {
	*memberlist.NetTransport
	net  *faultNet
	name string
}

var _ memberlist.NodeAwareTransport = (*faultTransport)(nil)

func (t *faultTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress drops the packet silently when the link is cut, as a
// network would.
func (t *faultTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.net.cut(t.name, a) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *faultTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout refuses a cut link at once (an unreachable host would
// time out instead; refusing keeps tests fast and Close prompt).
func (t *faultTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.net.cut(t.name, a) {
		return nil, fmt.Errorf("faultnet: %s -> %s: link cut", t.name, a.String())
	}
	return t.NetTransport.DialAddressTimeout(a, timeout)
}

func TestFaultNet_partitionAndHeal(t *testing.T) {
	n := newFaultNet()
	n.names["127.0.0.1:1"] = "b"
	n.Partition([]string{"a"}, []string{"b", "c"})
	cases := []struct {
		from string
		to   memberlist.Address
		want bool
	}{
		{"a", memberlist.Address{Name: "b"}, true},
		{"b", memberlist.Address{Name: "a"}, true},
		{"c", memberlist.Address{Name: "a"}, true},
		{"b", memberlist.Address{Name: "c"}, false},
		{"a", memberlist.Address{Addr: "127.0.0.1:1"}, true}, // by address
		{"a", memberlist.Address{Addr: "127.0.0.1:2"}, false},
	}
	for _, tc := range cases {
		if got := n.cut(tc.from, tc.to); got != tc.want {
			t.Errorf("cut(%s, %v) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	if got := n.dropped.Load(); got != 4 {
		t.Errorf("dropped = %d, want 4", got)
	}
	n.Heal()
	if n.cut("a", memberlist.Address{Name: "b"}) {
		t.Error("a -> b still cut after Heal")
	}
}
