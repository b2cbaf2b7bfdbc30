package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"

	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"
)

// journalRemover wraps goleveldb's storage so that journal files are
// removed by a goroutine of its own, after Remove has returned.
//
// goleveldb removes the journal of a flushed memtable while it holds the
// lock that every write takes (DB.dropFrozenMem holds memMu across
// Storage.Remove). Unlinking a journal of a whole write buffer (64 MiB by
// default), still in the page cache, frees all of its pages inside the
// system call (14–23 ms on the machines of docs/benchmarks.md), and every
// write of the node waited for it (20–53 ms), once per memtable flush.
//
// Removing later is safe because goleveldb removes a journal only once it
// is obsolete: the manifest already names a later journal, recovery
// replays only journals from that number on (goleveldb's manifests name
// no "previous journal"; that field is LevelDB's, read for compatibility),
// and opening removes the older ones it finds. A removal that had not run
// when the process stopped leaves a file the next open ignores and
// removes. Journal numbers are not reused once the file was created
// (goleveldb takes a number back only when creating the file failed), so
// a late removal cannot hit a newer journal. Tables are removed at once,
// as before: goleveldb may hand the number of a table it dropped to the
// next table it creates.
//
// Errors are written to goleveldb's log, as goleveldb does with the
// errors of the removals it makes itself; a file that is gone already is
// not an error (opening may ask again for one still queued). Close waits
// for the queued removals before it closes the storage beneath.
type journalRemover struct {
	lvstorage.Storage

	mu      sync.Mutex
	queue   []lvstorage.FileDesc
	running bool // a goroutine is working through queue
	closed  bool
	wg      sync.WaitGroup
}

func newJournalRemover(s lvstorage.Storage) *journalRemover {
	return &journalRemover{Storage: s}
}

// Remove removes fd at once unless it is a journal, which it queues.
func (r *journalRemover) Remove(fd lvstorage.FileDesc) error {
	if fd.Type != lvstorage.TypeJournal {
		return r.Storage.Remove(fd)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return lvstorage.ErrClosed
	}
	r.queue = append(r.queue, fd)
	if !r.running {
		r.running = true
		r.wg.Add(1)
		go r.run()
	}
	return nil
}

func (r *journalRemover) run() {
	defer r.wg.Done()
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		fd := r.queue[0]
		r.queue = r.queue[1:]
		r.mu.Unlock()
		if err := r.Storage.Remove(fd); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.Storage.Log(fmt.Sprintf("journal@remove removing @%d in the background: %q", fd.Num, err))
		}
	}
}

// Close waits for the queued removals, then closes the storage beneath.
// Later journal removals return ErrClosed, as the storage's own would.
func (r *journalRemover) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	return r.Storage.Close()
}
