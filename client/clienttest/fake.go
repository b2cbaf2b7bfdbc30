// Package clienttest provides Fake, an in-memory stand-in for a dynamod
// node's HTTP API, for testing code that uses package client (or speaks the
// wire protocol directly) without a cluster.
//
// The fake keeps the protocol's shape, not the store's semantics: there is
// one replica, quorum parameters are validated and ignored, and causality is
// simplified to "a write whose context is the key's current version replaces
// every sibling; any other write adds a sibling".
package clienttest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dynamod/dynamod/client"
)

// DefaultMaxValueSize is the value size over which the fake answers 413.
const DefaultMaxValueSize = 1 << 20

// Request is one request the fake served, as recorded by [Fake.Requests].
type Request struct {
	Method  string
	Bucket  string // unescaped; empty for non-bucket paths
	Key     string // unescaped; empty for non-key paths
	Query   url.Values
	Context string // the Dynamod-Context header sent
	Status  int    // the status answered
}

// Fake is an http.Handler serving dynamod's client API from memory. Use it
// with httptest.NewServer. It is safe for concurrent use.
type Fake struct {
	// MaxValueSize bounds a stored value; larger writes answer 413. Zero
	// means [DefaultMaxValueSize]. Set it before serving.
	MaxValueSize int

	// mu guards everything below.
	mu      sync.Mutex
	objects map[objectKey]*object
	props   map[string]map[string]any
	version uint64 // last version minted; each write mints one
	nextKey int    // for POST
	fail    int    // how many upcoming requests answer 503
	log     []Request
}

type objectKey struct{ bucket, key string }

type object struct {
	version  uint64 // the version of the last write: the current context
	siblings []sibling
}

type sibling struct {
	id           string
	value        []byte
	contentType  string
	lastModified time.Time
	deleted      bool
	meta         map[string]string
}

// NewFake returns an empty fake.
func NewFake() *Fake {
	return &Fake{objects: make(map[objectKey]*object), props: make(map[string]map[string]any)}
}

// FailNext makes the next n requests answer 503 with want/got counts, as a
// node that cannot reach a quorum does. They change nothing.
func (f *Fake) FailNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = n
}

// Requests returns the requests served so far, oldest first.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

// Siblings returns the number of siblings (tombstones included) a key has.
func (f *Fake) Siblings(bucket, key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.objects[objectKey{bucket, key}]; o != nil {
		return len(o.siblings)
	}
	return 0
}

// buffered is a response built under the fake's lock and sent after it is
// released, so no network I/O happens under the lock.
type buffered struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header { return b.header }

func (b *buffered) WriteHeader(s int) {
	if b.status == 0 {
		b.status = s
	}
}

func (b *buffered) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// ServeHTTP implements the part of the API (docs/design.md, "Client HTTP
// API") that package client uses.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var segs []string
	for _, s := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad path", nil)
			return
		}
		segs = append(segs, u)
	}
	// Read the body before taking the lock.
	var body []byte
	var bodyErr error
	if r.Body != nil {
		body, bodyErr = io.ReadAll(io.LimitReader(r.Body, int64(f.maxValueSize())+1))
	}
	rec := &buffered{header: http.Header{}}
	entry := Request{Method: r.Method, Query: r.URL.Query(), Context: r.Header.Get("Dynamod-Context")}
	if len(segs) >= 2 && (segs[0] == "kv" || segs[0] == "buckets") {
		entry.Bucket = segs[1]
	}
	if len(segs) == 3 && segs[0] == "kv" {
		entry.Key = segs[2]
	}

	f.mu.Lock()
	f.serve(rec, r, segs, body, bodyErr)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	entry.Status = rec.status
	f.log = append(f.log, entry)
	f.mu.Unlock()

	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	w.Write(rec.body.Bytes())
}

func (f *Fake) maxValueSize() int {
	if f.MaxValueSize <= 0 {
		return DefaultMaxValueSize
	}
	return f.MaxValueSize
}

