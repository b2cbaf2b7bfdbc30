package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

// memBlobFS is a blobFS in memory. WriteFile and Remove are durable at
// once, so crashClone keeps every file written and none removed: the
// harshest order for a Store that removed a file before the write that
// replaced its pointer was durable.
type memBlobFS struct {
	mu    sync.Mutex
	files map[string][]byte
	// writes counts WriteFile calls; the failAt-th (1-based, 0 never)
	// leaves half the file and fails.
	writes, failAt int
	// beforeRead, if set, runs at the start of ReadFile (without mu).
	beforeRead func(name string)
}

var errInjectedBlob = errors.New("injected blob write error")

func newMemBlobFS() *memBlobFS { return &memBlobFS{files: make(map[string][]byte)} }

func (m *memBlobFS) WriteFile(name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; ok {
		return fmt.Errorf("write %s: %w", name, fs.ErrExist)
	}
	m.writes++
	if m.writes == m.failAt {
		m.files[name] = bytes.Clone(data[:len(data)/2])
		return fmt.Errorf("write %s: %w", name, errInjectedBlob)
	}
	m.files[name] = bytes.Clone(data)
	return nil
}

func (m *memBlobFS) ReadFile(name string, size int, buf []byte) ([]byte, error) {
	if m.beforeRead != nil {
		m.beforeRead(name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[name]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", name, fs.ErrNotExist)
	}
	if len(f) != size {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", errBlobSize, name, len(f), size)
	}
	buf = sized(buf, size)
	copy(buf, f)
	return buf, nil
}

func (m *memBlobFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.files, name)
	return nil
}

func (m *memBlobFS) List() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.files)), nil
}

func (m *memBlobFS) names() []string {
	n, _ := m.List()
	return n
}

func (m *memBlobFS) crashClone() *memBlobFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemBlobFS()
	for name, f := range m.files {
		c.files[name] = bytes.Clone(f)
	}
	return c
}

// blobOpts are store options with blob files on fsys from 200 bytes, and
// no cache, so that reads reach the engine and the files.
func blobOpts(fsys blobFS) StoreOptions {
	return StoreOptions{CacheBytes: -1, BlobBytes: 200, blobFS: fsys}
}

