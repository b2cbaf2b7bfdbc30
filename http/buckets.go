package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	nethttp "net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dynamod/dynamod/quorum"
)

// Key listing in stream mode sends a {"keys":[...]} object once this many
// keys are pending, or when a key arrives this long after the last flush.
const (
	streamBatch    = 500
	streamInterval = 200 * time.Millisecond
)

// keysDoc is one object of a key listing.
type keysDoc struct {
	Keys []string `json:"keys"`
}

// listKeys serves GET /kv/{bucket}?keys=true|stream. keys=true answers one
// sorted document; keys=stream sends a sequence of {"keys":[...]} objects
// (newline-separated, flushed as they fill) and, if the listing fails after
// the first one was sent, a final {"error":...} object.
func (a *api) listKeys(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, err := pathVar(w, r, "bucket")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q := queryOf(r)
	mode, _, err := param(q, "keys")
	if err == nil && mode != "true" && mode != "stream" {
		err = paramError("keys", "want true or stream")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	timeout, err := parseTimeout(q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := a.withTimeout(w, r, timeout, a.cfg.ListKeysTimeout)
	defer cancel()

	if mode == "true" {
		var mu sync.Mutex // the backend may call fn concurrently
		keys := []string{}
		err := a.b.ListKeys(ctx, bucket, func(k string) error {
			mu.Lock()
			defer mu.Unlock()
			keys = append(keys, k)
			return nil
		})
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		sort.Strings(keys)
		a.writeJSON(w, r, nethttp.StatusOK, keysDoc{Keys: keys})
		return
	}

	s := &keyStream{w: w, rc: nethttp.NewResponseController(w), lastFlush: time.Now()}
	err = a.b.ListKeys(ctx, bucket, s.add)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if err != nil && !s.started {
		a.writeError(w, r, err)
		return
	}
	// Send what is pending: with an error too, those keys are real.
	if ferr := s.flushLocked(err == nil); err == nil {
		err = ferr
	}
	if err == nil {
		return
	}
	// The status is sent: end the stream with the error instead.
	info := infoOf(w)
	status, body := classify(err, info.id)
	if status == nethttp.StatusInternalServerError {
		a.log.Error("key listing failed", "err", err, "request_id", info.id)
	} else {
		a.log.Debug("key listing failed", "err", err, "request_id", info.id)
	}
	_ = s.enc().Encode(body)
}

// keyStream batches keys of a streamed listing into the response.
type keyStream struct {
	w  nethttp.ResponseWriter
	rc *nethttp.ResponseController

	// mu guards the fields below and the response writer: the backend may
	// call add from several goroutines.
	mu        sync.Mutex
	pending   []string
	lastFlush time.Time
	started   bool // header and at least one object sent
	done      bool // ListKeys returned; late calls are refused
}

var errStreamDone = errors.New("http: key listing already finished")

func (s *keyStream) enc() *json.Encoder { return json.NewEncoder(s.w) }

// add is the ListKeys callback. A write error (client gone) stops the
// listing.
func (s *keyStream) add(k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errStreamDone
	}
	s.pending = append(s.pending, k)
	if len(s.pending) >= streamBatch || time.Since(s.lastFlush) >= streamInterval {
		return s.flushLocked(false)
	}
	return nil
}

// flushLocked sends the pending keys as one object. final sends an object
// even when none is pending and nothing was sent yet, so that the body is
// never empty.
func (s *keyStream) flushLocked(final bool) error {
	if len(s.pending) == 0 && (!final || s.started) {
		return nil
	}
	if !s.started {
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(nethttp.StatusOK)
		s.started = true
	}
	keys := s.pending
	if keys == nil {
		keys = []string{}
	}
	s.pending = nil
	s.lastFlush = time.Now()
	if err := s.enc().Encode(keysDoc{Keys: keys}); err != nil {
		return fmt.Errorf("http: stream keys: %w", err)
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, nethttp.ErrNotSupported) {
		return fmt.Errorf("http: stream keys: %w", err)
	}
	return nil
}

// listBuckets serves GET /buckets.
func (a *api) listBuckets(w nethttp.ResponseWriter, r *nethttp.Request) {
	timeout, err := parseTimeout(queryOf(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := a.withTimeout(w, r, timeout, a.b.DefaultTimeout())
	defer cancel()
	buckets, err := a.b.ListBuckets(ctx)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	buckets = slices.Clone(buckets)
	if buckets == nil {
		buckets = []string{}
	}
	sort.Strings(buckets)
	a.writeJSON(w, r, nethttp.StatusOK, struct {
		Buckets []string `json:"buckets"`
	}{buckets})
}

// getProps serves GET /buckets/{bucket}/props: the properties with defaults
// applied.
func (a *api) getProps(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, err := pathVar(w, r, "bucket")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, nethttp.StatusOK, a.b.BucketProps(bucket))
}

// putProps serves PUT /buckets/{bucket}/props. The body is a JSON object
// with any subset of the properties; the others keep their values. Every
// problem (unknown name, bad value, a result that fails Props.Validate) is
// listed in one 400, and then nothing changes.
func (a *api) putProps(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, err := pathVar(w, r, "bucket")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := requireJSON(r.Header); err != nil {
		a.writeError(w, r, err)
		return
	}
	p, err := a.decodeProps(w, r, bucket)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.b.SetBucketProps(bucket, p); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(nethttp.StatusNoContent)
}

// deleteProps serves DELETE /buckets/{bucket}/props: back to the defaults.
func (a *api) deleteProps(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, err := pathVar(w, r, "bucket")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.b.ResetBucketProps(bucket); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(nethttp.StatusNoContent)
}

// requireJSON accepts only an application/json body (any parameters).
func requireJSON(h nethttp.Header) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		return unsupportedMedia("Content-Type must be application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupportedMedia("Content-Type must be application/json")
	}
	return nil
}

// propNames are the JSON names of quorum.Props' fields, and propFields
// their field indexes.
var propNames, propFields = func() (map[string]bool, map[string][]int) {
	names, fields := make(map[string]bool), make(map[string][]int)
	t := reflect.TypeFor[quorum.Props]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			names[name] = true
			fields[name] = t.Field(i).Index
		}
	}
	return names, fields
}()

