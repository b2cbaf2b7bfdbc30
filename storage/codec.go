package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"slices"

	"github.com/dynamod/dynamod/versioning"
)

// Object encoding, format version 1 (see doc.go for the layout). The same
// bytes are stored on disk and sent between nodes.
const (
	// objectFormatV1 is the first byte of every version-1 object: a magic
	// nibble 0xd and the version 1.
	objectFormatV1 = 0xd1

	// The bits of a value's flags byte: a tombstone, and a value with an
	// expiry (8 more bytes after its LastModified).
	valueDeleted = 1 << 0
	valueExpires = 1 << 1

	// Minimum encoded sizes, used to reject counts the input cannot hold
	// before allocating for them.
	minEntrySize = 8 + 1 + 1         // actor, counter, value count
	minValueSize = 1 + 1 + 1 + 8 + 1 // flags, data len, type len, time, meta count
	minMetaSize  = 1 + 1             // name len, value len
	crcSize      = 4

	// maxPrealloc bounds the items (entries, values, metadata pairs)
	// allocated for a count before they are decoded. A count passes the
	// size check above while its items can still cost several times the
	// bytes they take (a metadata pair takes 2 bytes and costs about 80 in
	// a map): past this many, room grows only as items actually decode, so
	// input that fails part way costs about what was decoded.
	maxPrealloc = 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendObject appends the encoding of c to dst and returns the extended
// slice. The encoding is canonical: equal clocks (with nil and empty Data
// and Meta taken as equal) encode to equal bytes, metadata sorted by name.
// c must satisfy [versioning.Clock.Validate]; otherwise the bytes will not
// decode. AppendObject allocates only to grow dst.
func AppendObject(dst []byte, c versioning.Clock) []byte {
	start := len(dst)
	dst = slices.Grow(dst, objectSize(c))
	dst = append(dst, objectFormatV1)
	dst = binary.AppendUvarint(dst, uint64(len(c.Entries)))
	for _, e := range c.Entries {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.Actor))
		dst = binary.AppendUvarint(dst, e.Counter)
		dst = binary.AppendUvarint(dst, uint64(len(e.Values)))
		for i := range e.Values {
			dst = appendValue(dst, &e.Values[i])
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.Anon)))
	for i := range c.Anon {
		dst = appendValue(dst, &c.Anon[i])
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func appendValue(dst []byte, v *versioning.Value) []byte {
	var flags byte
	if v.Deleted {
		flags |= valueDeleted
	}
	if v.Expires != 0 {
		flags |= valueExpires
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(v.Data)))
	dst = append(dst, v.Data...)
	dst = binary.AppendUvarint(dst, uint64(len(v.ContentType)))
	dst = append(dst, v.ContentType...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(v.LastModified))
	if v.Expires != 0 {
		dst = binary.BigEndian.AppendUint64(dst, uint64(v.Expires))
	}
	dst = binary.AppendUvarint(dst, uint64(len(v.Meta)))
	if len(v.Meta) == 0 {
		return dst
	}
	var buf [8]string
	names := buf[:0]
	for name := range v.Meta {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		val := v.Meta[name]
		dst = binary.AppendUvarint(dst, uint64(len(name)))
		dst = append(dst, name...)
		dst = binary.AppendUvarint(dst, uint64(len(val)))
		dst = append(dst, val...)
	}
	return dst
}

// ObjectSize returns the length of [AppendObject]'s encoding of c, so that
// a message can be sized (and its length prefix written) before the object
// is encoded into it.
func ObjectSize(c versioning.Clock) int { return objectSize(c) }

// objectSize returns the exact length of c's encoding.
func objectSize(c versioning.Clock) int {
	n := 1 + uvarintLen(uint64(len(c.Entries))) + uvarintLen(uint64(len(c.Anon))) + crcSize
	for _, e := range c.Entries {
		n += 8 + uvarintLen(e.Counter) + uvarintLen(uint64(len(e.Values)))
		for i := range e.Values {
			n += valueSize(&e.Values[i])
		}
	}
	for i := range c.Anon {
		n += valueSize(&c.Anon[i])
	}
	return n
}

func valueSize(v *versioning.Value) int {
	n := 1 + lenSize(len(v.Data)) + lenSize(len(v.ContentType)) + 8 + uvarintLen(uint64(len(v.Meta)))
	if v.Expires != 0 {
		n += 8
	}
	if len(v.Meta) > 0 { // ranging over even an empty map costs an iterator
		for name, val := range v.Meta {
			n += lenSize(len(name)) + lenSize(len(val))
		}
	}
	return n
}

