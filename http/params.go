package http

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	nethttp "net/http"

	"github.com/dynamod/dynamod/quorum"
	"github.com/gorilla/mux"
)

// Limits on names, in decoded bytes. A bucket name is kept in memory for
// good (the bucket registry, gossiped properties), so it is short; a key
// travels in every node-to-node message about it.
const (
	maxKeyBytes    = 8 << 10
	maxBucketBytes = 255
)

// nameLimits bounds the route variables that are names.
var nameLimits = map[string]int{"bucket": maxBucketBytes, "key": maxKeyBytes}

// rawPathVar returns the route variable name as the client escaped it:
// from the request's reqInfo where withKVFastPath routed it, else from the
// router's.
func rawPathVar(w nethttp.ResponseWriter, r *nethttp.Request, name string) string {
	if info := infoOf(w); info.fast {
		switch name {
		case "bucket":
			return info.bucket
		case "key":
			return info.key
		}
	}
	return mux.Vars(r)[name]
}

// pathVar returns the route variable name, percent-decoded. An empty value
// is a 400, and so is a bucket or key longer than its limit.
func pathVar(w nethttp.ResponseWriter, r *nethttp.Request, name string) (string, error) {
	raw := rawPathVar(w, r, name)
	limit, bounded := nameLimits[name]
	if bounded && len(raw) > 3*limit { // longer than any encoding of limit bytes
		return "", nameTooLong(name, limit)
	}
	s, err := url.PathUnescape(raw)
	if err != nil {
		return "", badRequest(name + " is not percent-encoded correctly")
	}
	if s == "" {
		return "", badRequest(name + " must not be empty")
	}
	if bounded && len(s) > limit {
		return "", nameTooLong(name, limit)
	}
	return s, nil
}

// nameTooLong reports a bucket or key over its limit.
func nameTooLong(name string, limit int) error {
	return badRequest(name + " is longer than " + strconv.Itoa(limit) + " bytes")
}

// query is a request's raw query string, read as r.URL.Query() reads it
// (url.ParseQuery: pairs split at "&", a pair that holds ";" or does not
// unescape is left out) without building its map: a request
// asks it for a few names, and the map, its slices and its strings were
// 6 % of a node's allocated objects under load.
// TestQuery_sameAsParseQuery holds the two to the same answers.
type query string

// queryOf returns r's query.
func queryOf(r *nethttp.Request) query { return query(r.URL.RawQuery) }

// values returns the first value of name and how many values it has.
func (q query) values(name string) (first string, n int) {
	if strings.Count(string(q), "&") >= maxQuickPairs {
		// url.ParseQuery has a limit on pairs (GODEBUG urlmaxqueryparams)
		// past which it keeps none: let it decide. Its error is dropped,
		// as r.URL.Query drops it.
		m, _ := url.ParseQuery(string(q))
		vs := m[name]
		if len(vs) == 0 {
			return "", 0
		}
		return vs[0], len(vs)
	}
	for rest := string(q); rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k != name && !strings.ContainsAny(k, "%+") {
			continue // cannot unescape to name
		}
		k, err := url.QueryUnescape(k)
		if err != nil || k != name {
			continue
		}
		if v, err = url.QueryUnescape(v); err != nil {
			continue
		}
		if n == 0 {
			first = v
		}
		n++
	}
	return first, n
}

// maxQuickPairs is where query.values leaves a query to url.ParseQuery:
// well below its default limit (10 000 pairs), which only a GODEBUG
// setting lowers.
const maxQuickPairs = 100

// param returns the single value of query parameter name and whether it was
// given. A parameter given twice is a 400: the two could disagree.
func param(q query, name string) (string, bool, error) {
	v, n := q.values(name)
	if n > 1 {
		return "", false, paramError(name, "given more than once")
	}
	return v, n == 1, nil
}

// parseQuorumParam parses quorum parameter name and checks it against n_val
// n: its count (the bucket's value def standing in for "default") must be at
// most n and at least min. Absent or "default" yields quorum.Default, which
// the backend replaces by the bucket's value.
func parseQuorumParam(q query, name string, n int, def quorum.Quorum, min int) (quorum.Quorum, error) {
	s, ok, err := param(q, name)
	if err != nil || !ok {
		return quorum.Default, err
	}
	v, err := quorum.ParseQuorum(s)
	if err != nil {
		return 0, paramError(name, "want an integer, one, quorum, all or default")
	}
	if v == quorum.Default {
		return v, nil
	}
	c, err := v.Resolve(n, def)
	if err != nil {
		return 0, paramError(name, v.String()+" exceeds n_val "+strconv.Itoa(n))
	}
	if c < min {
		return 0, paramError(name, "must be at least "+strconv.Itoa(min))
	}
	return v, nil
}

