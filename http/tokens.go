package http

import (
	"bytes"
	"encoding/json"
	nethttp "net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/dynamod/dynamod/auth"
	"github.com/dynamod/dynamod/quorum"
)

// maxTokenBody bounds a token-management body.
const maxTokenBody = 64 << 10

// tokenRoutes mounts token management on r when the API has a token store:
//
//	POST   /admin/tokens               {name, grants} → 201, the token shown once
//	GET    /admin/tokens               every token, never a secret or hash
//	POST   /admin/tokens/{id}/grants   {grants} added → 200, the token
//	DELETE /admin/tokens/{id}/grants   {grants} removed → 200, the token
//	DELETE /admin/tokens/{id}          revoked for good → 204
//
// On the client API they need cluster admin (the route is "tokens", not
// in need's table); on the admin listener nothing.
func (a *api) tokenRoutes(r *mux.Router) {
	if a.cfg.Tokens == nil {
		return
	}
	r.Handle("/admin/tokens", a.route("tokens", a.createToken)).Methods("POST")
	r.Handle("/admin/tokens", a.route("tokens", a.listTokens)).Methods("GET")
	r.Handle("/admin/tokens/{id}/grants", a.route("tokens", a.changeGrants)).Methods("POST", "DELETE")
	r.Handle("/admin/tokens/{id}", a.route("tokens", a.revokeToken)).Methods("DELETE")
}

// tokenDoc is a token as the API shows it.
type tokenDoc struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Grants  []string  `json:"grants"`
	Created time.Time `json:"created"`
	Revoked bool      `json:"revoked,omitempty"`
	// Token is the token itself, only in the answer to its creation.
	Token string `json:"token,omitempty"`
}

func docOf(t auth.Token) tokenDoc {
	return tokenDoc{ID: t.ID, Name: t.Name, Grants: auth.Strings(t.Grants), Created: t.Created, Revoked: t.Revoked}
}

// tokenBody is the body of a create or a grant change.
type tokenBody struct {
	Name   *string  `json:"name"`
	Grants []string `json:"grants"`
}

// decodeTokenBody reads a JSON body of the fields the route takes.
func (a *api) decodeTokenBody(w nethttp.ResponseWriter, r *nethttp.Request) (tokenBody, []auth.Grant, error) {
	var tb tokenBody
	if err := requireJSON(r.Header); err != nil {
		return tb, nil, err
	}
	body, err := a.readBody(w, r, maxTokenBody)
	if err != nil {
		return tb, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tb); err != nil || dec.More() {
		return tb, nil, badRequest(`body must be one JSON object {"name": "...", "grants": ["read:BUCKET", ...]}`)
	}
	gs, err := auth.ParseGrants(tb.Grants)
	if err != nil {
		return tb, nil, &clientError{err: quorum.ErrBadRequest, msg: "bad grants", detail: map[string][]string{"problems": splitJoined(err)}}
	}
	return tb, gs, nil
}

// createToken serves POST /admin/tokens.
func (a *api) createToken(w nethttp.ResponseWriter, r *nethttp.Request) {
	tb, gs, err := a.decodeTokenBody(w, r)
	if err == nil && tb.Name == nil {
		err = badRequest("name is required")
	}
	if err == nil {
		err = auth.CheckName(*tb.Name)
		if err != nil {
			err = badRequest(err.Error())
		}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	text, t, err := a.cfg.Tokens.CreateToken(*tb.Name, gs)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	doc := docOf(t)
	doc.Token = text
	w.Header().Set("Cache-Control", "no-store")
	a.writeJSON(w, r, nethttp.StatusCreated, doc)
}

// listTokens serves GET /admin/tokens.
func (a *api) listTokens(w nethttp.ResponseWriter, r *nethttp.Request) {
	docs := []tokenDoc{}
	for _, t := range a.cfg.Tokens.Tokens().All() {
		docs = append(docs, docOf(t))
	}
	a.writeJSON(w, r, nethttp.StatusOK, struct {
		Tokens []tokenDoc `json:"tokens"`
	}{docs})
}

// tokenID returns the route's token id, 404 when it cannot be one.
func tokenID(r *nethttp.Request) (string, error) {
	id := mux.Vars(r)["id"]
	if !auth.ValidID(id) {
		return "", &clientError{err: quorum.ErrNotFound, detail: "no such token"}
	}
	return id, nil
}

// changeGrants serves POST (add) and DELETE (remove)
// /admin/tokens/{id}/grants.
func (a *api) changeGrants(w nethttp.ResponseWriter, r *nethttp.Request) {
	id, err := tokenID(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	tb, gs, err := a.decodeTokenBody(w, r)
	if err == nil && tb.Name != nil {
		err = badRequest("a token's name does not change")
	}
	if err == nil && len(gs) == 0 {
		err = badRequest("grants must list at least one grant")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var t auth.Token
	if r.Method == "POST" {
		t, err = a.cfg.Tokens.ChangeGrants(id, gs, nil)
	} else {
		t, err = a.cfg.Tokens.ChangeGrants(id, nil, gs)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, nethttp.StatusOK, docOf(t))
}

// revokeToken serves DELETE /admin/tokens/{id}.
func (a *api) revokeToken(w nethttp.ResponseWriter, r *nethttp.Request) {
	id, err := tokenID(r)
	if err == nil {
		err = a.cfg.Tokens.RevokeToken(id)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(nethttp.StatusNoContent)
}
