package storage

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
)

// Memory is an ordered in-memory [Engine] for tests and the in-process
// cluster. It is a persistent (path-copying) AVL tree: every write builds a
// new root that shares all untouched nodes with the old one, so a snapshot
// is just a root pointer. Readers never take a lock; writers are serialized
// by a mutex. A write costs O(log n) time and allocations.
//
// Memory models durability like pebble's vfs CrashClone: a write with sync
// makes itself and every earlier write durable, and [Memory.CrashClone]
// returns an engine holding only durable writes.
//
// Scan hands fn copies in buffers that are overwritten on the next key, so
// a caller that keeps a key or value past fn sees it change here as it would
// on goleveldb.
type Memory struct {
	// root is the current tree (nil: empty). Loaded without a lock; stored
	// only with mu held.
	root atomic.Pointer[avlNode]
	// closed is set once by Close; checked by every operation.
	closed atomic.Bool

	// mu serializes writers and guards durable.
	mu sync.Mutex
	// durable is the root as of the last synced write: what survives a crash.
	durable *avlNode
}

var _ Engine = (*Memory)(nil)

// NewMemory returns an empty [Memory] engine.
func NewMemory() *Memory { return &Memory{} }

// CrashClone returns a new, open engine holding exactly the durable state of
// m: every write up to and including the last one made with sync. Unsynced
// writes after it are lost, as in a power failure. m is unchanged and may be
// closed already (crash, then clone, then reopen).
func (m *Memory) CrashClone() *Memory {
	m.mu.Lock()
	d := m.durable
	m.mu.Unlock()
	c := &Memory{durable: d}
	c.root.Store(d)
	return c
}

// Get implements [Engine.Get].
func (m *Memory) Get(key []byte) ([]byte, error) {
	if m.closed.Load() {
		return nil, fmt.Errorf("storage: memory get %x: %w", key, ErrClosed)
	}
	n := m.root.Load()
	for n != nil {
		switch c := bytes.Compare(key, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return bytes.Clone(n.val), nil
		}
	}
	return nil, ErrNotFound // as is: see ErrNotFound
}

// Put implements [Engine.Put].
func (m *Memory) Put(key, value []byte, sync bool) error {
	// One allocation holds both copies; the value gets a capped slice.
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	k, v := buf[:len(key):len(key)], buf[len(key):]
	return m.apply(sync, func(r *avlNode) *avlNode { return avlInsert(r, k, v) }, "put", key)
}

// Delete implements [Engine.Delete].
func (m *Memory) Delete(key []byte, sync bool) error {
	return m.apply(sync, func(r *avlNode) *avlNode {
		r, _ = avlRemove(r, key)
		return r
	}, "delete", key)
}

// Write implements [Engine.Write].
func (m *Memory) Write(b *Batch, sync bool) error {
	// Copy outside the lock; the tree keeps these slices.
	arena := bytes.Clone(b.arena)
	return m.apply(sync, func(r *avlNode) *avlNode {
		for _, op := range b.ops {
			key := arena[op.keyOff : op.keyOff+op.keyLen : op.keyOff+op.keyLen]
			switch op.kind {
			case opPut:
				r = avlInsert(r, key, arena[op.valOff:op.valOff+op.valLen:op.valOff+op.valLen])
			case opDelete:
				r, _ = avlRemove(r, key)
			}
		}
		return r
	}, "write", nil)
}

// apply runs f on the current root under the writer lock and publishes the
// result in one atomic store, which makes every write (and every batch)
// atomic for readers.
func (m *Memory) apply(sync bool, f func(*avlNode) *avlNode, op string, key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		if key == nil {
			return fmt.Errorf("storage: memory %s: %w", op, ErrClosed)
		}
		return fmt.Errorf("storage: memory %s %x: %w", op, key, ErrClosed)
	}
	r := f(m.root.Load())
	m.root.Store(r)
	if sync {
		m.durable = r
	}
	return nil
}