func openBlobStoreT(t *testing.T, e Engine, o StoreOptions) *Store {
	t.Helper()
	s, err := NewStoreOptions(e, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sizedClock is a one-value clock whose data is tag then filler, n bytes.
func sizedClock(tag string, n int) versioning.Clock {
	return clockOf(tag + strings.Repeat("x", max(n-len(tag), 0)))
}

// storedPointers returns the names of the blob files the pointers stored
// in e name.
func storedPointers(t *testing.T, e Engine) []string {
	t.Helper()
	var names []string
	start, end := objectRange(0, ^uint64(0))
	err := e.Scan(start, end, func(key, v []byte) error {
		if !isBlobPointer(v) {
			return nil
		}
		k, err := parseObjectKey(key)
		if err != nil {
			return err
		}
		r, err := parseBlobPointer(v)
		if err != nil {
			return err
		}
		names = append(names, blobName(k.Hash, r.seq))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func TestBlobPointer_roundTripAndMalformed(t *testing.T) {
	r := blobRef{seq: 1<<40 + 3, size: 48 << 20, crc: 0xdeadbeef}
	p := appendBlobPointer(nil, r)
	if len(p) > blobPointerMax || !isBlobPointer(p) {
		t.Fatalf("pointer %x: %d bytes, isBlobPointer %v", p, len(p), isBlobPointer(p))
	}
	got, err := parseBlobPointer(p)
	if err != nil || got != r {
		t.Fatalf("parse = %+v, %v; want %+v", got, err, r)
	}
	if isBlobPointer(AppendObject(nil, clockOf("v"))) {
		t.Fatal("an object reads as a blob pointer")
	}
	bad := map[string][]byte{
		"empty":          {},
		"object":         AppendObject(nil, clockOf("v")),
		"truncated":      p[:len(p)-1],
		"trailing":       append(slices.Clone(p), 0),
		"non-minimal":    {blobPointerV1, 0, 0, 0, 0, 0, 0, 0, 1, 0x87, 0x80, 0x80, 0x00, 1, 2, 3, 4},
		"too small":      appendBlobPointer(nil, blobRef{seq: 1, size: 3}),
		"size overflows": append(append([]byte{blobPointerV1, 0, 0, 0, 0, 0, 0, 0, 1}, bytes.Repeat([]byte{0xff}, 9)...), 1, 1, 2, 3, 4),
	}
	for name, b := range bad {
		if _, err := parseBlobPointer(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s %x: err = %v, want ErrCorrupt", name, b, err)
		}
	}
	for _, tc := range []struct {
		name      string
		hash, seq uint64
		ok        bool
	}{
		{blobName(0xfedcba9876543210, 7), 0xfedcba9876543210, 7, true},
		{"0123456789abcdef-0000000000000001.tmp", 0, 0, false},
		{"0123456789abcdeg-0000000000000001.blob", 0, 0, false},
		{"LOCK", 0, 0, false},
	} {
		h, s, ok := parseBlobName(tc.name)
		if ok != tc.ok || ok && (h != tc.hash || s != tc.seq) {
			t.Errorf("parseBlobName(%q) = %x, %d, %v; want %x, %d, %v", tc.name, h, s, ok, tc.hash, tc.seq, tc.ok)
		}
	}
}

// TestStore_blobs checks that objects from BlobBytes on live in files, on
// both file systems, and read, scan and delete like the others; a file goes
// when its object is replaced or deleted.
func TestStore_blobs(t *testing.T) {
	for _, fsName := range []string{"mem", "os"} {
		t.Run(fsName, func(t *testing.T) {
			var fsys blobFS = newMemBlobFS()
			if fsName == "os" {
				fsys = osBlobFS{dir: t.TempDir()}
			}
			e := NewMemory()
			s := openBlobStoreT(t, e, blobOpts(fsys))
			files := func() []string { n, _ := fsys.List(); slices.Sort(n); return n }

			small, big, bigger := clockOf("small"), sizedClock("big", 300), sizedClock("bigger", 5000)
			// Two keys with one hash: a file is named by hash and sequence.
			k1 := Key{Hash: 9, Bucket: "b", Key: "k1"}
			k2 := Key{Hash: 9, Bucket: "b", Key: "k2"}
			k3 := Key{Hash: 10, Bucket: "b", Key: "k3"}
			if err := s.Put(k1, small, false); err != nil {
				t.Fatal(err)
			}
			if got := files(); len(got) != 0 {
				t.Fatalf("a small object made files %v", got)
			}
			if err := s.Put(k2, big, false); err != nil {
				t.Fatal(err)
			}
			if err := s.PutEncoded(k3, bigger, AppendObject(nil, bigger), true); err != nil {
				t.Fatal(err)
			}
			if got, want := files(), storedPointers(t, e); len(got) != 2 || !slices.Equal(got, want) {
				t.Fatalf("files %v, pointers %v; want two, the same", got, want)
			}
			wantClock(t, s, k1, small)
			wantClock(t, s, k2, big)
			wantClock(t, s, k3, bigger)

			var scanned []string
			err := s.Scan(0, ^uint64(0), func(k Key, c versioning.Clock) error {
				scanned = append(scanned, k.Key+"="+string(c.Entries[0].Values[0].Data[:3]))
				return nil
			})
			if want := []string{"k1=sma", "k2=big", "k3=big"}; err != nil || !slices.Equal(scanned, want) {
				t.Fatalf("Scan = %v, %v; want %v", scanned, err, want)
			}
			var raws [][]byte
			err = s.ScanRaw(0, ^uint64(0), func(_ Key, raw []byte) error {
				raws = append(raws, slices.Clone(raw))
				return nil
			})
			if err != nil || len(raws) != 3 || !bytes.Equal(raws[1], AppendObject(nil, big)) || !bytes.Equal(raws[2], AppendObject(nil, bigger)) {
				t.Fatalf("ScanRaw = %d objects, %v; want the encodings of the clocks", len(raws), err)
			}

			// Replaced by a large object, by a small one, deleted: the old
			// file goes each time.
			before := files()
			if err := s.Put(k2, bigger, false); err != nil {
				t.Fatal(err)
			}
			if got := files(); len(got) != 2 || slices.Equal(got, before) {
				t.Fatalf("after replacing k2: files %v, before %v", got, before)
			}
			if err := s.Put(k3, small, false); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(k2, false); err != nil {
				t.Fatal(err)
			}
			if got := files(); len(got) != 0 {
				t.Fatalf("files %v left after replacing and deleting every large object", got)
			}
			wantClock(t, s, k3, small)
			if _, err := s.Get(k2); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get(deleted) = %v, want ErrNotFound", err)
			}
			if s.blobs.mayHold(9) || s.blobs.mayHold(10) {
				t.Fatalf("pointer counts %v after the last pointer went", s.blobs.held)
			}
		})
	}
}

func TestStore_putEncodedRefusesOtherBytes(t *testing.T) {
	s := openBlobStoreT(t, NewMemory(), blobOpts(newMemBlobFS()))
	k := Key{Hash: 1, Bucket: "b", Key: "k"}
	if err := s.PutEncoded(k, clockOf("abc"), AppendObject(nil, clockOf("abcd")), false); err == nil {
		t.Fatal("PutEncoded took the encoding of another clock")
	}
	if _, err := s.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after a refused put = %v, want ErrNotFound", err)
	}
	if _, err := NewStoreOptions(NewMemory(), StoreOptions{BlobBytes: -1}); err == nil || !strings.Contains(err.Error(), "BlobBytes") {
		t.Fatalf("BlobBytes -1: err = %v, want it named", err)
	}
}

// TestStore_blobScanSnapshot: a scan reads the objects of its snapshot even
// when a write replaces one (and would remove its file) while it runs; the
// file goes when the scan ends.
func TestStore_blobScanSnapshot(t *testing.T) {
	fsys := newMemBlobFS()
	s := openBlobStoreT(t, NewMemory(), blobOpts(fsys))
	k1 := Key{Hash: 1, Bucket: "b", Key: "k1"}
	k2 := Key{Hash: 2, Bucket: "b", Key: "k2"}
	old, next := sizedClock("old", 400), sizedClock("new", 400)
	for _, k := range []Key{k1, k2} {
		if err := s.Put(k, old, false); err != nil {
			t.Fatal(err)
		}
	}
	oldFiles := fsys.names()
	var seen []string
	err := s.Scan(0, ^uint64(0), func(k Key, c versioning.Clock) error {
		seen = append(seen, k.Key+"="+string(c.Entries[0].Values[0].Data[:3]))
		if k == k1 {
			if err := s.Put(k2, next, false); err != nil {
				return err
			}
			if err := s.Delete(k1, false); err != nil {
				return err
			}
			if got := fsys.names(); len(got) != 3 {
				t.Errorf("during the scan: files %v, want both old ones and the new one", got)
			}
		}
		return nil
	})
	if want := []string{"k1=old", "k2=old"}; err != nil || !slices.Equal(seen, want) {
		t.Fatalf("Scan = %v, %v; want %v (its snapshot)", seen, err, want)
	}
	got := fsys.names()
	if len(got) != 1 || slices.Contains(oldFiles, got[0]) {
		t.Fatalf("after the scan: files %v, want only the new one (old ones %v)", got, oldFiles)
	}
	wantClock(t, s, k2, next)
}

// TestStore_blobGetRace: a write that replaces an object between a Get's
// read of the pointer and of its file makes the Get read the pointer again.
func TestStore_blobGetRace(t *testing.T) {
	for _, replacement := range []string{"large", "small", "deleted"} {
		t.Run(replacement, func(t *testing.T) {
			fsys := newMemBlobFS()
			s := openBlobStoreT(t, NewMemory(), blobOpts(fsys))
			k := Key{Hash: 1, Bucket: "b", Key: "k"}
			next := map[string]versioning.Clock{"large": sizedClock("new", 500), "small": clockOf("new")}[replacement]
			if err := s.Put(k, sizedClock("old", 500), false); err != nil {
				t.Fatal(err)
			}
			once := true
			fsys.beforeRead = func(string) {
				if !once {
					return
				}
				once = false
				var err error
				if replacement == "deleted" {
					err = s.Delete(k, false)
				} else {
					err = s.Put(k, next, false)
				}
				if err != nil {
					t.Error(err)
				}
			}
			got, err := s.Get(k)
			if replacement == "deleted" {
				if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
					t.Fatalf("Get = %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(normalize(got), normalize(next)) {
				t.Fatalf("Get = %v, %v; want the replacement", got, err)
			}
		})
	}
}

// TestStore_blobCorruption: a blob file that is damaged, truncated, grown,
// swapped or gone reads as corrupt, by Get and by both scans, never as
// data; a missing blob directory too.
func TestStore_blobCorruption(t *testing.T) {
	k := Key{Hash: 5, Bucket: "b", Key: "k"}
	other := sizedClock("other", 300)
	damage := map[string]func(t *testing.T, path string){
		"bit flip": func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[len(b)/2] ^= 1
			write(t, path, b)
		},
		"last byte flip": func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[len(b)-1] ^= 1
			write(t, path, b)
		},
		"truncated": func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			write(t, path, b[:len(b)-1])
		},
		"grown": func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			write(t, path, append(b, 0))
		},
		"another object": func(t *testing.T, path string) {
			write(t, path, AppendObject(nil, other))
		},
		"removed": func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openBlobStoreT(t, NewMemory(), StoreOptions{CacheBytes: -1, BlobBytes: 200, BlobDir: dir})
			if err := s.Put(k, sizedClock("value", 300), false); err != nil {
				t.Fatal(err)
			}
			paths, _ := filepath.Glob(filepath.Join(dir, "*.blob"))
			if len(paths) != 1 {
				t.Fatalf("files %v, want one", paths)
			}
			fn(t, paths[0])
			wantCorrupt := func(op string, err error) {
				t.Helper()
				var ce *CorruptError
				if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) || !errors.As(err, &ce) || ce.Key != k {
					t.Errorf("%s = %v, want a *CorruptError naming %s", op, err, k)
				}
			}
			c, err := s.Get(k)
			wantCorrupt("Get", err)
			if c.Len() != 0 {
				t.Errorf("Get returned data %v with its error", c)
			}
			wantCorrupt("Scan", s.Scan(0, ^uint64(0), func(Key, versioning.Clock) error {
				t.Error("Scan passed a corrupt object on")
				return nil
			}))
			err = s.ScanRaw(0, ^uint64(0), func(_ Key, raw []byte) error {
				if _, derr := DecodeObject(raw); derr == nil {
					t.Error("ScanRaw passed on bytes that decode")
				}
				return nil
			})
			if err != nil {
				wantCorrupt("ScanRaw", err)
			}
			// A write replaces it, as repair would.
			if err := s.Put(k, other, false); err != nil {
				t.Fatal(err)
			}
			wantClock(t, s, k, other)
		})
	}
	t.Run("no blob directory", func(t *testing.T) {
		e := NewMemory()
		s, err := NewStoreOptions(e, blobOpts(newMemBlobFS()))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(k, sizedClock("value", 300), true); err != nil {
			t.Fatal(err)
		}
		plain := openBlobStoreT(t, e, StoreOptions{CacheBytes: -1})
		_, err = plain.Get(k)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "no blob directory") {
			t.Fatalf("Get without a blob directory = %v, want corrupt, saying why", err)
		}
	})
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStore_blobSweep: opening a store removes the files no pointer names
// (a crash after the file, before its pointer) and leaves the others and
// files that are not blobs; it counts pointers so that a later small write
// frees the file it replaces.
func TestStore_blobSweep(t *testing.T) {
	dir := t.TempDir()
	e := NewMemory()
	o := StoreOptions{CacheBytes: -1, BlobBytes: 200, BlobDir: dir}
	s, err := NewStoreOptions(e, o)
	if err != nil {
		t.Fatal(err)
	}
	k := Key{Hash: 3, Bucket: "b", Key: "k"}
	if err := s.Put(k, sizedClock("kept", 300), true); err != nil {
		t.Fatal(err)
	}
	live, _ := filepath.Glob(filepath.Join(dir, "*.blob"))
	for _, name := range []string{blobName(3, 99), blobName(4, 1), "notes.txt"} {
		write(t, filepath.Join(dir, name), []byte("x"))
	}
	s.Close()

	s2 := openBlobStoreT(t, e.CrashClone(), o)
	left, _ := os.ReadDir(dir)
	var names []string
	for _, d := range left {
		names = append(names, d.Name())
	}
	if want := []string{filepath.Base(live[0]), "notes.txt"}; !slices.Equal(names, want) {
		t.Fatalf("after the sweep: %v, want %v", names, want)
	}
	wantClock(t, s2, k, sizedClock("kept", 300))
	if s2.blobs.seq.Load() < 99 {
		t.Errorf("next sequence %d would reuse names seen in the directory", s2.blobs.seq.Load()+1)
	}
	if err := s2.Put(k, clockOf("small"), false); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.blob")); len(left) != 0 {
		t.Fatalf("files %v left after the only large object became small", left)
	}
}

