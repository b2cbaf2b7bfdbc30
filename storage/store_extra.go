package storage

import (
	"errors"
	"fmt"
)

// HasHint reports whether a hint to deliver k to target is stored.
func (s *Store) HasHint(target string, k Key) (bool, error) {
	_, err := s.e.Get(appendHintKey(nil, target, k))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("storage: has hint %s %s: %w", target, k, err)
}

// Fence returns once every read-modify-write that held a key lock when it
// was called has released it: it takes and drops every lock stripe once.
func (s *Store) Fence() {
	for i := range s.locks {
		s.locks[i].Lock()
		//lint:ignore SA2001 an empty critical section is the point: wait for holders
		s.locks[i].Unlock()
	}
}
