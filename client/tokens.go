package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Token is a client token as /admin/tokens shows it. Secret is set only in
// the answer to [Client.CreateToken]: the token itself, shown once.
type Token struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Grants  []string  `json:"grants"`
	Created time.Time `json:"created"`
	Revoked bool      `json:"revoked,omitempty"`
	Secret  string    `json:"token,omitempty"`
}

// CreateToken makes a token named name with grants ("read:BUCKET",
// "write:BUCKET", "admin:BUCKET", "admin"; BUCKET may be *). The answer's
// Secret is the token, shown this once. Needs cluster admin, or the admin
// listener. Not retried: a retry could make a second token.
func (c *Client) CreateToken(ctx context.Context, name string, grants []string) (*Token, error) {
	if grants == nil {
		grants = []string{}
	}
	var t Token
	err := c.tokenCall(ctx, "create token "+name, http.MethodPost, "/admin/tokens",
		map[string]any{"name": name, "grants": grants}, http.StatusCreated, &t, 0)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Tokens lists every token, revoked ones included, never their secrets.
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var doc struct {
		Tokens []Token `json:"tokens"`
	}
	if err := c.tokenCall(ctx, "list tokens", http.MethodGet, "/admin/tokens", nil, http.StatusOK, &doc, c.retries); err != nil {
		return nil, err
	}
	return doc.Tokens, nil
}

// GrantToken adds grants to token id and returns it as stored.
func (c *Client) GrantToken(ctx context.Context, id string, grants ...string) (*Token, error) {
	var t Token
	err := c.tokenCall(ctx, "grant token "+id, http.MethodPost, "/admin/tokens/"+segment(id)+"/grants",
		map[string]any{"grants": grants}, http.StatusOK, &t, c.retries)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// UngrantToken removes grants from token id and returns it as stored.
func (c *Client) UngrantToken(ctx context.Context, id string, grants ...string) (*Token, error) {
	var t Token
	err := c.tokenCall(ctx, "ungrant token "+id, http.MethodDelete, "/admin/tokens/"+segment(id)+"/grants",
		map[string]any{"grants": grants}, http.StatusOK, &t, c.retries)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// RevokeToken revokes token id for good; every node refuses it within
// about a second. Revoking a revoked token succeeds.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.tokenCall(ctx, "revoke token "+id, http.MethodDelete, "/admin/tokens/"+segment(id), nil, http.StatusNoContent, nil, c.retries)
}

// tokenCall sends a token-management request and decodes the answer into
// out (nil: none expected).
func (c *Client) tokenCall(ctx context.Context, op, method, path string, in any, want int, out any, retries int) error {
	if path == "/admin/tokens/" || path == "/admin/tokens//grants" {
		return badRequest(op, "empty token id")
	}
	rq := &request{op: op, method: method, path: path, header: http.Header{"Accept": {"application/json"}}}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return badRequest(op, "encode: %v", err)
		}
		rq.body = b
		rq.header.Set("Content-Type", "application/json")
	}
	r, err := c.call(ctx, rq, retries)
	if err != nil {
		return err
	}
	if r.status != want {
		return errorFrom(op, r)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			return fmt.Errorf("client: %s: %s: decode: %w", op, r.node, err)
		}
	}
	return nil
}