// failingEngine fails Put and Write after applying them (failApplied) or
// without (failLost), like a write whose fsync fails.
type failingEngine struct {
	Engine
	failApplied, failLost bool
}

var errInjectedEngine = errors.New("injected engine error")

func (f *failingEngine) Put(key, value []byte, sync bool) error {
	if f.failLost {
		return errInjectedEngine
	}
	if err := f.Engine.Put(key, value, sync); err != nil {
		return err
	}
	if f.failApplied {
		return errInjectedEngine
	}
	return nil
}

// TestStore_blobWriteFailures: a blob file that cannot be written fails
// the write with ErrWriteFailed and changes nothing; an engine write that
// fails after the file leaves a file the next open sweeps if its pointer
// did not land, and keeps if it did.
func TestStore_blobWriteFailures(t *testing.T) {
	k := Key{Hash: 8, Bucket: "b", Key: "k"}
	first, second := sizedClock("first", 300), sizedClock("second", 300)

	fsys := newMemBlobFS()
	s := openBlobStoreT(t, NewMemory(), blobOpts(fsys))
	if err := s.Put(k, first, false); err != nil {
		t.Fatal(err)
	}
	fsys.failAt = fsys.writes + 1
	if err := s.Put(k, second, false); !errors.Is(err, ErrWriteFailed) || !errors.Is(err, errInjectedBlob) {
		t.Fatalf("Put with a failing blob write = %v, want ErrWriteFailed wrapping the cause", err)
	}
	wantClock(t, s, k, first)

	for _, applied := range []bool{false, true} {
		t.Run(fmt.Sprintf("applied=%v", applied), func(t *testing.T) {
			mem, fsys := NewMemory(), newMemBlobFS()
			fe := &failingEngine{Engine: mem}
			s, err := NewStoreOptions(fe, blobOpts(fsys))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Put(k, first, true); err != nil {
				t.Fatal(err)
			}
			fe.failApplied, fe.failLost = applied, !applied
			if err := s.Put(k, second, true); !errors.Is(err, errInjectedEngine) {
				t.Fatalf("Put = %v, want the engine's error", err)
			}
			if got := fsys.names(); len(got) != 2 {
				t.Fatalf("files %v, want both (the outcome is unknown)", got)
			}
			s2 := openBlobStoreT(t, mem.CrashClone(), blobOpts(fsys))
			want := first
			if applied {
				want = second
			}
			wantClock(t, s2, k, want)
			if got, ptrs := fsys.names(), storedPointers(t, mem); !slices.Equal(got, ptrs) || len(got) != 1 {
				t.Fatalf("after reopening: files %v, pointers %v; want the one file named", got, ptrs)
			}
		})
	}
}