// serve answers a request into rec. f.mu is held.
func (f *Fake) serve(rec *buffered, r *http.Request, segs []string, body []byte, bodyErr error) {
	if f.fail > 0 {
		f.fail--
		writeError(rec, http.StatusServiceUnavailable, "unavailable", map[string]any{"want": 2, "got": 1, "reason": "injected"})
		return
	}
	if msg := badParams(r.URL.Query()); msg != "" {
		writeError(rec, http.StatusBadRequest, msg, nil)
		return
	}
	switch {
	case len(segs) == 1 && segs[0] == "ping" && r.Method == http.MethodGet:
		io.WriteString(rec, "OK")
	case len(segs) == 1 && segs[0] == "cluster" && r.Method == http.MethodGet:
		writeJSON(rec, http.StatusOK, clusterStatus())
	case len(segs) == 3 && segs[0] == "buckets" && segs[2] == "props":
		f.serveProps(rec, r, segs[1], body)
	case len(segs) == 2 && segs[0] == "kv" && r.Method == http.MethodGet && r.URL.Query().Has("keys"):
		f.serveKeys(rec, segs[1])
	case len(segs) == 2 && segs[0] == "kv" && r.Method == http.MethodPost:
		f.serveCreate(rec, r, segs[1], body, bodyErr)
	case len(segs) == 3 && segs[0] == "kv":
		if segs[1] == "" || segs[2] == "" {
			writeError(rec, http.StatusBadRequest, "empty bucket or key", nil)
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.serveGet(rec, r, objectKey{segs[1], segs[2]})
		case http.MethodPut, http.MethodDelete:
			f.serveWrite(rec, r, objectKey{segs[1], segs[2]}, body, bodyErr)
		default:
			writeError(rec, http.StatusMethodNotAllowed, "method not allowed", nil)
		}
	default:
		writeError(rec, http.StatusNotFound, "no such endpoint", nil)
	}
}

// clusterStatus is the fake's /cluster document: what a lone, steady
// node with the default ring and anti-entropy off answers.
func clusterStatus() client.ClusterStatus {
	const partitions, nval = 1024, 3
	return client.ClusterStatus{
		Node: "fake",
		Members: []client.ClusterMember{{
			Name: "fake", Status: "joined", Liveness: "alive", Settled: []string{"fake"},
			PrimaryPartitions: partitions,
		}},
		Partitions: partitions, Tokens: 256, DefaultNVal: nval, UnderReplicated: true,
		Steady: true, PendingTransfers: []client.Transfer{},
	}
}

// badParams validates the per-request parameters.
func badParams(q url.Values) string {
	for _, k := range []string{"r", "w", "pr", "pw", "dw"} {
		if !q.Has(k) {
			continue
		}
		switch v := q.Get(k); v {
		case "one", "quorum", "all", "default":
		default:
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				return fmt.Sprintf("bad %s %q", k, v)
			}
		}
	}
	if q.Has("timeout") {
		if n, err := strconv.Atoi(q.Get("timeout")); err != nil || n < 0 {
			return fmt.Sprintf("bad timeout %q", q.Get("timeout"))
		}
	}
	return ""
}

func (f *Fake) serveGet(w http.ResponseWriter, r *http.Request, k objectKey) {
	o := f.objects[k]
	if o == nil {
		writeError(w, http.StatusNotFound, "not found", nil)
		return
	}
	f.writeObject(w, r, o)
}

