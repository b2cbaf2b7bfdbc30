package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// memLocal is a Local over a sorted in-memory map.
type memLocal struct {
	objs map[storage.Key]versioning.Clock
}

func (l *memLocal) ScanLocal(lo, hi uint64, fn func(storage.Key, versioning.Clock) error) error {
	keys := make([]storage.Key, 0, len(l.objs))
	for k := range l.objs {
		if k.Hash >= lo && k.Hash <= hi {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b storage.Key) int {
		if a.Hash != b.Hash {
			if a.Hash < b.Hash {
				return -1
			}
			return 1
		}
		return bytes.Compare([]byte(a.Key), []byte(b.Key))
	})
	for _, k := range keys {
		if err := fn(k, l.objs[k]); err != nil {
			return err
		}
	}
	return nil
}

func (l *memLocal) MergeLocal(k storage.Key, c versioning.Clock) error {
	l.objs[k] = versioning.Sync(l.objs[k], c)
	return nil
}

func (l *memLocal) ReleaseLocal(k storage.Key) (bool, error) {
	_, ok := l.objs[k]
	delete(l.objs, k)
	return ok, nil
}

// memMeta is a Meta in memory.
type memMeta map[string][]byte

func (m memMeta) GetMeta(name string) ([]byte, error) {
	if b, ok := m[name]; ok {
		return b, nil
	}
	return nil, storage.ErrNotFound
}

func (m memMeta) PutMeta(name string, v []byte) error {
	m[name] = slices.Clone(v)
	return nil
}

func testRing(t *testing.T) *ring.Ring {
	cfg := ring.DefaultConfig()
	cfg.Partitions, cfg.Tokens = 16, 8
	r, err := ring.New(cfg, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func value(s string) versioning.Clock {
	return versioning.Update(versioning.New(nil, versioning.Value{Data: []byte(s)}), versioning.Clock{}, 1)
}

// TestServeAndDecodePages: pages of a source cover a range exactly once,
// in order, cut at the page size but never between keys of one hash.
func TestServeAndDecodePages(t *testing.T) {
	r := testRing(t)
	src := &memLocal{objs: map[storage.Key]versioning.Clock{}}
	lo, hi := r.Range(3)
	want := map[string]bool{}
	for i := range 200 {
		h := lo + uint64(i/2)*((hi-lo)/200) // pairs of keys share a hash
		k := storage.Key{Hash: h, Bucket: "b", Key: fmt.Sprintf("k%03d", i)}
		src.objs[k] = value(k.Key + string(bytes.Repeat([]byte("x"), 100)))
		want[k.Key] = true
	}
	m, err := New(Config{Self: "a", Range: r.Range, Partition: r.Partition, PageBytes: 1000}, src, nil, nil, memMeta{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	cursor, pages := lo, 0
	for {
		b, err := m.Serve(context.Background(), "b", KindPage, encodePage(pageReq{partition: 3, from: cursor, to: hi, max: 1000}))
		if err != nil {
			t.Fatal(err)
		}
		page, err := decodePageReply(b)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range page.objects {
			if got[o.key.Key] {
				t.Fatalf("%s sent twice", o.key.Key)
			}
			got[o.key.Key] = true
			if o.key.Hash < cursor {
				t.Fatalf("%s before the cursor", o.key.Key)
			}
		}
		if page.done {
			break
		}
		if n := len(page.objects); n > 0 && page.objects[n-1].key.Hash >= page.next {
			t.Fatalf("next cursor %d not past the last hash %d", page.next, page.objects[n-1].key.Hash)
		}
		cursor = page.next
		if pages > 1000 {
			t.Fatal("no end")
		}
	}
	if len(got) != len(want) || pages < 10 {
		t.Fatalf("%d of %d keys in %d pages", len(got), len(want), pages)
	}
}

// TestServeRefusesBadRequests: malformed and out-of-range requests get an
// error reply, never a panic.
func TestServeRefusesBadRequests(t *testing.T) {
	r := testRing(t)
	m, err := New(Config{Self: "a", Range: r.Range, Partition: r.Partition}, &memLocal{objs: map[storage.Key]versioning.Clock{}}, nil, nil, memMeta{})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := r.Range(2)
	for name, body := range map[string][]byte{
		"empty":          nil,
		"garbage":        []byte("garbage"),
		"no partition":   encodePage(pageReq{partition: 16, from: 0, to: math.MaxUint64, max: 10}),
		"starts outside": encodePage(pageReq{partition: 2, from: lo - 1, to: hi, max: 10}),
		"backwards":      encodePage(pageReq{partition: 2, from: hi, to: lo, max: 10}),
		"zero page":      encodePage(pageReq{partition: 2, from: lo, to: hi, max: 0}),
		"huge page":      encodePage(pageReq{partition: 2, from: lo, to: hi, max: 1 << 30}),
	} {
		b, err := m.Serve(context.Background(), "x", KindPage, body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := decodePageReply(b); err == nil || errors.Is(err, errBusy) {
			t.Errorf("%s: answered %v, want an error reply", name, err)
		}
	}
}

// FuzzDecodePage: no input from a peer makes the decoders panic.
func FuzzDecodePage(f *testing.F) {
	f.Add(encodePage(pageReq{partition: 1, from: 2, to: 3, max: 4}))
	f.Add(encodePageReply(pageReply{objects: []object{{key: storage.Key{Hash: 1, Bucket: "b", Key: "k"}, raw: storage.AppendObject(nil, value("v"))}}, next: 9}))
	f.Add(encodeErr("busy"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodePage(b)
		_, _ = decodePageReply(b)
	})
}
