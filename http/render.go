package http

import (
	"encoding/json"
	"mime"
	"mime/multipart"
	nethttp "net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// writeObject answers with obj the way a GET does: 200 and the value when
// there is one, 300 and the siblings when there are several, 404 with the
// context (and Dynamod-Deleted: true for a tombstone) when there is none.
// okStatus replaces 200 (a POST with returnbody answers 201). sibling, if
// not empty, selects one sibling by id (404 if there is no such sibling).
// Every answer carries the context.
func (a *api) writeObject(w nethttp.ResponseWriter, r *nethttp.Request, obj *quorum.Object, okStatus int, sibling string) {
	vctx := obj.Context
	if vctx == nil {
		vctx = versioning.Join(obj.Clock)
	}
	encoded := vctx.Encode()
	h := w.Header()
	// One allocation for the values of the headers an answer sets (the
	// context, then at most six of writeValue's); see headerVals.
	hv := newHeaderVals(7)
	if encoded != "" {
		hv.set(h, hdrContext, encoded)
	}
	if h["Vary"] == nil {
		h["Vary"] = varyAccept
	} else {
		h.Add("Vary", "Accept")
	}
	if obj.Warning != "" {
		h.Set(hdrWarning, headerSafe(obj.Warning))
	}
	sibs := versioning.Siblings(obj.Clock)
	a.m.siblings.Observe(float64(len(sibs)))

	if sibling != "" {
		for _, s := range sibs {
			if s.ID == sibling {
				a.writeValue(w, &hv, s, nethttp.StatusOK)
				return
			}
		}
		a.writeError(w, r, &clientError{err: quorum.ErrNotFound, detail: "no sibling with that id"})
		return
	}
	switch {
	case versioning.IsTombstone(obj.Clock):
		h.Set(hdrDeleted, "true")
		a.writeError(w, r, quorum.ErrNotFound)
	case len(sibs) == 0: // history without values
		a.writeError(w, r, quorum.ErrNotFound)
	case len(sibs) == 1:
		a.writeValue(w, &hv, sibs[0], okStatus)
	case wantsJSON(r.Header):
		a.writeSiblingsJSON(w, encoded, sibs)
	default:
		a.writeSiblingsMultipart(w, sibs)
	}
}

// valueHeaders sets the headers describing one sibling, their values cut
// from hv.
func valueHeaders(h map[string][]string, hv *headerVals, s versioning.Sibling) {
	ct := s.Value.ContentType
	if ct == "" || !validHeaderValue(ct) {
		ct = defaultContentType
	}
	hv.set(h, "Content-Type", ct)
	if s.Value.LastModified != 0 {
		hv.set(h, "Last-Modified", time.Unix(0, s.Value.LastModified).UTC().Format(nethttp.TimeFormat))
	}
	hv.set(h, "Etag", strconv.Quote(s.ID))
	if s.Value.Expires != 0 {
		hv.set(h, hdrExpires, time.Unix(0, s.Value.Expires).UTC().Format(time.RFC3339Nano))
	}
	if s.Value.Deleted {
		hv.set(h, hdrDeleted, "true")
	}
	setMeta(h, s.Value.Meta)
}

// writeValue answers with one sibling's bytes.
func (a *api) writeValue(w nethttp.ResponseWriter, hv *headerVals, s versioning.Sibling, status int) {
	h := w.Header()
	valueHeaders(h, hv, s)
	hv.set(h, "Content-Length", strconv.Itoa(len(s.Value.Data)))
	w.WriteHeader(status)
	a.m.sizeRead.Observe(float64(len(s.Value.Data)))
	_, _ = w.Write(s.Value.Data) // a failed write means the client is gone
}

// writeSiblingsMultipart answers 300 with one multipart/mixed part per
// sibling, each with the headers a single value would have.
func (a *api) writeSiblingsMultipart(w nethttp.ResponseWriter, sibs []versioning.Sibling) {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(nethttp.StatusMultipleChoices)
	for _, s := range sibs {
		ph := make(textproto.MIMEHeader)
		hv := newHeaderVals(5)
		valueHeaders(ph, &hv, s)
		part, err := mw.CreatePart(ph)
		if err != nil {
			return // client gone
		}
		if _, err := part.Write(s.Value.Data); err != nil {
			return
		}
		a.m.sizeRead.Observe(float64(len(s.Value.Data)))
	}
	_ = mw.Close()
}

// jsonSibling is one sibling in the JSON form of a 300.
type jsonSibling struct {
	ID           string            `json:"id"`
	Value        []byte            `json:"value"` // base64
	ContentType  string            `json:"content_type"`
	LastModified string            `json:"last_modified,omitempty"` // RFC 3339, nanoseconds
	Deleted      bool              `json:"deleted"`
	Meta         map[string]string `json:"meta,omitempty"`
	Expires      string            `json:"expires,omitempty"` // RFC 3339, nanoseconds
}

// siblingsDoc is the JSON form of a 300.
type siblingsDoc struct {
	Context  string        `json:"context"`
	Siblings []jsonSibling `json:"siblings"`
}

// writeSiblingsJSON answers 300 with the siblings as one JSON document.
func (a *api) writeSiblingsJSON(w nethttp.ResponseWriter, vctx string, sibs []versioning.Sibling) {
	doc := siblingsDoc{Context: vctx, Siblings: make([]jsonSibling, len(sibs))}
	for i, s := range sibs {
		js := jsonSibling{ID: s.ID, Value: s.Value.Data, ContentType: s.Value.ContentType,
			Deleted: s.Value.Deleted, Meta: s.Value.Meta}
		if js.Value == nil {
			js.Value = []byte{}
		}
		if js.ContentType == "" {
			js.ContentType = defaultContentType
		}
		if s.Value.LastModified != 0 {
			js.LastModified = time.Unix(0, s.Value.LastModified).UTC().Format(time.RFC3339Nano)
		}
		if s.Value.Expires != 0 {
			js.Expires = time.Unix(0, s.Value.Expires).UTC().Format(time.RFC3339Nano)
		}
		doc.Siblings[i] = js
		a.m.sizeRead.Observe(float64(len(s.Value.Data)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(nethttp.StatusMultipleChoices)
	_ = json.NewEncoder(w).Encode(doc)
}

// wantsJSON reports whether the Accept header prefers application/json to
// multipart/mixed, the default form of siblings: by quality, then by how
// specifically each was named ("application/json, */*" asks for JSON). A
// full tie keeps the default.
func wantsJSON(h nethttp.Header) bool {
	jsonQ, jsonSpec := acceptQ(h, "application", "json")
	multiQ, multiSpec := acceptQ(h, "multipart", "mixed")
	return jsonQ > 0 && (jsonQ > multiQ || jsonQ == multiQ && jsonSpec > multiSpec)
}

// acceptQ returns the quality the Accept header gives type/sub, from the
// most specific matching range, and that specificity: 2 type/sub, 1 type/*,
// 0 */*, -1 no match. No Accept header accepts everything; unparsable
// ranges are skipped.
func acceptQ(h nethttp.Header, typ, sub string) (float64, int) {
	vs := h.Values("Accept")
	if len(vs) == 0 {
		return 1, 0
	}
	best, bestSpec := 0.0, -1
	for _, v := range vs {
		for item := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(item))
			if err != nil {
				continue
			}
			t, s, _ := strings.Cut(mt, "/")
			spec := -1
			switch {
			case t == typ && s == sub:
				spec = 2
			case t == typ && s == "*":
				spec = 1
			case t == "*" && s == "*":
				spec = 0
			}
			if spec < bestSpec || spec < 0 {
				continue
			}
			q := 1.0
			if qs, ok := params["q"]; ok {
				f, err := strconv.ParseFloat(qs, 64)
				if err != nil || f < 0 || f > 1 {
					continue
				}
				q = f
			}
			if spec > bestSpec || q > best {
				best, bestSpec = q, spec
			}
		}
	}
	return best, bestSpec
}
