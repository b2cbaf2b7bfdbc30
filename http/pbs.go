package http

import (
	nethttp "net/http"
)

// pbs serves GET /cluster/pbs?bucket=B: the backend's staleness estimate
// (docs/design.md, "Staleness (PBS)") for the bucket's N, R and W and every
// other R and W; without bucket, for the default properties. A bucket
// name is checked as in a path: not empty, at most maxBucketBytes.
func (a *api) pbs(w nethttp.ResponseWriter, r *nethttp.Request) {
	q := queryOf(r)
	bucket, err := queryName(q, "bucket")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	timeout, err := parseTimeout(q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := a.withTimeout(w, r, timeout, a.b.DefaultTimeout())
	defer cancel()
	doc, err := a.b.PBS(ctx, bucket)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeRaw(w, r, doc)
}

// queryName returns the optional query parameter name ("" if absent),
// checked as pathVar checks a route variable: given once, not empty, and
// within its limit if it has one (nameLimits).
func queryName(q query, name string) (string, error) {
	s, ok, err := param(q, name)
	if err != nil || !ok {
		return "", err
	}
	if s == "" {
		return "", badRequest(name + " must not be empty")
	}
	if limit, bounded := nameLimits[name]; bounded && len(s) > limit {
		return "", nameTooLong(name, limit)
	}
	return s, nil
}
