package http

import (
	"context"
	"encoding/json"
	"errors"
	nethttp "net/http"
	"strconv"

	"github.com/dynamod/dynamod/auth"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// ErrConflict marks a backend error caused by the cluster's state rather
// than the request's form (removing a member that is alive): 409.
var ErrConflict = errors.New("conflict")

// Errors of the HTTP layer itself. Conditions shared with the backend use
// quorum's and versioning's sentinels.
var (
	errNoRoute          = errors.New("http: no such route")
	errMethodNotAllowed = errors.New("http: method not allowed")
	errUnsupportedMedia = errors.New("http: unsupported media type")
	errNotReady         = errors.New("http: not ready")
	errPanic            = errors.New("http: handler panicked")
	errBodyTimeout      = errors.New("http: request body not received within the body timeout")
	errOverloaded       = errors.New("http: in-flight request bytes at their limit")
)

// clientError wraps a sentinel with text written for the client: msg
// replaces the default "error" string of the status when set, and detail is
// sent as "detail". Its Error text is for logs.
type clientError struct {
	err    error // the sentinel (or an error wrapping one) that picks the status
	msg    string
	detail any
}

func (e *clientError) Error() string {
	if e.msg != "" {
		return e.err.Error() + ": " + e.msg
	}
	return e.err.Error()
}

func (e *clientError) Unwrap() error { return e.err }

// paramError reports a bad query parameter, by name.
func paramError(name, reason string) error {
	return &clientError{err: quorum.ErrBadRequest, msg: "bad parameter",
		detail: map[string]string{"parameter": name, "reason": reason}}
}

// headerError reports a bad request header, by name.
func headerError(name, reason string) error {
	return &clientError{err: quorum.ErrBadRequest, msg: "bad header",
		detail: map[string]string{"header": name, "reason": reason}}
}

// badRequest reports any other client mistake; reason is shown to the client.
func badRequest(reason string) error {
	return &clientError{err: quorum.ErrBadRequest, msg: "bad request", detail: reason}
}

// tooLarge reports a body over limit bytes.
func tooLarge(limit int64) error {
	return &clientError{err: quorum.ErrTooLarge, msg: "too large",
		detail: map[string]int64{"max_bytes": limit}}
}

// unsupportedMedia reports a Content-Type the route does not take.
func unsupportedMedia(reason string) error {
	return &clientError{err: errUnsupportedMedia, detail: reason}
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error  string `json:"error"`
	Detail any    `json:"detail,omitempty"`
}

// unavailableDetail is the detail of a 503 from a failed quorum.
type unavailableDetail struct {
	Op          string `json:"op,omitempty"`
	Want        int    `json:"want"`
	Got         int    `json:"got"`
	WantPrimary int    `json:"want_primary"`
	GotPrimary  int    `json:"got_primary"`
	WantDurable int    `json:"want_durable"`
	GotDurable  int    `json:"got_durable"`
	Reason      string `json:"reason,omitempty"`
}

// classify is the one place that maps an error to a status and the body the
// client sees. Only text written for clients goes into the body: messages of
// errors a client caused (they wrap quorum.ErrBadRequest, ErrBadQuorum,
// ErrTooLarge or versioning.ErrBadContext by the Backend contract), counts of
// a failed quorum, and otherwise a fixed string. requestID is quoted in
// internal errors so that an operator can find the logged cause.
func classify(err error, requestID string) (int, errorBody) {
	var status int
	var body errorBody
	var ue *quorum.UnavailableError
	switch {
	case errors.As(err, &ue):
		return nethttp.StatusServiceUnavailable, errorBody{Error: "unavailable", Detail: unavailableDetail{
			Op: ue.Op, Want: ue.Want, Got: ue.Got, WantPrimary: ue.WantPrimary, GotPrimary: ue.GotPrimary,
			WantDurable: ue.WantDurable, GotDurable: ue.GotDurable, Reason: ue.Reason,
		}}
	case errors.Is(err, auth.ErrUnauthenticated):
		status, body = nethttp.StatusUnauthorized, errorBody{Error: "unauthorized"}
	case errors.Is(err, auth.ErrForbidden):
		status, body = nethttp.StatusForbidden, errorBody{Error: "forbidden"}
	case errors.Is(err, errNotReady):
		status, body = nethttp.StatusServiceUnavailable, errorBody{Error: "not ready"}
	case errors.Is(err, versioning.ErrBadContext):
		status, body = nethttp.StatusBadRequest, errorBody{Error: "bad context", Detail: err.Error()}
	case errors.Is(err, quorum.ErrBadQuorum):
		status, body = nethttp.StatusBadRequest, errorBody{Error: "bad quorum", Detail: err.Error()}
	case errors.Is(err, quorum.ErrBadRequest):
		status, body = nethttp.StatusBadRequest, errorBody{Error: "bad request", Detail: err.Error()}
	case errors.Is(err, quorum.ErrConflict):
		status, body = nethttp.StatusConflict, errorBody{Error: "conflict", Detail: err.Error()}
	case errors.Is(err, quorum.ErrPrecondition):
		status, body = nethttp.StatusPreconditionFailed, errorBody{Error: "precondition failed", Detail: err.Error()}
	case errors.Is(err, ErrConflict):
		status, body = nethttp.StatusConflict, errorBody{Error: "conflict", Detail: err.Error()}
	case errors.Is(err, quorum.ErrNotFound), errors.Is(err, errNoRoute):
		status, body = nethttp.StatusNotFound, errorBody{Error: "not found"}
	case errors.Is(err, quorum.ErrTooLarge):
		status, body = nethttp.StatusRequestEntityTooLarge, errorBody{Error: "too large", Detail: err.Error()}
	case errors.Is(err, errUnsupportedMedia):
		status, body = nethttp.StatusUnsupportedMediaType, errorBody{Error: "unsupported media type"}
	case errors.Is(err, errOverloaded):
		status, body = nethttp.StatusServiceUnavailable, errorBody{Error: "overloaded", Detail: "too many request bytes in flight; retry later"}
	case errors.Is(err, errBodyTimeout):
		status, body = nethttp.StatusRequestTimeout, errorBody{Error: "request timeout", Detail: "the request body did not arrive in time"}
	case errors.Is(err, errMethodNotAllowed):
		status, body = nethttp.StatusMethodNotAllowed, errorBody{Error: "method not allowed"}
	case errors.Is(err, context.DeadlineExceeded):
		return nethttp.StatusServiceUnavailable, errorBody{Error: "timeout"}
	case errors.Is(err, context.Canceled):
		return nethttp.StatusServiceUnavailable, errorBody{Error: "cancelled"}
	default:
		return nethttp.StatusInternalServerError, errorBody{Error: "internal error",
			Detail: map[string]string{"request_id": requestID}}
	}
	// Our own client errors carry their text; it replaces the backend's.
	var ce *clientError
	if errors.As(err, &ce) {
		if ce.msg != "" {
			body.Error = ce.msg
		}
		body.Detail = ce.detail
	}
	return status, body
}

// writeError answers r with err. Headers already set on w (such as the
// context of a tombstone) are kept; Content-Type becomes JSON. Internal errors
// are logged with their full text, others at Debug.
func (a *api) writeError(w nethttp.ResponseWriter, r *nethttp.Request, err error) {
	info := infoOf(w)
	status, body := classify(err, info.id)
	if status == nethttp.StatusInternalServerError {
		a.log.Error("request failed", "err", err, "request_id", info.id, "route", info.route, "method", r.Method)
	} else {
		a.log.Debug("request rejected", "err", err, "status", status, "request_id", info.id, "route", info.route)
	}
	h := w.Header()
	if errors.Is(err, errOverloaded) {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // a failed write means the client is gone
}
