package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Exposure is what a node's start-up rule looks at: where its ports are
// bound and what protects them. See [Exposure.Check].
type Exposure struct {
	// Bind addresses (host:port) of the node-to-node, gossip, client and
	// admin listeners. An empty AdminAddr means no admin listener.
	RPCAddr, GossipAddr, HTTPAddr, AdminAddr string
	// GossipKey: gossip is encrypted. NodeTLS: the node-to-node port
	// speaks mutual TLS with the cluster CA. ClientTLS: the client API
	// speaks HTTPS.
	GossipKey, NodeTLS, ClientTLS bool
	// ClientAuth is the client authentication mode: "on", "off" or
	// "auto" (required on a non-loopback client address; on loopback once
	// any token exists).
	ClientAuth string
	// Insecure lets a node whose cluster ports are reachable from other
	// hosts start without a gossip key or node TLS.
	Insecure bool
}

// ErrUnsafeStart is wrapped by [Exposure.Check]'s error.
var ErrUnsafeStart = errors.New("refusing to start")

// Check applies the start-up rule and returns the warnings the node logs
// at start and shows in /cluster for as long as it runs:
//
//   - a node whose node-to-node or gossip address is reachable from other
//     hosts (not loopback) needs both a gossip key and node TLS; without
//     them Check fails (saying how to make them) unless Insecure is set,
//     which turns the refusal into a warning;
//   - a client API on a non-loopback address with ClientAuth "off" is
//     open to anyone who reaches it, and one without TLS carries tokens
//     and values in plaintext: warnings;
//   - an admin listener on a non-loopback address serves metrics and
//     token management without a token: a warning.
//
// A host name counts as loopback only if every address it resolves to is
// (lookups are bounded to 2 s); one that does not resolve does not.
func (e Exposure) Check(ctx context.Context) (warnings []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var exposed []string
	for _, a := range []string{e.RPCAddr, e.GossipAddr} {
		if !loopback(ctx, a) {
			exposed = append(exposed, a)
		}
	}
	var missing []string
	if !e.GossipKey {
		missing = append(missing, "a gossip key (--gossip-key-file)")
	}
	if !e.NodeTLS {
		missing = append(missing, "node TLS (--tls-ca, --tls-cert, --tls-key)")
	}
	if len(exposed) > 0 && len(missing) > 0 {
		if !e.Insecure {
			return nil, fmt.Errorf("%w: the cluster ports %s are reachable from other hosts and this node has no %s, "+
				"so anyone who reaches them could join, read, write or remove members. Make the material with\n"+
				"  dynamod certs init --dir ./certs --nodes NAME[,NAME...] --host HOSTS\n"+
				"and start with\n"+
				"  --gossip-key-file ./certs/gossip.key --tls-ca ./certs/ca.crt --tls-cert ./certs/node-NAME.crt --tls-key ./certs/node-NAME.key\n"+
				"or bind --rpc and --gossip to 127.0.0.1, or pass --insecure to run unprotected anyway",
				ErrUnsafeStart, strings.Join(exposed, " and "), strings.Join(missing, " and "))
		}
		warnings = append(warnings, fmt.Sprintf("INSECURE (--insecure): the cluster ports %s are reachable from other hosts without %s; "+
			"anyone who reaches them can join the cluster, read, write and remove members", strings.Join(exposed, " and "), strings.Join(missing, " and ")))
	}
	if !loopback(ctx, e.HTTPAddr) {
		if e.ClientAuth == "off" {
			warnings = append(warnings, fmt.Sprintf("INSECURE (--client-auth=off): the client API on %s answers anyone who reaches it, without a token", e.HTTPAddr))
		}
		if !e.ClientTLS {
			warnings = append(warnings, fmt.Sprintf("the client API on %s is plain HTTP: tokens and values cross the network unencrypted (--http-tls-cert, --http-tls-key)", e.HTTPAddr))
		}
	}
	if e.AdminAddr != "" && !loopback(ctx, e.AdminAddr) {
		warnings = append(warnings, fmt.Sprintf("the admin listener on %s is reachable from other hosts: it serves metrics and token management without a token", e.AdminAddr))
	}
	return warnings, nil
}

// loopback reports whether every address a bind address can be reached at
// is a loopback address. The unspecified address (0.0.0.0, ::, or an empty
// host) binds every interface, so it is not.
func loopback(ctx context.Context, addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().IsLoopback()
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return false
		}
	}
	return true
}
