package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
)

// Header names of the wire protocol.
const (
	// ContextHeader carries the opaque causal context (base64url).
	ContextHeader = "Dynamod-Context"
	// DeletedHeader is "true" on a tombstone (a 404 or a multipart sibling).
	DeletedHeader = "Dynamod-Deleted"
	// MetaHeaderPrefix prefixes each user metadata header.
	MetaHeaderPrefix = "Dynamod-Meta-"
	// TTLHeader gives a write's time to live; ExpiresHeader says when a
	// value read expires (RFC 3339).
	TTLHeader     = "Dynamod-TTL"
	ExpiresHeader = "Dynamod-Expires"
)

// Sibling is one of a key's concurrent values.
type Sibling struct {
	ID           string // server's sibling id (the ETag)
	Value        []byte
	ContentType  string
	LastModified time.Time // wall clock of the write: for display, never for causality
	Deleted      bool      // a tombstone
	// Meta is the user metadata. Keys are lower-case: they travel as
	// case-insensitive HTTP header names.
	Meta map[string]string
	// Expires is when the value expires (written with a TTL); zero if
	// never.
	Expires time.Time
}

// Object is a key's state as one read saw it.
type Object struct {
	// Context is the opaque causal context: pass it to the next Put or
	// Delete of the key so the write supersedes everything read here.
	Context string
	// Siblings are the concurrent values, tombstones included. A tombstone
	// read (404 with a context) has none.
	Siblings []Sibling
}

// Value returns the value when exactly one sibling is live, ignoring
// tombstone siblings. ok is false when the key is deleted or has live
// siblings to resolve. The slice is the object's own; copy it before
// changing it.
func (o *Object) Value() (v []byte, ok bool) {
	var live *Sibling
	if o == nil {
		return nil, false
	}
	for i := range o.Siblings {
		if o.Siblings[i].Deleted {
			continue
		}
		if live != nil {
			return nil, false
		}
		live = &o.Siblings[i]
	}
	if live == nil {
		return nil, false
	}
	return live.Value, true
}

// Values returns the values of the live siblings, in the server's order.
func (o *Object) Values() [][]byte {
	if o == nil {
		return nil
	}
	var vs [][]byte
	for _, s := range o.Siblings {
		if !s.Deleted {
			vs = append(vs, s.Value)
		}
	}
	return vs
}

// Deleted reports whether the object has no live value: a tombstone read,
// or siblings that are all tombstones.
func (o *Object) Deleted() bool {
	if o == nil {
		return true
	}
	for _, s := range o.Siblings {
		if !s.Deleted {
			return false
		}
	}
	return true
}

// firstLive returns the first live sibling, or nil.
func (o *Object) firstLive() *Sibling {
	if o == nil {
		return nil
	}
	for i := range o.Siblings {
		if !o.Siblings[i].Deleted {
			return &o.Siblings[i]
		}
	}
	return nil
}

// objectFrom decodes a 200 (one value) or 300 (siblings) answer.
func objectFrom(op string, r *response) (*Object, error) {
	switch r.status {
	case http.StatusOK:
		s, err := siblingFrom(r.header, r.body)
		if err != nil {
			return nil, fmt.Errorf("client: %s: %s: %w", op, r.node, err)
		}
		return &Object{Context: r.header.Get(ContextHeader), Siblings: []Sibling{s}}, nil
	case http.StatusMultipleChoices:
		o, err := siblingsFrom(r)
		if err != nil {
			return nil, fmt.Errorf("client: %s: %s: decode siblings: %w", op, r.node, err)
		}
		return o, nil
	}
	return nil, errorFrom(op, r)
}

// siblingFrom builds a sibling from a single-value answer or a multipart
// part.
func siblingFrom(h map[string][]string, body []byte) (Sibling, error) {
	hh := http.Header(h)
	s := Sibling{
		ID:          unquoteETag(hh.Get("ETag")),
		Value:       body,
		ContentType: hh.Get("Content-Type"),
		Deleted:     strings.EqualFold(hh.Get(DeletedHeader), "true"),
	}
	if lm := hh.Get("Last-Modified"); lm != "" {
		t, err := http.ParseTime(lm)
		if err != nil {
			return Sibling{}, fmt.Errorf("bad Last-Modified %q: %w", lm, err)
		}
		s.LastModified = t
	}
	if ex := hh.Get(ExpiresHeader); ex != "" {
		t, err := time.Parse(time.RFC3339Nano, ex)
		if err != nil {
			return Sibling{}, fmt.Errorf("bad %s %q: %w", ExpiresHeader, ex, err)
		}
		s.Expires = t
	}
	for k, v := range h {
		if len(k) > len(MetaHeaderPrefix) && strings.EqualFold(k[:len(MetaHeaderPrefix)], MetaHeaderPrefix) && len(v) > 0 {
			if s.Meta == nil {
				s.Meta = make(map[string]string)
			}
			s.Meta[strings.ToLower(k[len(MetaHeaderPrefix):])] = v[0]
		}
	}
	return s, nil
}

// unquoteETag strips the weak marker and the quotes of an ETag.
func unquoteETag(e string) string {
	e = strings.TrimPrefix(e, "W/")
	if len(e) >= 2 && e[0] == '"' && e[len(e)-1] == '"' {
		e = e[1 : len(e)-1]
	}
	return e
}

// siblingsDoc is the JSON form of a 300 answer.
type siblingsDoc struct {
	Context  string `json:"context"`
	Siblings []struct {
		ID           string            `json:"id"`
		Value        []byte            `json:"value"` // base64, standard alphabet
		ContentType  string            `json:"content_type"`
		LastModified string            `json:"last_modified"`
		Deleted      bool              `json:"deleted"`
		Meta         map[string]string `json:"meta"`
		Expires      string            `json:"expires"`
	} `json:"siblings"`
}

// siblingsFrom decodes a 300 answer, JSON or multipart/mixed.
func siblingsFrom(r *response) (*Object, error) {
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("content type: %w", err)
	}
	o := &Object{Context: r.header.Get(ContextHeader)}
	switch mt {
	case "application/json":
		var doc siblingsDoc
		if err := json.Unmarshal(r.body, &doc); err != nil {
			return nil, err
		}
		if o.Context == "" {
			o.Context = doc.Context
		}
		for _, d := range doc.Siblings {
			s := Sibling{ID: d.ID, Value: d.Value, ContentType: d.ContentType, Deleted: d.Deleted}
			if s.Value == nil {
				s.Value = []byte{}
			}
			if d.LastModified != "" {
				if s.LastModified, err = time.Parse(time.RFC3339Nano, d.LastModified); err != nil {
					return nil, fmt.Errorf("sibling %q: last_modified: %w", d.ID, err)
				}
			}
			if d.Expires != "" {
				if s.Expires, err = time.Parse(time.RFC3339Nano, d.Expires); err != nil {
					return nil, fmt.Errorf("sibling %q: expires: %w", d.ID, err)
				}
			}
			if len(d.Meta) > 0 {
				s.Meta = make(map[string]string, len(d.Meta))
				for k, v := range d.Meta {
					s.Meta[strings.ToLower(k)] = v
				}
			}
			o.Siblings = append(o.Siblings, s)
		}
	case "multipart/mixed":
		mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(p)
			if err != nil {
				return nil, err
			}
			s, err := siblingFrom(p.Header, b)
			if err != nil {
				return nil, err
			}
			o.Siblings = append(o.Siblings, s)
		}
	default:
		return nil, fmt.Errorf("unexpected content type %q", mt)
	}
	return o, nil
}