// lenSize is the size of a length-prefixed field of n bytes.
func lenSize(n int) int { return uvarintLen(uint64(n)) + n }

// uvarintLen is the length of binary.AppendUvarint(nil, x).
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// DecodeObject decodes an object encoded by [AppendObject]. The result does
// not alias b. Any malformed input (unknown format version, truncation,
// trailing bytes, a length or count larger than the rest of the input,
// non-canonical encoding, checksum mismatch, a clock that fails
// [versioning.Clock.Validate]) gives an error wrapping [ErrCorrupt]; it
// never panics. It checks every count against the bytes left before
// allocating for it, and allocates for at most a few items ahead of those
// decoded: input that fails costs about len(b) (one copy of the data) plus
// what had decoded.
func DecodeObject(b []byte) (versioning.Clock, error) {
	return decodeObject(b, false)
}

// DecodeObjectOwned is [DecodeObject] for input the caller gives up: the
// result's data alias b instead of a copy of it, so b must not be modified
// (or reused) afterwards, and it stays in memory while any of the result
// does.
func DecodeObjectOwned(b []byte) (versioning.Clock, error) {
	return decodeObject(b, true)
}

// decodeObject decodes b. With alias, value data share b's memory (the
// caller owns b and gives it up); otherwise data are copied, all into one
// allocation.
func decodeObject(b []byte, alias bool) (versioning.Clock, error) {
	if len(b) < 1+1+1+crcSize {
		return versioning.Clock{}, corruptf(0, "%d bytes is too short", len(b))
	}
	if b[0] != objectFormatV1 {
		return versioning.Clock{}, corruptf(0, "unknown format byte %#x", b[0])
	}
	body := b[:len(b)-crcSize]
	if want, got := binary.BigEndian.Uint32(b[len(body):]), crc32.Checksum(body, castagnoli); want != got {
		return versioning.Clock{}, corruptf(len(body), "checksum %#08x, want %#08x", got, want)
	}
	c, err := decodeBody(body, alias)
	if err != nil {
		return versioning.Clock{}, err
	}
	if err := c.Validate(); err != nil {
		return versioning.Clock{}, fmt.Errorf("storage: decode object: %w: %w", ErrCorrupt, err)
	}
	return c, nil
}

// decodeCached decodes an object of the Store's cache: bytes this process
// encoded from a valid clock, or checked by decodeObject when they came
// from the engine, and never modified since. It skips the checksum and the
// clock's validation, and its data alias b; the decoder's bounds checks
// still hold, so it cannot read past b.
func decodeCached(b []byte) (versioning.Clock, error) {
	if len(b) < 1+1+1+crcSize || b[0] != objectFormatV1 {
		return versioning.Clock{}, corruptf(0, "not a cached object")
	}
	return decodeBody(b[:len(b)-crcSize], true)
}

// decodeBody decodes the body of an object (after the format byte, before
// the checksum): the entries and anonymous values, each entry checked as it
// decodes.
func decodeBody(body []byte, alias bool) (versioning.Clock, error) {
	d := decoder{src: body, off: 1, alias: alias}
	var c versioning.Clock
	if n := d.count(minEntrySize); n > 0 {
		c.Entries = make([]versioning.Entry, 0, min(n, maxPrealloc))
		for i := range n {
			// The clock's invariants on entries are checked as they decode
			// (Validate checks them again), so hostile input stops at the
			// first bad entry instead of after allocating for all of them.
			var e versioning.Entry
			e.Actor = versioning.ActorID(d.uint64())
			e.Counter = d.uvarint()
			switch {
			case d.err != nil:
			case e.Counter == 0:
				d.fail("entry %d has counter 0", i)
			case i > 0 && c.Entries[i-1].Actor >= e.Actor:
				d.fail("entries not sorted by actor at %d", i)
			}
			e.Values = d.values(e.Counter)
			if d.err != nil {
				break
			}
			c.Entries = append(grow(c.Entries, n), e)
		}
	}
	c.Anon = d.values(math.MaxUint64)
	if d.err != nil {
		return versioning.Clock{}, d.err
	}
	if d.off != len(body) {
		return versioning.Clock{}, corruptf(d.off, "%d trailing bytes", len(body)-d.off)
	}
	return c, nil
}

