package storage

import "time"

// SetReopenDrainTimeout sets how long a reopen waits for calls in progress,
// for the tests of package storage_test; it returns the function that
// restores it.
func SetReopenDrainTimeout(d time.Duration) (restore func()) {
	old := reopenDrainTimeout
	reopenDrainTimeout = d
	return func() { reopenDrainTimeout = old }
}