// writeObject answers with an object's state: 200, 300 or a tombstone 404.
func (f *Fake) writeObject(w http.ResponseWriter, r *http.Request, o *object) {
	h := w.Header()
	vctx := encodeContext(o.version)
	h.Set("Dynamod-Context", vctx)
	if len(o.siblings) == 1 {
		s := o.siblings[0]
		if s.deleted {
			h.Set("Dynamod-Deleted", "true")
			writeError(w, http.StatusNotFound, "not found", nil)
			return
		}
		siblingHeader(h, s)
		w.WriteHeader(http.StatusOK)
		w.Write(s.value)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		type jsonSibling struct {
			ID           string            `json:"id"`
			Value        []byte            `json:"value"`
			ContentType  string            `json:"content_type"`
			LastModified string            `json:"last_modified"`
			Deleted      bool              `json:"deleted"`
			Meta         map[string]string `json:"meta,omitempty"`
		}
		doc := struct {
			Context  string        `json:"context"`
			Siblings []jsonSibling `json:"siblings"`
		}{Context: vctx}
		for _, s := range o.siblings {
			doc.Siblings = append(doc.Siblings, jsonSibling{
				ID: s.id, Value: s.value, ContentType: s.contentType,
				LastModified: s.lastModified.Format(time.RFC3339Nano), Deleted: s.deleted, Meta: s.meta,
			})
		}
		writeJSON(w, http.StatusMultipleChoices, doc)
		return
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, s := range o.siblings {
		ph := textproto.MIMEHeader{}
		siblingHeader(http.Header(ph), s)
		if s.deleted {
			ph.Set("Dynamod-Deleted", "true")
		}
		pw, _ := mw.CreatePart(ph)
		pw.Write(s.value)
	}
	mw.Close()
	h.Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(http.StatusMultipleChoices)
	w.Write(buf.Bytes())
}

func siblingHeader(h http.Header, s sibling) {
	h.Set("Content-Type", s.contentType)
	h.Set("Last-Modified", s.lastModified.Format(http.TimeFormat))
	h.Set("ETag", strconv.Quote(s.id))
	for k, v := range s.meta {
		h.Set("Dynamod-Meta-"+k, v)
	}
}

// serveWrite handles PUT and DELETE of a key.
func (f *Fake) serveWrite(w http.ResponseWriter, r *http.Request, k objectKey, body []byte, bodyErr error) {
	s, ok := f.readSibling(w, r, body, bodyErr)
	if !ok {
		return
	}
	if r.Method == http.MethodDelete {
		s = sibling{deleted: true, lastModified: s.lastModified, value: []byte{}}
	}
	var seen uint64
	if vctx := r.Header.Get("Dynamod-Context"); vctx != "" {
		v, err := decodeContext(vctx)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad context", nil)
			return
		}
		seen = v
	}
	o := f.store(k, seen, s)
	if r.Method == http.MethodPut && r.URL.Query().Get("returnbody") == "true" {
		f.writeObject(w, r, o)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// store applies a write: it replaces every sibling when seen is the
// current version, and adds a sibling otherwise.
func (f *Fake) store(k objectKey, seen uint64, s sibling) *object {
	f.version++
	s.id = strconv.FormatUint(f.version, 10)
	o := f.objects[k]
	if o == nil {
		o = &object{}
		f.objects[k] = o
	}
	if seen != 0 && seen == o.version {
		o.siblings = o.siblings[:0]
	}
	o.siblings = append(o.siblings, s)
	o.version = f.version
	return o
}

// readSibling builds the stored sibling from a write request.
func (f *Fake) readSibling(w http.ResponseWriter, r *http.Request, b []byte, err error) (sibling, bool) {
	limit := f.maxValueSize()
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body", nil)
		return sibling{}, false
	}
	if len(b) > limit {
		writeError(w, http.StatusRequestEntityTooLarge, "value too large", map[string]int{"limit": limit, "size": len(b)})
		return sibling{}, false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	if strings.HasPrefix(ct, "multipart/") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported media type", nil)
		return sibling{}, false
	}
	s := sibling{value: b, contentType: ct, lastModified: time.Now().UTC()}
	for name, v := range r.Header {
		if after, ok := strings.CutPrefix(name, "Dynamod-Meta-"); ok && len(v) > 0 {
			if s.meta == nil {
				s.meta = make(map[string]string)
			}
			s.meta[strings.ToLower(after)] = v[0]
		}
	}
	return s, true
}

func (f *Fake) serveCreate(w http.ResponseWriter, r *http.Request, bucket string, body []byte, bodyErr error) {
	s, ok := f.readSibling(w, r, body, bodyErr)
	if !ok {
		return
	}
	var key string
	for {
		f.nextKey++
		key = fmt.Sprintf("k%06d", f.nextKey)
		if f.objects[objectKey{bucket, key}] == nil {
			break
		}
	}
	f.store(objectKey{bucket, key}, 0, s)
	w.Header().Set("Location", "/kv/"+url.PathEscape(bucket)+"/"+url.PathEscape(key))
	w.WriteHeader(http.StatusCreated)
}

func (f *Fake) serveKeys(w http.ResponseWriter, bucket string) {
	keys := []string{}
	for k, o := range f.objects {
		if k.bucket != bucket {
			continue
		}
		if slices.ContainsFunc(o.siblings, func(s sibling) bool { return !s.deleted }) {
			keys = append(keys, k.key)
		}
	}
	slices.Sort(keys)
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func defaultProps() map[string]any {
	return map[string]any{"n_val": 3.0, "r": "quorum", "w": "quorum", "pr": 0.0, "pw": 0.0,
		"notfound_ok": true, "resolver": "siblings"}
}

func (f *Fake) serveProps(w http.ResponseWriter, r *http.Request, bucket string, body []byte) {
	switch r.Method {
	case http.MethodGet:
		p := defaultProps()
		for k, v := range f.props[bucket] {
			p[k] = v
		}
		writeJSON(w, http.StatusOK, p)
	case http.MethodPut:
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil || in == nil {
			writeError(w, http.StatusBadRequest, "want a JSON object", nil)
			return
		}
		if f.props[bucket] == nil {
			f.props[bucket] = make(map[string]any)
		}
		for k, v := range in {
			f.props[bucket][k] = v
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		delete(f.props, bucket)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusMethodNotAllowed, "method not allowed", nil)
	}
}

func encodeContext(v uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v" + strconv.FormatUint(v, 10)))
}

func decodeContext(s string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != 'v' {
		return 0, fmt.Errorf("clienttest: bad context %q", s)
	}
	return strconv.ParseUint(string(b[1:]), 10, 64)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string, detail any) {
	writeJSON(w, status, map[string]any{"error": msg, "detail": detail})
}
