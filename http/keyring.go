package http

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	nethttp "net/http"

	"github.com/gorilla/mux"
)

// Gossip keyring administration: the routes change the gossip encryption
// keys of every alive member through one node (Backend.GossipKeys). They
// are named "gossip_keys" and, like every route auth.go does not list,
// need the cluster-admin grant when tokens are on.
//
//	GET    /admin/gossip-keys          list: fingerprints, and how many nodes hold each
//	POST   /admin/gossip-keys          install {"key": "<base64>"}
//	PUT    /admin/gossip-keys/primary  use {"key": "<base64>"} (installed everywhere first)
//	DELETE /admin/gossip-keys          remove {"key": "<base64>"} (not anyone's primary)
//
// Each answers 200 with the backend's document: the operation, the key's
// fingerprint, "ok", every node's keyring after it ("nodes": name,
// primary, keys, error) and per key the nodes holding it ("keys": key,
// installed_on, primary_on). A refusal or a failure on some node is a
// 409 whose detail is that same document. Keys travel only in request
// bodies and are never echoed, logged or answered: only fingerprints (8 hex
// digits of their SHA-256) are.

// maxKeyBody bounds a gossip key request body.
const maxKeyBody = 4 << 10

// keyringRoutes registers the gossip keyring routes on r.
func (a *api) keyringRoutes(r *mux.Router) {
	const name = "gossip_keys"
	r.Handle("/admin/gossip-keys", a.route(name, a.gossipKeys("list"))).Methods("GET")
	r.Handle("/admin/gossip-keys", a.route(name, a.gossipKeys("install"))).Methods("POST")
	r.Handle("/admin/gossip-keys", a.route(name, a.gossipKeys("remove"))).Methods("DELETE")
	r.Handle("/admin/gossip-keys/primary", a.route(name, a.gossipKeys("use"))).Methods("PUT")
}

// gossipKeys serves one keyring operation. Every request is checked before
// the backend is called, so a bad one changes nothing on any node.
func (a *api) gossipKeys(op string) nethttp.HandlerFunc {
	return func(w nethttp.ResponseWriter, r *nethttp.Request) {
		timeout, err := parseTimeout(queryOf(r))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		var key []byte
		if op != "list" {
			if key, err = a.readKey(w, r); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		ctx, cancel := a.withTimeout(w, r, timeout, a.b.DefaultTimeout())
		defer cancel()
		doc, err := a.b.GossipKeys(ctx, op, key)
		if err != nil && doc != nil && json.Valid(doc) {
			a.writeError(w, r, &clientError{err: err, msg: "gossip keys not changed everywhere", detail: json.RawMessage(doc)})
			return
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		a.writeRaw(w, r, doc)
	}
}

// readKey reads a {"key": "<base64>"} body and decodes the key. Its length
// is the backend's to check. Errors never quote the body.
func (a *api) readKey(w nethttp.ResponseWriter, r *nethttp.Request) ([]byte, error) {
	if err := requireJSON(r.Header); err != nil {
		return nil, err
	}
	body, err := a.readBody(w, r, maxKeyBody)
	if err != nil {
		return nil, err
	}
	var req struct {
		Key *string `json:"key"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return nil, badRequest(`body must be one JSON object {"key": "<base64 key>"}`)
	}
	if req.Key == nil || *req.Key == "" {
		return nil, badRequest(`body must name the key: {"key": "<base64 key>"}`)
	}
	key, err := base64.StdEncoding.DecodeString(*req.Key)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(*req.Key)
	}
	if err != nil {
		return nil, badRequest("key is not base64 (standard alphabet)")
	}
	return key, nil
}
