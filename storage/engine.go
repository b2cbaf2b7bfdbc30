package storage

// Engine is an ordered byte key-value store. Keys are ordered by
// bytes.Compare. Both implementations, [LevelDB] and [Memory], pass the
// conformance suite in package storagetest.
//
// All methods are safe for concurrent use. Keys and values passed in may be
// reused by the caller as soon as the call returns; the engine keeps its own
// copy. After [Engine.Close] every method returns an error wrapping
// [ErrClosed].
type Engine interface {
	// Get returns the value stored under key, as a copy the caller owns, or
	// an error wrapping ErrNotFound. An empty value may be returned as nil.
	Get(key []byte) ([]byte, error)
	// Put stores value under key. With sync the write, and every write
	// before it, is durable when Put returns.
	Put(key, value []byte, sync bool) error
	// Delete removes key; deleting a missing key is not an error. sync is as
	// for Put.
	Delete(key []byte, sync bool) error
	// Write applies every operation of b atomically, in order (a later
	// operation on the same key wins). Readers see all of b or none of it.
	// b may be reused after Write returns.
	Write(b *Batch, sync bool) error
	// Scan calls fn for every key in [start, end) in key order, over a
	// consistent snapshot taken when Scan starts: writes made while it runs,
	// including writes made by fn itself, are not seen. A nil start means
	// from the first key, a nil end means to the last. key and value are
	// valid only until fn returns and must not be modified. If fn returns an
	// error, Scan stops and returns that error unchanged. fn may call other
	// methods of the engine, except Close.
	Scan(start, end []byte, fn func(key, value []byte) error) error
	// Close releases the engine. It waits for calls in progress and is
	// idempotent: later calls return nil.
	Close() error
}

// opKind is the kind of one batch operation.
type opKind uint8

const (
	opPut opKind = 1 + iota
	opDelete
)

// batchOp is one operation of a [Batch]; key and value are offsets into the
// batch's arena, so the arena can grow without invalidating them.
type batchOp struct {
	kind           opKind
	keyOff, keyLen int
	valOff, valLen int
}

// Batch is a list of writes applied atomically by [Engine.Write]. It copies
// the keys and values it is given. The zero Batch is empty and ready to use.
// A Batch is not safe for concurrent use.
type Batch struct {
	ops   []batchOp
	arena []byte
}

// Put adds a write of value under key.
func (b *Batch) Put(key, value []byte) {
	op := batchOp{kind: opPut, keyOff: len(b.arena), keyLen: len(key)}
	b.arena = append(b.arena, key...)
	op.valOff, op.valLen = len(b.arena), len(value)
	b.arena = append(b.arena, value...)
	b.ops = append(b.ops, op)
}

// Delete adds a deletion of key.
func (b *Batch) Delete(key []byte) {
	b.ops = append(b.ops, batchOp{kind: opDelete, keyOff: len(b.arena), keyLen: len(key)})
	b.arena = append(b.arena, key...)
}

// Len returns the number of operations in b.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties b, keeping its memory for reuse.
func (b *Batch) Reset() {
	b.ops = b.ops[:0]
	b.arena = b.arena[:0]
}

// each calls fn for every operation in order. The slices alias the arena and
// are valid until b changes; value is nil for a delete.
func (b *Batch) each(fn func(kind opKind, key, value []byte)) {
	for _, op := range b.ops {
		key := b.arena[op.keyOff : op.keyOff+op.keyLen : op.keyOff+op.keyLen]
		var value []byte
		if op.kind == opPut {
			value = b.arena[op.valOff : op.valOff+op.valLen : op.valOff+op.valLen]
		}
		fn(op.kind, key, value)
	}
}
