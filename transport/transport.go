package transport

import (
	"context"
	"errors"
)

// Handler serves the requests that reach a node.
type Handler interface {
	// Serve handles one request of the given kind from the node named from
	// and returns the response body, or an error that the caller receives as
	// a *[RemoteError] (only its text travels).
	//
	// Serve is called concurrently, each request in its own goroutine. body
	// is valid only until Serve returns: the transport reuses the buffer, so
	// a handler that keeps any of it must copy it. The returned slice is
	// owned by the transport from then on (it is copied or written out; the
	// handler must not change it afterwards). ctx carries the caller's
	// deadline and ends early when the connection or the transport closes;
	// Serve must honour it, since Close waits for running handlers. A panic
	// in Serve is recovered by the transport (both [TCP] and [MemNetwork]):
	// it is logged with the request's identity and stack, counted
	// (dynamod_transport_handler_panics_total; MemNetwork's Stats), and the
	// caller receives it as a *[RemoteError]. Whatever the handler had
	// changed before panicking stays changed.
	Serve(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error)
}

// HandlerFunc adapts a function to a [Handler].
type HandlerFunc func(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error)

// Serve calls f.
func (f HandlerFunc) Serve(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
	return f(ctx, from, kind, body)
}

// Caller sends requests to other nodes. [TCP] and [MemEndpoint] implement it.
type Caller interface {
	// Call sends body as a request of the given kind to the node named to
	// and waits for its response. It is safe for concurrent use and may
	// block until ctx ends; without a deadline on ctx the implementation's
	// default call timeout applies. Call does not keep body after it returns,
	// and the returned slice belongs to the caller (an empty response may be
	// nil).
	//
	// Errors: the ctx error (wrapped) when ctx ends first; a *[RemoteError]
	// when the handler failed; [ErrUnreachable] when the peer cannot be
	// reached or the connection broke (the request may or may not have been
	// served); [ErrTooLarge]; [ErrClosed] after Close.
	Call(ctx context.Context, to string, kind uint8, body []byte) ([]byte, error)
}

// Sentinel errors. Match them with errors.Is; the returned errors wrap them
// with the peer and the cause.
var (
	// ErrUnreachable: the peer could not be reached (unknown name, dial or
	// handshake failure, partition, crash) or the connection failed while
	// the call was in flight, in which case the request may have been
	// served.
	ErrUnreachable = errors.New("transport: peer unreachable")
	// ErrClosed: the transport (or memory network) was closed.
	ErrClosed = errors.New("transport: closed")
	// ErrTooLarge: a request or response exceeds the frame limit that the
	// two ends agreed on (the smaller of their MaxFrame). Nothing was sent
	// for a request; a response that is too large reaches the caller as this
	// error.
	ErrTooLarge = errors.New("transport: message too large")
)

// RemoteError is a handler's error as the caller receives it: only the text
// crosses the network.
type RemoteError struct {
	Msg string
}

func (e *RemoteError) Error() string { return "remote: " + e.Msg }

// unreachableError details ErrUnreachable with the peer and the cause.
type unreachableError struct {
	peer  string
	cause error
}

func (e *unreachableError) Error() string {
	return "transport: " + e.peer + " unreachable: " + e.cause.Error()
}

func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }
func (e *unreachableError) Unwrap() error        { return e.cause }

func unreachable(peer string, cause error) error {
	if errors.Is(cause, ErrUnreachable) {
		return cause
	}
	return &unreachableError{peer: peer, cause: cause}
}
