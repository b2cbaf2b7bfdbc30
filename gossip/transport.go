package gossip

import (
	"context"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// ctxTransport is memberlist's NetTransport with stream dials that end when
// ctx does. Close cancels ctx first, so a re-join or reliable send stuck
// dialling an unreachable member does not hold Close for a TCP timeout.
type ctxTransport struct {
	*memberlist.NetTransport
	ctx context.Context
}

var _ memberlist.NodeAwareTransport = (*ctxTransport)(nil)

// DialTimeout dials addr over TCP, giving up after timeout or when ctx ends.
func (t *ctxTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.DialContext(t.ctx, "tcp", addr)
}

// DialAddressTimeout dials a.Addr like DialTimeout.
func (t *ctxTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}
