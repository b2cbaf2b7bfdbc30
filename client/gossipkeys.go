package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
)

// GossipKeyring is a node's answer to a gossip key call: what every alive
// member's keyring holds after it, by fingerprint (8 hex digits of a
// key's SHA-256; keys themselves are never answered).
type GossipKeyring struct {
	Op string `json:"op"` // list, install, use, remove
	// Key is the fingerprint of the key operated on ("" for a list).
	Key string `json:"key,omitempty"`
	// OK: every alive member answered and did what was asked.
	OK bool `json:"ok"`
	// Refused says why nothing was changed, when so (a use of a key some
	// node lacks, a remove of some node's primary).
	Refused string            `json:"refused,omitempty"`
	Nodes   []GossipKeyNode   `json:"nodes"`
	Keys    []GossipKeyHolder `json:"keys"`
}

// GossipKeyNode is one member's keyring, or why the call failed there.
type GossipKeyNode struct {
	Node    string   `json:"node"`
	Primary string   `json:"primary,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// GossipKeyHolder counts the members holding a key, and using it as their
// primary.
type GossipKeyHolder struct {
	Key       string `json:"key"`
	Installed int    `json:"installed_on"`
	Primary   int    `json:"primary_on"`
}

// GossipKeys lists the gossip keys of every alive member (GET
// /admin/gossip-keys).
func (c *Client) GossipKeys(ctx context.Context) (*GossipKeyring, error) {
	return c.gossipKey(ctx, "list gossip keys", http.MethodGet, "/admin/gossip-keys", nil)
}

// InstallGossipKey installs key (16, 24 or 32 bytes) on every alive member
// (POST /admin/gossip-keys): they decrypt with it from then on.
func (c *Client) InstallGossipKey(ctx context.Context, key []byte) (*GossipKeyring, error) {
	return c.gossipKey(ctx, "install gossip key", http.MethodPost, "/admin/gossip-keys", key)
}

// UseGossipKey makes key the primary of every alive member (PUT
// /admin/gossip-keys/primary): they encrypt with it from then on. Refused
// unless every alive member has it installed.
func (c *Client) UseGossipKey(ctx context.Context, key []byte) (*GossipKeyring, error) {
	return c.gossipKey(ctx, "use gossip key", http.MethodPut, "/admin/gossip-keys/primary", key)
}

// RemoveGossipKey removes key from every alive member (DELETE
// /admin/gossip-keys). Refused while it is some member's primary.
func (c *Client) RemoveGossipKey(ctx context.Context, key []byte) (*GossipKeyring, error) {
	return c.gossipKey(ctx, "remove gossip key", http.MethodDelete, "/admin/gossip-keys", key)
}

// gossipKey sends one call to one node (no failover: the node fans it out
// itself, and a repeat is harmless but should be the caller's choice). A
// 409 (refused, or failed on some member) returns the document with the
// error, which matches none of the sentinels.
func (c *Client) gossipKey(ctx context.Context, op, method, path string, key []byte) (*GossipKeyring, error) {
	rq := &request{op: op, method: method, path: path, header: http.Header{"Accept": {"application/json"}}}
	if key != nil {
		b, _ := json.Marshal(map[string]string{"key": base64.StdEncoding.EncodeToString(key)})
		rq.body = b
		rq.header.Set("Content-Type", "application/json")
	}
	r, err := c.once(ctx, c.nodes[0], rq)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w: %w", op, ErrUnavailable, err)
	}
	if r.status == http.StatusOK {
		var doc GossipKeyring
		if err := json.Unmarshal(r.body, &doc); err != nil {
			return nil, fmt.Errorf("client: %s: %s answered invalid JSON: %w", op, r.node, err)
		}
		return &doc, nil
	}
	e := errorFrom(op, r)
	if r.status == http.StatusConflict {
		var doc GossipKeyring
		if json.Unmarshal(e.Detail, &doc) == nil && doc.Op != "" {
			return &doc, e
		}
	}
	return nil, e
}
