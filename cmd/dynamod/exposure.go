package main

import "github.com/dynamod/dynamod/node"

// exposure describes the ports and protections the serve flags give, for
// the start-up rule (node.Exposure.Check).
func exposure(f serveFlags) node.Exposure {
	return node.Exposure{
		RPCAddr:    f.rpcAddr,
		GossipAddr: f.gossipAddr,
		HTTPAddr:   f.httpAddr,
		GossipKey:  gossipKeyConfigured(f), // a key flag, or DATA/gossip-keyring
		NodeTLS:    f.nodeTLS.enabled(),
		AdminAddr:  f.client.admin,
		ClientTLS:  f.client.tlsCert != "",
		ClientAuth: f.client.auth,
		Insecure:   f.insecure,
	}
}