func corruptf(off int, format string, args ...any) error {
	return fmt.Errorf("storage: decode object: %w: %s at offset %d", ErrCorrupt, fmt.Sprintf(format, args...), off)
}

// decoder reads an object body. After the first failure err is set and
// every read returns zero values, so callers check err once per loop.
type decoder struct {
	src    []byte
	off    int
	err    error
	alias  bool // src may be aliased by decoded data
	copied bool // src is already a private copy
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corruptf(d.off, format, args...)
	}
}

// uvarint reads a minimally encoded uvarint.
func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	for i, s := 0, uint(0); i < binary.MaxVarintLen64; i, s = i+1, s+7 {
		if d.off+i >= len(d.src) {
			d.fail("truncated varint")
			return 0
		}
		c := d.src[d.off+i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				d.fail("varint overflows 64 bits")
				return 0
			}
			if c == 0 && i > 0 {
				d.fail("non-minimal varint")
				return 0
			}
			d.off += i + 1
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
	}
	d.fail("varint overflows 64 bits")
	return 0
}

// count reads a count of items of at least minSize bytes each, rejecting
// any count the rest of the input cannot hold.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.src)-d.off)/uint64(minSize) {
		d.fail("count %d exceeds the remaining %d bytes", n, len(d.src)-d.off)
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed field, aliasing src.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.src)-d.off) {
		d.fail("length %d exceeds the remaining %d bytes", n, len(d.src)-d.off)
		return nil
	}
	b := d.src[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.src)-d.off < 8 {
		d.fail("truncated fixed64")
		return 0
	}
	x := binary.BigEndian.Uint64(d.src[d.off:])
	d.off += 8
	return x
}

// values reads a count of at most limit values and the values.
func (d *decoder) values(limit uint64) []versioning.Value {
	n := d.count(minValueSize)
	if n == 0 {
		return nil
	}
	if uint64(n) > limit {
		d.fail("%d values for counter %d", n, limit)
		return nil
	}
	vs := make([]versioning.Value, 0, min(n, maxPrealloc))
	for range n {
		var v versioning.Value
		d.value(&v)
		if d.err != nil {
			return nil
		}
		vs = append(grow(vs, n), v)
	}
	return vs
}

// grow returns s with room for one more item, of n in all: full, it doubles
// (up to n), so that the items appended one by one cost at most twice their
// final size in allocations, less than append's 1.25 growth for long
// slices would.
func grow[T any](s []T, n int) []T {
	if len(s) < cap(s) || len(s) >= n {
		return s
	}
	return slices.Grow(s, min(max(len(s), 1), n-len(s)))
}

func (d *decoder) value(v *versioning.Value) {
	if d.off >= len(d.src) {
		d.fail("truncated value")
		return
	}
	flags := d.src[d.off]
	d.off++
	if flags&^(valueDeleted|valueExpires) != 0 {
		d.fail("unknown value flags %#x", flags)
		return
	}
	v.Deleted = flags&valueDeleted != 0
	if data := d.bytes(); len(data) > 0 {
		if !d.alias && !d.copied {
			// One private copy of the rest of the input, at the same
			// offsets, backs this and every later Data.
			start := d.off - len(data)
			buf := make([]byte, len(d.src))
			copy(buf[start:], d.src[start:])
			d.src = buf
			d.copied = true
			data = buf[start:d.off:d.off]
		}
		v.Data = data
	}
	v.ContentType = contentType(d.bytes())
	v.LastModified = int64(d.uint64())
	if flags&valueExpires != 0 {
		if v.Expires = int64(d.uint64()); v.Expires == 0 && d.err == nil {
			d.fail("expiry flag with a zero expiry") // one encoding per value
			return
		}
	}
	n := d.count(minMetaSize)
	if d.err != nil || n == 0 {
		return
	}
	v.Meta = make(map[string]string, min(n, maxPrealloc))
	var prev []byte
	for i := range n {
		name := d.bytes()
		val := d.bytes()
		if d.err != nil {
			return
		}
		if i > 0 && string(name) <= string(prev) {
			d.fail("metadata names not strictly sorted")
			return
		}
		prev = name
		v.Meta[string(name)] = string(val)
	}
}

// contentType returns b as a string, without allocating for the common
// types.
func contentType(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "application/octet-stream":
		return "application/octet-stream"
	case "application/json":
		return "application/json"
	case "text/plain":
		return "text/plain"
	case "text/plain; charset=utf-8":
		return "text/plain; charset=utf-8"
	}
	return string(b)
}
