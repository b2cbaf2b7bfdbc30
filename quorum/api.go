package quorum

import (
	"errors"
	"fmt"
	"time"

	"github.com/dynamod/dynamod/versioning"
)

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrNotFound: no replica holds any history of the key.
	ErrNotFound = errors.New("quorum: not found")
	// ErrUnavailable: too few replicas answered in time. The error is an
	// *UnavailableError with the counts. A failed write may still have
	// reached some replicas.
	ErrUnavailable = errors.New("quorum: unavailable")
	// ErrBadRequest: the client's request is invalid (bad quorum, context,
	// key). Nothing was changed.
	ErrBadRequest = errors.New("quorum: bad request")
	// ErrTooLarge: the value or the sibling count is over the bucket's limit.
	ErrTooLarge = errors.New("quorum: too large")
)

// UnavailableError details a quorum failure.
type UnavailableError struct {
	Op                      string // "get", "put", "delete"
	Want, Got               int    // replies needed and received
	WantPrimary, GotPrimary int    // of them from primaries
	WantDurable, GotDurable int    // of them durably written (dw)
	Reason                  string // "timeout", "insufficient replicas", ...
}

func (e *UnavailableError) Error() string {
	s := fmt.Sprintf("quorum: %s: %d of %d replicas answered", e.Op, e.Got, e.Want)
	if e.WantPrimary > 0 {
		s += fmt.Sprintf(", %d of %d primaries", e.GotPrimary, e.WantPrimary)
	}
	if e.WantDurable > 0 {
		s += fmt.Sprintf(", %d of %d durable", e.GotDurable, e.WantDurable)
	}
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

// Is matches ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// ReadOptions are a GET's per-request settings. Zero fields take the bucket's
// defaults.
type ReadOptions struct {
	R, PR      Quorum
	NotFoundOK *bool
	// Timeout bounds the whole request; zero takes the node default.
	Timeout time.Duration
}

// WriteOptions are a PUT's or DELETE's per-request settings.
type WriteOptions struct {
	W, PW, DW Quorum
	Timeout   time.Duration
}

// Object is a key's merged state as a read or write saw it.
type Object struct {
	Clock versioning.Clock
	// Context is versioning.Join(Clock), ready for the client.
	Context versioning.Context
	// Replicas is how many replicas answered (reads) or acked (writes).
	Replicas int
	// Warning, if set, tells the client something degraded (e.g. a
	// resolver failed and siblings were returned instead).
	Warning string
}
