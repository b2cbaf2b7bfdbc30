package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkAVL verifies the tree invariants below n (order within (lo, hi),
// stored heights, balance) and returns its height.
func checkAVL(t *testing.T, n *avlNode, lo, hi []byte) int32 {
	t.Helper()
	if n == nil {
		return 0
	}
	if lo != nil && bytes.Compare(n.key, lo) <= 0 || hi != nil && bytes.Compare(n.key, hi) >= 0 {
		t.Fatalf("key %q out of order within (%q, %q)", n.key, lo, hi)
	}
	hl, hr := checkAVL(t, n.left, lo, n.key), checkAVL(t, n.right, n.key, hi)
	if hl-hr > 1 || hr-hl > 1 {
		t.Fatalf("node %q unbalanced: %d vs %d", n.key, hl, hr)
	}
	if n.height != max(hl, hr)+1 {
		t.Fatalf("node %q height %d, want %d", n.key, n.height, max(hl, hr)+1)
	}
	return n.height
}

func treeContents(n *avlNode) map[string]string {
	m := map[string]string{}
	var walk func(*avlNode)
	walk = func(n *avlNode) {
		if n != nil {
			walk(n.left)
			m[string(n.key)] = string(n.val)
			walk(n.right)
		}
	}
	walk(n)
	return m
}

// TestMemory_modelAndPersistence applies random puts, deletes and batches
// to the engine and to a map, checking the AVL invariants, the contents,
// and that every earlier root (snapshot) still holds its old contents.
func TestMemory_modelAndPersistence(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	m := NewMemory()
	model := map[string]string{}
	type snap struct {
		root *avlNode
		want map[string]string
	}
	var snaps []snap
	for i := range 5000 {
		k := fmt.Sprintf("%03d", rng.IntN(300))
		switch op := rng.IntN(10); {
		case op < 6:
			v := fmt.Sprint(i)
			if err := m.Put([]byte(k), []byte(v), false); err != nil {
				t.Fatal(err)
			}
			model[k] = v
		case op < 9:
			if err := m.Delete([]byte(k), false); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
		default:
			var b Batch
			for range rng.IntN(5) {
				k := fmt.Sprintf("%03d", rng.IntN(300))
				if rng.IntN(2) == 0 {
					b.Put([]byte(k), []byte("b"))
					model[k] = "b"
				} else {
					b.Delete([]byte(k))
					delete(model, k)
				}
			}
			if err := m.Write(&b, false); err != nil {
				t.Fatal(err)
			}
		}
		if i%250 == 0 {
			root := m.root.Load()
			checkAVL(t, root, nil, nil)
			if got := treeContents(root); !maps.Equal(got, model) {
				t.Fatalf("op %d: tree holds %d keys, model %d", i, len(got), len(model))
			}
			snaps = append(snaps, snap{root, maps.Clone(model)})
		}
	}
	for i, s := range snaps {
		if got := treeContents(s.root); !maps.Equal(got, s.want) {
			t.Fatalf("snapshot %d changed after later writes", i)
		}
	}
}

func TestMemory_crashClone(t *testing.T) {
	m := NewMemory()
	put := func(e *Memory, k string, sync bool) {
		t.Helper()
		if err := e.Put([]byte(k), []byte(k), sync); err != nil {
			t.Fatal(err)
		}
	}
	keys := func(e *Memory) []string {
		t.Helper()
		var ks []string
		if err := e.Scan(nil, nil, func(k, _ []byte) error { ks = append(ks, string(k)); return nil }); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	if got := keys(m.CrashClone()); got != nil {
		t.Fatalf("clone of a new engine holds %q", got)
	}
	put(m, "a", false)
	if got := keys(m.CrashClone()); got != nil {
		t.Fatalf("unsynced write survived a crash: %q", got)
	}
	put(m, "b", true) // makes a durable too
	put(m, "c", false)
	if err := m.Delete([]byte("a"), false); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(m.CrashClone()), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("after crash %q, want %q", got, want)
	}
	// A synced delete makes everything before it durable.
	if err := m.Delete([]byte("nothing"), true); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(m.CrashClone()), []string{"b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("after synced delete and crash %q, want %q", got, want)
	}
	// Batches: all or nothing, durable only with sync.
	var b Batch
	b.Put([]byte("d"), nil)
	b.Delete([]byte("b"))
	if err := m.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(m.CrashClone()), []string{"b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("unsynced batch survived: %q, want %q", got, want)
	}
	if err := m.Write(&Batch{}, true); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(m.CrashClone()), []string{"c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("after synced batch %q, want %q", got, want)
	}
	// A clone of a closed engine works, and is independent of it.
	put(m, "e", false)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	c := m.CrashClone()
	put(c, "f", false)
	if got, want := keys(c), []string{"c", "d", "f"}; !slices.Equal(got, want) {
		t.Fatalf("clone after close %q, want %q", got, want)
	}
	if got, want := keys(c.CrashClone()), []string{"c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("clone of clone %q, want %q", got, want)
	}
	if _, err := m.Get([]byte("c")); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed original: Get = %v, want ErrClosed", err)
	}
}

// TestMemory_100kKeys: the memory engine must handle the key counts of
// cluster tests; a quadratic structure would time out here.
func TestMemory_100kKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("100k keys")
	}
	const n = 100_000
	m := NewMemory()
	rng := rand.New(rand.NewPCG(23, 24))
	for _, p := range rng.Perm(n) {
		k := binary.BigEndian.AppendUint32(nil, uint32(p))
		if err := m.Put(k, k, false); err != nil {
			t.Fatal(err)
		}
	}
	if h, limit := avlHeight(m.root.Load()), int32(25); h > limit { // 1.44·log2(n) ≈ 24
		t.Fatalf("height %d for %d keys, want <= %d", h, n, limit)
	}
	for i := range n {
		k := binary.BigEndian.AppendUint32(nil, uint32(i))
		if v, err := m.Get(k); err != nil || !bytes.Equal(v, k) {
			t.Fatalf("Get(%d) = %x, %v", i, v, err)
		}
	}
	count := 0
	if err := m.Scan(nil, nil, func(k, _ []byte) error {
		if binary.BigEndian.Uint32(k) != uint32(count) {
			return fmt.Errorf("key %x at position %d", k, count)
		}
		count++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("scanned %d keys, want %d", count, n)
	}
}
