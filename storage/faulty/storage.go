package faulty

import (
	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"
)

// Storage wraps goleveldb's file-system seam and fails chosen mutations:
// Create, SetMeta, Rename, Remove, and each Write and Sync on a file it
// created count as operations. A failing Write writes the first half of
// its bytes, like a torn write at a crash. Reads pass through uncounted.
// Config.Apply is ignored.
type Storage struct {
	lvstorage.Storage
	c counter
}

var _ lvstorage.Storage = (*Storage)(nil)

// NewStorage wraps inner.
func NewStorage(inner lvstorage.Storage, cfg Config) *Storage {
	return &Storage{Storage: inner, c: counter{cfg: cfg}}
}

// Ops returns the number of operations counted so far.
func (s *Storage) Ops() int { return int(s.c.ops.Load()) }

// Injected returns the number of failures injected so far.
func (s *Storage) Injected() int { return int(s.c.injected.Load()) }

// Heal stops injecting: every operation from now on passes, as when a full
// disk gets space again. Operations are still counted.
func (s *Storage) Heal() { s.c.healed.Store(true) }

// Create implements lvstorage.Storage.
func (s *Storage) Create(fd lvstorage.FileDesc) (lvstorage.Writer, error) {
	if err := s.c.next("create " + fd.String()); err != nil {
		return nil, err
	}
	w, err := s.Storage.Create(fd)
	if err != nil {
		return nil, err
	}
	return &writer{Writer: w, s: s, name: fd.String()}, nil
}

// SetMeta implements lvstorage.Storage.
func (s *Storage) SetMeta(fd lvstorage.FileDesc) error {
	if err := s.c.next("set meta " + fd.String()); err != nil {
		return err
	}
	return s.Storage.SetMeta(fd)
}

// Rename implements lvstorage.Storage.
func (s *Storage) Rename(oldfd, newfd lvstorage.FileDesc) error {
	if err := s.c.next("rename " + oldfd.String()); err != nil {
		return err
	}
	return s.Storage.Rename(oldfd, newfd)
}

// Remove implements lvstorage.Storage.
func (s *Storage) Remove(fd lvstorage.FileDesc) error {
	if err := s.c.next("remove " + fd.String()); err != nil {
		return err
	}
	return s.Storage.Remove(fd)
}

// writer fails chosen Writes and Syncs of one file.
type writer struct {
	lvstorage.Writer
	s    *Storage
	name string
}

func (w *writer) Write(p []byte) (int, error) {
	if err := w.s.c.next("write " + w.name); err != nil {
		n, _ := w.Writer.Write(p[:len(p)/2])
		return n, err
	}
	return w.Writer.Write(p)
}

func (w *writer) Sync() error {
	if err := w.s.c.next("sync " + w.name); err != nil {
		return err
	}
	return w.Writer.Sync()
}
