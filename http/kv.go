package http

import (
	"crypto/rand"
	"errors"
	"io"
	nethttp "net/http"
	"net/url"
	"os"
	"time"

	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// getObject serves GET /kv/{bucket}/{key}.
func (a *api) getObject(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, key, err := bucketAndKey(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q := queryOf(r)
	o, err := parseReadOptions(q, a.b.BucketProps(bucket))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	sibling, _, err := param(q, "sibling")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := a.withTimeout(w, r, o.Timeout, a.b.DefaultTimeout())
	defer cancel()
	obj, err := a.b.Get(ctx, bucket, key, o)
	if err == nil && obj == nil {
		err = errors.New("http: backend returned neither object nor error")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeObject(w, r, obj, nethttp.StatusOK, sibling)
}

// putObject serves PUT /kv/{bucket}/{key}.
func (a *api) putObject(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, key, err := bucketAndKey(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.write(w, r, bucket, key, false)
}

// postObject serves POST /kv/{bucket}: a PUT to a new random key, answered
// 201 with its Location.
func (a *api) postObject(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, err := pathVar(w, r, "bucket")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// 26 base32 characters (A-Z, 2-7), 130 random bits: URL-safe and
	// unique without coordination.
	a.write(w, r, bucket, rand.Text(), true)
}

// parseWrite parses what every write takes: the query's options (q is
// r's query, parsed once by the caller) and the causal context header.
func parseWrite(r *nethttp.Request, q query, props quorum.Props) (quorum.WriteOptions, bool, versioning.Context, error) {
	o, returnBody, err := parseWriteOptions(q, props)
	if err != nil {
		return o, false, nil, err
	}
	vctx, err := parseContext(r.Header)
	return o, returnBody, vctx, err
}

// deleteObject serves DELETE /kv/{bucket}/{key}: it writes a tombstone that
// descends the request's context.
func (a *api) deleteObject(w nethttp.ResponseWriter, r *nethttp.Request) {
	bucket, key, err := bucketAndKey(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	props := a.b.BucketProps(bucket)
	if err := refuseKV(props); err != nil { // types.go
		a.writeError(w, r, err)
		return
	}
	o, _, vctx, err := parseWrite(r, queryOf(r), props)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := a.withTimeout(w, r, o.Timeout, a.b.DefaultTimeout())
	defer cancel()
	v := versioning.Value{Deleted: true, LastModified: time.Now().UnixNano()}
	if _, err := a.b.Put(ctx, bucket, key, vctx, v, o); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(nethttp.StatusNoContent)
}

// write stores the request body under bucket/key: PUT, or POST when created.
// Everything is checked before the backend is called, so a rejected request
// changes nothing.
func (a *api) write(w nethttp.ResponseWriter, r *nethttp.Request, bucket, key string, created bool) {
	props := a.b.BucketProps(bucket)
	if err := refuseKV(props); err != nil { // types.go
		a.writeError(w, r, err)
		return
	}
	q := queryOf(r)
	o, returnBody, vctx, err := parseWrite(r, q, props)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ct, err := parseContentType(r.Header)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	meta, err := parseMeta(r.Header)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ttl, err := parseTTL(r, q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	data, err := a.readBody(w, r, props.MaxValueBytes)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if props.WarnValueBytes > 0 && int64(len(data)) > props.WarnValueBytes {
		a.log.Debug("large value", "bytes", len(data), "warn_bytes", props.WarnValueBytes, "request_id", infoOf(w).id)
	}
	v := versioning.Value{Data: data, ContentType: ct, LastModified: time.Now().UnixNano(), Meta: meta}
	v.Expires = props.Expiry(v.LastModified, ttl)

	ctx, cancel := a.withTimeout(w, r, o.Timeout, a.b.DefaultTimeout())
	defer cancel()
	obj, err := a.b.Put(ctx, bucket, key, vctx, v, o)
	if err == nil && returnBody && obj == nil {
		err = errors.New("http: backend returned neither object nor error")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.m.sizeWrite.Observe(float64(len(data)))

	status := nethttp.StatusNoContent
	if created {
		w.Header().Set("Location", "/kv/"+url.PathEscape(bucket)+"/"+url.PathEscape(key))
		status = nethttp.StatusCreated
	}
	if returnBody {
		ok := nethttp.StatusOK
		if created {
			ok = nethttp.StatusCreated
		}
		a.writeObject(w, r, obj, ok, "")
		return
	}
	// When the write left exactly one value, its context covers nothing
	// the client has not seen, so the client may write again with it and
	// skip a read. With siblings left it must read them first: no context.
	if obj != nil && obj.Clock.Len() == 1 {
		w.Header().Set(hdrContext, obj.Context.Encode())
	}
	w.WriteHeader(status)
}

// readBody reads a value of at most limit bytes (the bucket's
// max_value_bytes, capped by Config.MaxBodyBytes). A declared or actual
// larger body is a 413; the excess is never read. Once the whole body is
// in, the body deadline set by the middleware is lifted, so that it cannot
// cancel the rest of the request.
func (a *api) readBody(w nethttp.ResponseWriter, r *nethttp.Request, limit int64) ([]byte, error) {
	if limit <= 0 || limit > a.cfg.MaxBodyBytes {
		limit = a.cfg.MaxBodyBytes
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	if r.Body == nil { // only requests built by hand; servers always set one
		return nil, nil
	}
	info := infoOf(w)
	b, err := readLimited(r.Body, limit, r.ContentLength, func(n int64) bool { return a.hold(info, n) })
	if err == nil {
		setReadDeadline(w, time.Time{})
	}
	return b, err
}

// firstBodyChunk is the buffer a body is first read into.
const firstBodyChunk = 16 << 10

// readLimited reads body to its end, at most limit bytes; declared is the
// announced length (-1 if unknown). The buffer grows only as bytes arrive,
// doubling, and never past declared+1 or limit+1 bytes (the one byte more
// shows a body longer than announced or allowed): a client that announces
// 16 MiB and sends nothing costs one small buffer, not 16 MiB. The
// buffer's capacity is taken from hold as it grows (n bytes more at each
// step); when hold refuses, the read ends with errOverloaded.
func readLimited(body io.Reader, limit, declared int64, hold func(n int64) bool) ([]byte, error) {
	ceiling := limit + 1
	if declared >= 0 && declared < limit {
		ceiling = declared + 1
	}
	first := min(firstBodyChunk, ceiling)
	if !hold(first) {
		return nil, errOverloaded
	}
	buf := make([]byte, 0, first)
	for empty := 0; ; {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, tooLarge(limit)
			}
			next := min(2*int64(cap(buf)), limit+1)
			if int64(len(buf)) < ceiling {
				next = min(next, ceiling)
			}
			if !hold(next - int64(cap(buf))) { // the old buffer is garbage once copied
				return nil, errOverloaded
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if n == 0 && err == nil {
			if empty++; empty > 100 { // as bufio: a reader that makes no progress
				return nil, badRequest("could not read the request body")
			}
			continue
		}
		empty = 0
		if err == io.EOF {
			if int64(len(buf)) > limit {
				return nil, tooLarge(limit)
			}
			return buf, nil
		}
		if err != nil {
			var mbe *nethttp.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge(min(limit, mbe.Limit))
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, errBodyTimeout
			}
			return nil, badRequest("could not read the request body")
		}
	}
}

// bucketAndKey returns the decoded {bucket} and {key} of r.
func bucketAndKey(w nethttp.ResponseWriter, r *nethttp.Request) (bucket, key string, err error) {
	if bucket, err = pathVar(w, r, "bucket"); err != nil {
		return "", "", err
	}
	if key, err = pathVar(w, r, "key"); err != nil {
		return "", "", err
	}
	return bucket, key, nil
}