// Scan implements [Engine.Scan].
func (m *Memory) Scan(start, end []byte, fn func(key, value []byte) error) error {
	if m.closed.Load() {
		return fmt.Errorf("storage: memory scan %x-%x: %w", start, end, ErrClosed)
	}
	if start != nil && end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	// The snapshot: nodes reachable from this root never change.
	n := m.root.Load()
	// stack holds the nodes still to visit, smallest on top. An AVL tree of
	// height h has at least fib(h) nodes, so 64 entries cover any real size;
	// append grows it otherwise.
	var stackBuf [64]*avlNode
	stack := stackBuf[:0]
	for n != nil {
		if start == nil || bytes.Compare(n.key, start) >= 0 {
			stack = append(stack, n)
			n = n.left
		} else {
			n = n.right
		}
	}
	var kbuf, vbuf []byte
	for len(stack) > 0 {
		n = stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if end != nil && bytes.Compare(n.key, end) >= 0 {
			return nil
		}
		kbuf = append(kbuf[:0], n.key...)
		vbuf = append(vbuf[:0], n.val...)
		if err := fn(kbuf, vbuf); err != nil {
			return err
		}
		for c := n.right; c != nil; c = c.left {
			stack = append(stack, c)
		}
	}
	return nil
}

// Close implements [Engine.Close].
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed.Store(true)
	m.mu.Unlock()
	return nil
}

// avlNode is an immutable node of the persistent AVL tree. Nodes are never
// modified after they are published; a write copies the path it changes.
type avlNode struct {
	key, val    []byte
	left, right *avlNode
	height      int32
}

func avlHeight(n *avlNode) int32 {
	if n == nil {
		return 0
	}
	return n.height
}

func avlMake(k, v []byte, l, r *avlNode) *avlNode {
	return &avlNode{key: k, val: v, left: l, right: r, height: max(avlHeight(l), avlHeight(r)) + 1}
}

// avlBalance builds a node from (k, v, l, r), where the heights of l and r
// differ by at most 2, rotating to restore the AVL invariant.
func avlBalance(k, v []byte, l, r *avlNode) *avlNode {
	hl, hr := avlHeight(l), avlHeight(r)
	switch {
	case hl > hr+1:
		if avlHeight(l.left) >= avlHeight(l.right) {
			return avlMake(l.key, l.val, l.left, avlMake(k, v, l.right, r))
		}
		lr := l.right
		return avlMake(lr.key, lr.val, avlMake(l.key, l.val, l.left, lr.left), avlMake(k, v, lr.right, r))
	case hr > hl+1:
		if avlHeight(r.right) >= avlHeight(r.left) {
			return avlMake(r.key, r.val, avlMake(k, v, l, r.left), r.right)
		}
		rl := r.left
		return avlMake(rl.key, rl.val, avlMake(k, v, l, rl.left), avlMake(r.key, r.val, rl.right, r.right))
	}
	return avlMake(k, v, l, r)
}

// avlInsert returns a tree with k set to v; n is not modified.
func avlInsert(n *avlNode, k, v []byte) *avlNode {
	if n == nil {
		return &avlNode{key: k, val: v, height: 1}
	}
	switch c := bytes.Compare(k, n.key); {
	case c < 0:
		return avlBalance(n.key, n.val, avlInsert(n.left, k, v), n.right)
	case c > 0:
		return avlBalance(n.key, n.val, n.left, avlInsert(n.right, k, v))
	default:
		return &avlNode{key: k, val: v, left: n.left, right: n.right, height: n.height}
	}
}

// avlRemove returns a tree without k and whether k was present; n is not
// modified, and is returned as is when k is absent.
func avlRemove(n *avlNode, k []byte) (*avlNode, bool) {
	if n == nil {
		return nil, false
	}
	switch c := bytes.Compare(k, n.key); {
	case c < 0:
		l, ok := avlRemove(n.left, k)
		if !ok {
			return n, false
		}
		return avlBalance(n.key, n.val, l, n.right), true
	case c > 0:
		r, ok := avlRemove(n.right, k)
		if !ok {
			return n, false
		}
		return avlBalance(n.key, n.val, n.left, r), true
	}
	if n.left == nil {
		return n.right, true
	}
	if n.right == nil {
		return n.left, true
	}
	r, mk, mv := avlRemoveMin(n.right)
	return avlBalance(mk, mv, n.left, r), true
}

// avlRemoveMin returns n without its smallest entry, and that entry.
func avlRemoveMin(n *avlNode) (*avlNode, []byte, []byte) {
	if n.left == nil {
		return n.right, n.key, n.val
	}
	l, k, v := avlRemoveMin(n.left)
	return avlBalance(n.key, n.val, l, n.right), k, v
}