// unsetByZero are the properties whose zero value means "not set" and is
// never a valid value, so that a client that sends one gets a 400 rather
// than no change. (A quorum of "default" does mean the default.)
var unsetByZero = map[string]bool{
	"n_val": true, "resolver": true, "max_siblings": true, "warn_siblings": true,
	"max_value_bytes": true, "warn_value_bytes": true, "datatype": true,
}

// decodeProps reads a properties body. Each field is decoded on its own so
// that every bad one is reported, and the merge with the current properties
// is validated before anything is stored.
func (a *api) decodeProps(w nethttp.ResponseWriter, r *nethttp.Request, bucket string) (quorum.Props, error) {
	var p quorum.Props
	body, err := a.readBody(w, r, maxPropsBytes)
	if err != nil {
		return p, err
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return p, badRequest("body must be a JSON object of bucket properties")
	}
	if dec.More() {
		return p, badRequest("body must be one JSON object")
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	var problems []string
	for _, name := range names {
		if !propNames[name] {
			problems = append(problems, fmt.Sprintf("unknown property %q", name))
			continue
		}
		one, err := json.Marshal(map[string]json.RawMessage{name: fields[name]})
		if err == nil {
			err = json.Unmarshal(one, &p)
		}
		if err != nil {
			problems = append(problems, name+": "+propError(err))
			continue
		}
		if unsetByZero[name] && reflect.ValueOf(p).FieldByIndex(propFields[name]).IsZero() {
			// The zero value means "not set" in quorum.Props: stored, it
			// would silently keep the old value or take the default.
			problems = append(problems, name+": must be set to a valid value, got "+string(fields[name])+" (DELETE the properties to reset them)")
		}
	}
	if err := p.WithDefaults(a.b.BucketProps(bucket)).Validate(nil); err != nil {
		problems = append(problems, splitJoined(err)...)
	}
	if err := quorum.CheckDatatypeChange(a.b.BucketProps(bucket), p.WithDefaults(a.b.BucketProps(bucket))); err != nil {
		problems = append(problems, strings.TrimPrefix(err.Error(), quorum.ErrBadRequest.Error()+": "))
	}
	if len(problems) > 0 {
		return p, &clientError{err: quorum.ErrBadRequest, msg: "bad bucket properties",
			detail: map[string][]string{"problems": problems}}
	}
	return p, nil
}

// propError turns a field's decoding error into text for the client.
func propError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "want " + te.Type.String() + ", got JSON " + te.Value
	}
	if errors.Is(err, quorum.ErrBadQuorum) {
		return "want an integer, one, quorum, all or default"
	}
	return "invalid value"
}

// splitJoined lists the messages of an errors.Join.
func splitJoined(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// writeJSON answers status with v as JSON.
func (a *api) writeJSON(w nethttp.ResponseWriter, r *nethttp.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.writeError(w, r, fmt.Errorf("http: encode %T: %w", v, err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