// TestStore_blobCrashSafety runs seeded workloads of small and large
// writes and deletes, some synced, with blob writes failing now and then,
// over keys that share hashes, and crashes now and then (Memory's
// CrashClone; blob files as written). After every crash no object reads
// as corrupt, each key holds a value it had since the last synced write,
// and the files are exactly those the pointers name.
func TestStore_blobCrashSafety(t *testing.T) {
	keys := []Key{
		{Hash: 1, Bucket: "b", Key: "a"}, {Hash: 1, Bucket: "b", Key: "b"},
		{Hash: 2, Bucket: "b", Key: "c"}, {Hash: 2, Bucket: "c", Key: "c"},
		{Hash: 3, Bucket: "b", Key: "d"},
	}
	const gone = "<none>"
	valueOf := func(t *testing.T, s *Store, k Key) string {
		t.Helper()
		c, err := s.Get(k)
		switch {
		case errors.Is(err, ErrNotFound):
			return gone
		case err != nil:
			t.Fatalf("Get(%s) = %v", k, err)
		}
		return string(c.Entries[0].Values[0].Data)
	}
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		mem, fsys := NewMemory(), newMemBlobFS()
		s, err := NewStoreOptions(mem, blobOpts(fsys))
		if err != nil {
			t.Fatal(err)
		}
		// since[k] holds every value k had since the last synced write.
		since := make(map[Key][]string)
		cur := make(map[Key]string)
		for _, k := range keys {
			cur[k], since[k] = gone, []string{gone}
		}
		crashes := 0
		for op := range 120 {
			k := keys[rng.IntN(len(keys))]
			sync := rng.IntN(5) == 0
			if rng.IntN(15) == 0 {
				fsys.failAt = fsys.writes + 1
			}
			var v string
			var err error
			switch r := rng.IntN(6); {
			case r == 0:
				v, err = gone, s.Delete(k, sync)
			case r < 3:
				v = fmt.Sprintf("small-%d", op)
				err = s.Put(k, clockOf(v), sync)
			default:
				v = fmt.Sprintf("large-%d-", op) + strings.Repeat("x", 200+rng.IntN(300))
				err = s.Put(k, clockOf(v), sync)
			}
			fsys.failAt = 0
			if err != nil {
				if !errors.Is(err, errInjectedBlob) || !errors.Is(err, ErrWriteFailed) {
					t.Fatalf("seed %d op %d: %v", seed, op, err)
				}
				if got := valueOf(t, s, k); got != cur[k] {
					t.Fatalf("seed %d op %d: a failed write changed %s to %.20q", seed, op, k, got)
				}
				continue
			}
			cur[k] = v
			since[k] = append(since[k], v)
			if sync {
				for _, k := range keys {
					since[k] = []string{cur[k]}
				}
			}
			if rng.IntN(12) != 0 {
				continue
			}
			crashes++
			crashed, crashedFS := mem.CrashClone(), fsys.crashClone()
			s.Close()
			mem, fsys = crashed, crashedFS
			if s, err = NewStoreOptions(mem, blobOpts(fsys)); err != nil {
				t.Fatalf("seed %d: reopen: %v", seed, err)
			}
			for _, k := range keys {
				got := valueOf(t, s, k)
				if !slices.Contains(since[k], got) {
					t.Fatalf("seed %d op %d: after a crash %s holds %.20q, want one of %.20q", seed, op, k, got, since[k])
				}
				cur[k], since[k] = got, []string{got}
			}
			if files, ptrs := fsys.names(), storedPointers(t, mem); !slices.Equal(files, ptrs) {
				t.Fatalf("seed %d op %d: after reopening files %v, pointers name %v", seed, op, files, ptrs)
			}
		}
		s.Close()
		if crashes == 0 {
			t.Fatalf("seed %d crashed no store", seed)
		}
	}
}

// TestStore_blobsLevelDB: large objects over goleveldb survive a reopen,
// and the data directory holds them as files, not in the database.
func TestStore_blobsLevelDB(t *testing.T) {
	dir := t.TempDir()
	o := DefaultStoreOptions()
	o.BlobDir = filepath.Join(dir, "blobs")
	open := func() *Store {
		e, err := OpenLevelDB(filepath.Join(dir, "db"), LevelDBOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewStoreOptions(e, o)
		if err != nil {
			e.Close()
			t.Fatal(err)
		}
		return s
	}
	s := open()
	k := Key{Hash: 77, Bucket: "b", Key: "big"}
	big := sizedClock("big", 4<<20)
	if err := s.Put(k, big, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var dbBytes int64
	filepath.WalkDir(filepath.Join(dir, "db"), func(_ string, d fs.DirEntry, _ error) error {
		if info, err := d.Info(); err == nil && !d.IsDir() {
			dbBytes += info.Size()
		}
		return nil
	})
	if dbBytes > 1<<20 {
		t.Errorf("the database holds %d bytes after one 4 MiB object", dbBytes)
	}
	s = open()
	defer s.Close()
	wantClock(t, s, k, big)
}
