package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. Match them with errors.Is; the error itself is usually an
// [*Error] with the details.
var (
	// ErrNotFound: the key does not exist or its value is a tombstone (404).
	ErrNotFound = errors.New("client: not found")
	// ErrUnavailable: no node could serve the request: every node tried was
	// unreachable or answered 503 (quorum not met, timeout). A failed write
	// may still have reached some replicas.
	ErrUnavailable = errors.New("client: unavailable")
	// ErrBadRequest: the server rejected the request as invalid (400, and
	// 415 unsupported media type), or the client refused to send it. Nothing
	// was changed.
	ErrBadRequest = errors.New("client: bad request")
	// ErrTooLarge: the value or the number of siblings is over the server's
	// limit (413).
	ErrTooLarge = errors.New("client: too large")
	// ErrUnauthorized: the node needs a token and got none, or one that is
	// malformed, unknown or revoked (401). Not retried on other nodes.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrForbidden: the token lacks the grant the request needs (403).
	// Nothing was changed. Not retried on other nodes.
	ErrForbidden = errors.New("client: forbidden")
	// ErrConflict: the request does not fit the cluster's state, e.g. a
	// data-type operation on a bucket of another datatype, or a plain
	// write to a datatype bucket (409). Nothing was changed.
	ErrConflict = errors.New("client: conflict")
	// ErrPrecondition: a data-type remove without the context of a read
	// that saw what it removes (412). Nothing was changed.
	ErrPrecondition = errors.New("client: precondition failed")
)

// Error is a non-success answer from a node.
type Error struct {
	Op      string          // what the client was doing, e.g. "get cart/alice"
	Node    string          // base URL of the node that answered
	Status  int             // HTTP status code
	Message string          // the body's "error" field, or the status text
	Detail  json.RawMessage // the body's "detail" field, if any (503: want/got counts)
}

func (e *Error) Error() string {
	s := fmt.Sprintf("client: %s: %s answered %d", e.Op, e.Node, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if len(e.Detail) > 0 && string(e.Detail) != "null" {
		s += " " + string(e.Detail)
	}
	return s
}

// Is matches the sentinel that corresponds to the status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusUnsupportedMediaType
	case ErrTooLarge:
		return e.Status == http.StatusRequestEntityTooLarge
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrPrecondition:
		return e.Status == http.StatusPreconditionFailed
	}
	return false
}

// maxErrorText bounds how much of a non-JSON error body lands in a message.
const maxErrorText = 512

// errorFrom builds the *Error for an unexpected response.
func errorFrom(op string, r *response) *Error {
	e := &Error{Op: op, Node: r.node, Status: r.status}
	var body struct {
		Error  string          `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &body); err == nil && body.Error != "" {
		e.Message = body.Error
		e.Detail = body.Detail
		return e
	}
	text := strings.TrimSpace(string(r.body))
	if len(text) > maxErrorText {
		text = text[:maxErrorText] + "…"
	}
	if text == "" {
		text = http.StatusText(r.status)
	}
	e.Message = text
	return e
}

// badRequest is an error for a request the client refuses to send.
func badRequest(op, format string, args ...any) error {
	return fmt.Errorf("client: %s: %w: %s", op, ErrBadRequest, fmt.Sprintf(format, args...))
}
