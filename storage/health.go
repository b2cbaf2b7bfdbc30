package storage

import (
	"errors"
	"fmt"
	"time"
)

// Health is whether a store's engine takes writes, as /ready and /cluster
// report it. An engine that cannot fail this way (Memory) is always
// healthy.
type Health struct {
	// Writable is false from a write error until a reopen succeeds; every
	// write is refused meanwhile.
	Writable bool `json:"writable"`
	// Readable is false while no database is open (a reopen failed and so
	// did opening the database read-only).
	Readable bool `json:"readable"`
	// Error is the write error that stopped writes, and Since when it
	// happened.
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since,omitzero"`
	// ReopenAttempts counts the reopens that failed since then, the last
	// with LastReopenError; NextReopen is when the next is tried.
	ReopenAttempts  int       `json:"reopen_attempts,omitempty"`
	LastReopenError string    `json:"last_reopen_error,omitempty"`
	NextReopen      time.Time `json:"next_reopen,omitzero"`
	// Reopens counts the reopens that brought writes back, over the
	// engine's life.
	Reopens uint64 `json:"reopens"`
}

// Err returns nil when writes are taken, else an error that says why they
// are refused and what is being done about it.
func (h Health) Err() error {
	if h.Writable {
		return nil
	}
	s := fmt.Sprintf("storage refuses writes since %s after a write error: %s", h.Since.UTC().Format(time.RFC3339), h.Error)
	if h.ReopenAttempts > 0 {
		s += fmt.Sprintf("; %d reopen attempts failed, the last with: %s", h.ReopenAttempts, h.LastReopenError)
	}
	if !h.NextReopen.IsZero() {
		s += fmt.Sprintf("; next reopen in %v", time.Until(h.NextReopen).Round(time.Second))
	}
	if !h.Readable {
		s += "; reads fail too (no database open)"
	}
	return errors.New(s)
}

// healthEngine is implemented by engines that stop taking writes after a
// write error and recover by themselves ([LevelDB]).
type healthEngine interface {
	Health() Health
	// setHealthFunc sets the function called, from the goroutine that
	// changed it, after every change of the engine's health: a failure, a
	// failed reopen, a successful one. Calls may overlap. It must not
	// block or call the engine, except to read (the Store recounts hints).
	setHealthFunc(func(Health))
}

var _ healthEngine = (*LevelDB)(nil)

// Health reports whether the engine takes writes; see [LevelDB].
func (s *Store) Health() Health {
	if s.he != nil {
		return s.he.Health()
	}
	return Health{Writable: true, Readable: true}
}

// OnHealthChange sets f to be called after every change of the engine's
// health (a write error that stops writes, a failed reopen, a reopen that
// brings writes back), from the goroutine that changed it, with the state
// right after the change. Calls may overlap: a new failure just after a
// reopen may be reported before that reopen; [Store.Health] is always
// current. f must not block or call the Store. It replaces any earlier f;
// nil removes it.
func (s *Store) OnHealthChange(f func(Health)) {
	if f == nil {
		s.onHealth.Store(nil)
		return
	}
	s.onHealth.Store(&f)
}

// healthChanged is the engine's health observer. Once writes are back it
// recounts the hints: a write that failed may or may not have stored one.
func (s *Store) healthChanged(h Health) {
	if h.Writable {
		s.recountHints()
	}
	if f := s.onHealth.Load(); f != nil {
		(*f)(h)
	}
}

// recountHints sets the hint count from a scan, holding every hint lock so
// that no hint is written or dropped meanwhile. An error leaves it as is.
func (s *Store) recountHints() {
	for i := range s.hintLocks {
		s.hintLocks[i].Lock()
	}
	defer func() {
		for i := range s.hintLocks {
			s.hintLocks[i].Unlock()
		}
	}()
	var n int64
	err := s.e.Scan([]byte{prefixHint}, []byte{prefixHint + 1}, func(_, _ []byte) error {
		n++
		return nil
	})
	if err == nil {
		s.hints.Store(n)
	}
}
