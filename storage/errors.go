package storage

import "errors"

// Sentinel errors. Callers match them with errors.Is; every error this
// package returns wraps at most one of them and names the operation and the
// key it concerns, except a miss of Get (Engine and Store), which returns
// ErrNotFound as is.
var (
	// ErrNotFound: the key, object or metadata entry does not exist. It is
	// never returned for data that exists but cannot be read. A Get that
	// misses returns it unwrapped: a miss is the common case (every write
	// of a new key reads it first) and formatting the key into an error
	// cost three allocations each time.
	ErrNotFound = errors.New("storage: not found")
	// ErrCorrupt marks data that exists but does not decode: a bad object
	// encoding, a stored key that does not parse, a checksum mismatch, or a
	// database the engine reports as corrupted. It is never reported as
	// not-found and retrying does not help.
	ErrCorrupt = errors.New("storage: corrupt")
	// ErrClosed: the engine or store was closed.
	ErrClosed = errors.New("storage: closed")
	// ErrLocked: the data directory is locked by another process (or another
	// open engine in this one).
	ErrLocked = errors.New("storage: directory locked")
	// ErrWriteFailed: the engine failed to write (a full disk, an I/O
	// error), or refused a write because an earlier one failed and it has
	// not been reopened since (see [LevelDB] and [Store.Health]). Whether a
	// write that failed was applied is unknown; a refused one was not.
	ErrWriteFailed = errors.New("storage: write failed")
)
