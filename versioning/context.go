package versioning

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Binary form of a Context: the number of entries as a uvarint, then per
// entry the actor as 8 bytes big-endian and the counter as a uvarint. Every
// varint is minimal, so each Context has exactly one encoding.
const minEntryLen = 8 + 1

var b64 = base64.RawURLEncoding.Strict()

// Encode returns c for the Dynamod-Context header: the binary form
// ([Context.AppendBinary]) in unpadded base64url. The empty Context encodes
// as "".
func (c Context) Encode() string {
	if len(c) == 0 {
		return ""
	}
	// Stack buffers hold contexts of up to about a dozen entries, so that
	// the string is the only allocation.
	var raw [128]byte
	var out [172]byte
	return string(b64.AppendEncode(out[:0], c.AppendBinary(raw[:0])))
}

// DecodeContext parses a Dynamod-Context header. "" is the empty context
// (nil, nil). Anything that [Context.Encode] cannot have produced is an error
// wrapping [ErrBadContext]: bad or padded base64, line breaks, a truncated
// or trailing byte, a non-minimal varint, a count the bytes cannot hold,
// unsorted or duplicate actors, zero counters, and an encoded empty
// context. A decoded context re-encodes to s. It never panics.
func DecodeContext(s string) (Context, error) {
	if s == "" {
		return nil, nil
	}
	if strings.ContainsAny(s, "\r\n") { // the base64 decoder skips them
		return nil, fmt.Errorf("%w: line break in base64", ErrBadContext)
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %w", ErrBadContext, err)
	}
	c, err := ParseContextBinary(b)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("%w: empty context must be encoded as \"\"", ErrBadContext)
	}
	return c, nil
}

// AppendBinary appends c's binary form to b and returns the extended
// buffer. The empty Context is one zero byte. (It cannot fail, so it does
// not have the signature of encoding.BinaryAppender.)
func (c Context) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(c)))
	for _, e := range c {
		b = binary.BigEndian.AppendUint64(b, uint64(e.Actor))
		b = binary.AppendUvarint(b, e.Counter)
	}
	return b
}

// ParseContextBinary parses exactly one binary Context filling all of b, as
// strictly as [DecodeContext]. A zero count returns nil. The result does not
// alias b.
func ParseContextBinary(b []byte) (Context, error) {
	c, n, err := ConsumeContextBinary(b)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadContext, len(b)-n)
	}
	return c, nil
}

// ConsumeContextBinary parses one binary Context at the start of b and
// returns it with the number of bytes it took, for protocols that embed a
// context in a larger frame. Errors wrap [ErrBadContext].
func ConsumeContextBinary(b []byte) (Context, int, error) {
	count, off, err := uvarint(b, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: count: %w", ErrBadContext, err)
	}
	if count == 0 {
		return nil, off, nil
	}
	if count > uint64(len(b)-off)/minEntryLen {
		return nil, 0, fmt.Errorf("%w: %d entries cannot fit in %d bytes", ErrBadContext, count, len(b)-off)
	}
	c := make(Context, count)
	for k := range c {
		if len(b)-off < 8 {
			return nil, 0, fmt.Errorf("%w: entry %d: truncated actor", ErrBadContext, k)
		}
		c[k].Actor = ActorID(binary.BigEndian.Uint64(b[off:]))
		off += 8
		c[k].Counter, off, err = uvarint(b, off)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: entry %d: counter: %w", ErrBadContext, k, err)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, 0, err
	}
	return c, off, nil
}

var (
	errTruncated  = errors.New("truncated varint")
	errOverflow   = errors.New("varint overflows 64 bits")
	errNonMinimal = errors.New("non-minimal varint")
)

// uvarint reads a minimal uvarint at b[off:] and returns it with the offset
// after it.
func uvarint(b []byte, off int) (uint64, int, error) {
	x, n := binary.Uvarint(b[off:])
	switch {
	case n == 0:
		return 0, off, errTruncated
	case n < 0:
		return 0, off, errOverflow
	case n > 1 && b[off+n-1] == 0:
		return 0, off, errNonMinimal
	}
	return x, off + n, nil
}