// parseBool parses a true/false parameter; absent is false.
func parseBool(q query, name string) (value, given bool, err error) {
	s, ok, err := param(q, name)
	if err != nil || !ok {
		return false, false, err
	}
	switch strings.ToLower(s) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, false, paramError(name, "want true or false")
}

// parseTimeout parses the timeout parameter: milliseconds, 1..maxTimeout.
// Absent is 0.
func parseTimeout(q query) (time.Duration, error) {
	s, ok, err := param(q, "timeout")
	if err != nil || !ok {
		return 0, err
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms < 1 || ms > maxTimeout.Milliseconds() {
		return 0, paramError("timeout", "want milliseconds, 1.."+strconv.FormatInt(maxTimeout.Milliseconds(), 10))
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// parseReadOptions parses a GET's r, pr, notfound_ok and timeout against the
// bucket's properties.
func parseReadOptions(q query, p quorum.Props) (quorum.ReadOptions, error) {
	var o quorum.ReadOptions
	var err error
	if o.R, err = parseQuorumParam(q, "r", p.NVal, p.R, 1); err != nil {
		return o, err
	}
	if o.PR, err = parseQuorumParam(q, "pr", p.NVal, p.PR, 0); err != nil {
		return o, err
	}
	nf, given, err := parseBool(q, "notfound_ok")
	if err != nil {
		return o, err
	}
	if given {
		o.NotFoundOK = &nf
	}
	o.Timeout, err = parseTimeout(q)
	return o, err
}

// parseWriteOptions parses a write's w, pw, dw, timeout and returnbody
// against the bucket's properties, and checks any read parameters given.
func parseWriteOptions(q query, p quorum.Props) (o quorum.WriteOptions, returnBody bool, err error) {
	if o.W, err = parseQuorumParam(q, "w", p.NVal, p.W, 1); err != nil {
		return o, false, err
	}
	if o.PW, err = parseQuorumParam(q, "pw", p.NVal, p.PW, 0); err != nil {
		return o, false, err
	}
	if o.DW, err = parseQuorumParam(q, "dw", p.NVal, p.DW, 0); err != nil {
		return o, false, err
	}
	if o.Timeout, err = parseTimeout(q); err != nil {
		return o, false, err
	}
	// r and pr mean nothing to a write, but a client that sends them
	// expects them to be valid (as with returnbody in Riak): reject bad
	// ones rather than ignore them.
	if _, err = parseReadOptions(q, p); err != nil {
		return o, false, err
	}
	returnBody, _, err = parseBool(q, "returnbody")
	return o, returnBody, err
}

// withTimeout bounds r's work by the request's timeout, or by def when
// the request gave none, and gives the client Config.WriteTimeout past
// that deadline to take the answer (the connection's write deadline).
// Deadlines are set here, never in quorum. A bounded request is not
// cancelled when its client goes away, and from minShared on it shares
// its deadline context with the requests that started about when it did
// (deadline.go); a request without any deadline ends with its client.
func (a *api) withTimeout(w nethttp.ResponseWriter, r *nethttp.Request, d, def time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = def
	}
	if d <= 0 { // no deadline at all: nor for the answer
		setWriteDeadline(w, time.Time{})
		return context.WithCancel(r.Context())
	}
	sw, inMiddleware := w.(*statusWriter)
	if !inMiddleware || d < minShared {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), d)
		dl, _ := ctx.Deadline()
		setWriteDeadline(w, dl.Add(a.cfg.WriteTimeout))
		return ctx, cancel
	}
	ctx, cancel := a.deadlines.get(sw.start, d)
	if d != a.b.DefaultTimeout() {
		// The middleware gave the answer DefaultTimeout plus
		// WriteTimeout from the start: this one has its own timeout.
		dl, _ := ctx.Deadline()
		setWriteDeadline(w, dl.Add(a.cfg.WriteTimeout))
	}
	sw.ctx = reqContext{Context: ctx, vals: r.Context()}
	return &sw.ctx, cancel
}
