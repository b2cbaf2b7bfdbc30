package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Verify checks that the node listening at addr is the node called name:
// it dials addr, and with TLS checks that the server's verified
// certificate stands for name (as every dial does), then exchanges hellos
// and checks the name the peer gives, and closes the connection. It sends
// no request.
//
// The cluster state is gossiped, and gossip only proves that the sender
// holds the gossip key. Before a node admits a member it has not seen, or
// a member's new address, into its rings it calls Verify: with TLS on,
// only a holder of that node's certificate and key, issued by the cluster
// CA, passes. Without TLS it proves only that a dynamod node answers
// under that name.
func (t *TCP) Verify(ctx context.Context, name, addr string) error {
	if t.bg.Stopped() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("verify %s at %s: %w", name, addr, err)
	}
	if t.cfg.TLS != nil {
		if nc, err = t.dialTLS(ctx, name, addr, nc); err != nil {
			return fmt.Errorf("verify %s: %w", name, err)
		}
	}
	defer nc.Close()
	if _, err := t.handshake(ctx, name, nc); err != nil {
		var oe *net.OpError
		if t.cfg.TLS != nil && errors.As(err, &oe) && oe.Op == "remote error" {
			t.m.tlsFailed("out", tlsHandshake)
		}
		return fmt.Errorf("verify %s at %s: %w", name, addr, err)
	}
	return nil
}
