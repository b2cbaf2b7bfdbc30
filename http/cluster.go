package http

import (
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"strconv"

	"github.com/gorilla/mux"
)

// cluster serves GET /cluster: the backend's document as is.
func (a *api) cluster(w nethttp.ResponseWriter, r *nethttp.Request) {
	timeout, err := parseTimeout(queryOf(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := a.withTimeout(w, r, timeout, a.b.DefaultTimeout())
	defer cancel()
	doc, err := a.b.Cluster(ctx)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeRaw(w, r, doc)
}

// stats serves GET /cluster/stats: the backend's document as is.
func (a *api) stats(w nethttp.ResponseWriter, r *nethttp.Request) {
	doc, err := a.b.Stats(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeRaw(w, r, doc)
}

// preflist serves GET /cluster/preflist/{bucket}/{key}.
func (a *api) preflist(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, key, err := bucketAndKey(w, r)
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
		a.writeError(w, r, fmt.Errorf("http: backend returned invalid JSON for %s", infoOf(w).route))
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

// find serves GET /admin/find/{what}: siblings?min=K, large?bytes=N,
// tombstones; each takes partition=P and limit=N. It scans this node's
// replicas only (ask each node for a cluster-wide view).
func (a *api) find(w nethttp.ResponseWriter, r *nethttp.Request) {
	what := mux.Vars(r)["what"]
	q := queryOf(r)
	fq := FindQuery{Partition: -1}
	ints := []struct {
		name     string
		dst      *int
		min      int
		required bool
	}{
		{"min", &fq.Min, 1, what == "siblings"},
		{"bytes", &fq.Bytes, 1, what == "large"},
		{"partition", &fq.Partition, 0, false},
		{"limit", &fq.Limit, 1, false},
	}
	for _, f := range ints {
		s, ok, err := param(q, f.name)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if !ok {
			if f.required {
				a.writeError(w, r, paramError(f.name, "required"))
				return
			}
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < f.min {
			a.writeError(w, r, paramError(f.name, fmt.Sprintf("want an integer >= %d", f.min)))
			return
		}
		*f.dst = n
	}
	timeout, err := parseTimeout(q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := a.withTimeout(w, r, timeout, 10*a.b.DefaultTimeout())
	defer cancel()
	doc, err := a.b.Find(ctx, what, fq)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeRaw(w, r, doc)
}

// leave answers POST /admin/leave: 202, the leave goes on in the
// background.
func (a *api) leave(w nethttp.ResponseWriter, r *nethttp.Request) {
	if err := a.b.Leave(); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, nethttp.StatusAccepted, map[string]string{"status": "leaving"})
}

// remove answers POST /admin/remove/{name}.
func (a *api) remove(w nethttp.ResponseWriter, r *nethttp.Request) {
	name := mux.Vars(r)["name"]
	if err := a.b.Remove(name); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, nethttp.StatusOK, map[string]string{"removed": name})
}
