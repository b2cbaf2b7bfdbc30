package http

import (
	"encoding/json"
	"fmt"
	nethttp "net/http"
)

// cluster serves GET /cluster: the backend's document as is.
func (a *api) cluster(w nethttp.ResponseWriter, r *nethttp.Request) {
	timeout, err := parseTimeout(r.URL.Query())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := withTimeout(r.Context(), timeout, a.b.DefaultTimeout())
	defer cancel()
	doc, err := a.b.Cluster(ctx)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeRaw(w, r, doc)
}

// preflist serves GET /cluster/preflist/{bucket}/{key}.
func (a *api) preflist(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, key, err := bucketAndKey(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	doc, err := a.b.Preflist(bucket, key)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeRaw(w, r, doc)
}

// writeRaw answers 200 with a JSON document built by the backend.
func (a *api) writeRaw(w nethttp.ResponseWriter, r *nethttp.Request, doc json.RawMessage) {
	if !json.Valid(doc) {
		a.writeError(w, r, fmt.Errorf("http: backend returned invalid JSON for %s", infoFrom(r.Context()).route))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(nethttp.StatusOK)
	_, _ = w.Write(doc) // not append: doc may share the backend's array
	_, _ = w.Write([]byte{'\n'})
}

// ping serves GET /ping: the process answers.
func (a *api) ping(w nethttp.ResponseWriter, _ *nethttp.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(nethttp.StatusOK)
	_, _ = w.Write([]byte("OK"))
}

// ready serves GET /ready: 200 when the backend serves requests, else 503
// with its reason.
func (a *api) ready(w nethttp.ResponseWriter, r *nethttp.Request) {
	if err := a.b.Ready(); err != nil {
		a.writeError(w, r, &clientError{err: errNotReady, detail: map[string]string{"reason": err.Error()}})
		return
	}
	a.ping(w, r)
}
