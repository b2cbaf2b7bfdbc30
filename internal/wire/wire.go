// Package wire holds the primitives of dynamod's node-to-node message
// codecs: an append-only encoder and a decoder with a sticky error, shared by
// the quorum and anti-entropy protocols. Each protocol builds its messages
// (keys, objects, trees) on top. Pure: stdlib only.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed marks a message that does not decode. A Decoder wraps its
// own sentinel (Decoder.Malformed) when set, this one otherwise.
var ErrMalformed = errors.New("wire: malformed message")

// Encoder appends to B.
type Encoder struct{ B []byte }

// Byte appends one byte.
func (e *Encoder) Byte(v uint8) { e.B = append(e.B, v) }

// Uvarint appends v as an unsigned varint.
func (e *Encoder) Uvarint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }

// Varint appends v as a signed (zigzag) varint.
func (e *Encoder) Varint(v int64) { e.B = binary.AppendVarint(e.B, v) }

// Fixed64 appends v as 8 bytes, big-endian.
func (e *Encoder) Fixed64(v uint64) { e.B = binary.BigEndian.AppendUint64(e.B, v) }

// Bytes appends v with a uvarint length prefix.
func (e *Encoder) Bytes(v []byte) { e.Uvarint(uint64(len(v))); e.B = append(e.B, v...) }

// Str appends v with a uvarint length prefix.
func (e *Encoder) Str(v string) { e.Uvarint(uint64(len(v))); e.B = append(e.B, v...) }

// Decoder reads what an Encoder wrote from B. The first error sticks in Err;
// every read after it returns zero values, so a reader checks Err once at
// the end (see End). It never panics and never allocates from a length it
// has not checked against the input.
type Decoder struct {
	B   []byte
	Err error
	// Malformed is the sentinel that failures wrap; nil: ErrMalformed.
	Malformed error
}

// Fail records a failure (the first one sticks) and drops the input.
func (d *Decoder) Fail(what string) {
	if d.Err == nil {
		m := d.Malformed
		if m == nil {
			m = ErrMalformed
		}
		d.Err = fmt.Errorf("%w: %s", m, what)
	}
	d.B = nil
}

// Byte reads one byte.
func (d *Decoder) Byte() uint8 {
	if len(d.B) < 1 {
		d.Fail("truncated")
		return 0
	}
	v := d.B[0]
	d.B = d.B[1:]
	return v
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.B)
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	d.B = d.B[n:]
	return v
}

// Varint reads a signed varint.
func (d *Decoder) Varint() int64 {
	v, n := binary.Varint(d.B)
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	d.B = d.B[n:]
	return v
}

// Fixed64 reads 8 bytes, big-endian.
func (d *Decoder) Fixed64() uint64 {
	if len(d.B) < 8 {
		d.Fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(d.B)
	d.B = d.B[8:]
	return v
}

// Bytes reads a length-prefixed byte string. The result aliases the input:
// callers copy what they keep.
func (d *Decoder) Bytes() []byte {
	n := d.Uvarint()
	if d.Err != nil {
		return nil
	}
	if n > uint64(len(d.B)) {
		d.Fail("truncated")
		return nil
	}
	v := d.B[:n:n]
	d.B = d.B[n:]
	return v
}

// Str reads a length-prefixed string (a copy).
func (d *Decoder) Str() string { return string(d.Bytes()) }

// End fails if input is left over, and returns the sticky error.
func (d *Decoder) End() error {
	if d.Err == nil && len(d.B) != 0 {
		d.Fail(fmt.Sprintf("%d trailing bytes", len(d.B)))
	}
	return d.Err
}
