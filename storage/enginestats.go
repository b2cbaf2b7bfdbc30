package storage

import (
	"sync/atomic"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
)

// EngineStats are the storage engine's own figures, from
// [Store.EngineStats]: how long writes into goleveldb take and how often
// it held them back.
type EngineStats struct {
	// Writes counts the writes into goleveldb since the engine opened (a
	// group commit of concurrent Puts is one), WriteTime is their total
	// time, and SlowWrites those that took SlowWrite or more: goleveldb
	// held them back, for a level-0 compaction (it slows writers from 8
	// level-0 tables and pauses them from 12) or for the previous
	// memtable's flush when the current one is full.
	Writes, SlowWrites int64
	WriteTime          time.Duration
	// Level0Tables is how many tables level 0 holds now.
	Level0Tables int
	// WritePaused is set while goleveldb pauses writes for a level-0
	// compaction.
	WritePaused bool
}

// SlowWrite is the time from which a write into goleveldb counts as slow
// in [EngineStats]. A write that waits for nothing appends to the journal
// and the memtable in microseconds, and goleveldb's level-0 slowdown
// delays one by 1 ms; 100 ms is a write that waited for a paused level 0
// or for the previous memtable's flush.
const SlowWrite = 100 * time.Millisecond

// writeStats times writes into goleveldb.
type writeStats struct {
	n, slow, ns atomic.Int64
}

// observe records one write that started at start.
func (w *writeStats) observe(start time.Time) {
	d := time.Since(start)
	w.n.Add(1)
	w.ns.Add(int64(d))
	if d >= SlowWrite {
		w.slow.Add(1)
	}
}

// statsEngine is implemented by engines that report [EngineStats]
// ([LevelDB]).
type statsEngine interface {
	EngineStats() EngineStats
}

var _ statsEngine = (*LevelDB)(nil)

// EngineStats returns the engine's figures, and false if the engine keeps
// none (the in-memory one).
func (s *Store) EngineStats() (EngineStats, bool) {
	if se, ok := s.e.(statsEngine); ok {
		return se.EngineStats(), true
	}
	return EngineStats{}, false
}

// EngineStats reports the engine's write figures and goleveldb's level 0.
// While no database is open (closed, or a reopen failed) it reports the
// writes only.
func (l *LevelDB) EngineStats() EngineStats {
	s := EngineStats{
		Writes:     l.writes.n.Load(),
		SlowWrites: l.writes.slow.Load(),
		WriteTime:  time.Duration(l.writes.ns.Load()),
	}
	db, err := l.enter("stats", nil)
	if err != nil {
		return s
	}
	defer l.exit()
	var ds leveldb.DBStats
	if db.Stats(&ds) == nil {
		if len(ds.LevelTablesCounts) > 0 {
			s.Level0Tables = ds.LevelTablesCounts[0]
		}
		s.WritePaused = ds.WritePaused
	}
	return s
}
