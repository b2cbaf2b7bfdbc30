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

// GroupCommits returns how many batches of unsynced Puts l wrote and how
// many Puts they held.
func GroupCommits(l *LevelDB) (groups, puts int64) {
	return l.group.groups.Load(), l.group.puts.Load()
}
