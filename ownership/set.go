package ownership

import (
	"encoding/base64"
	"errors"
	"math/bits"
	"slices"
)

// Set is a set of partitions as a bitmap. The zero value is empty. Methods
// that change a Set return the new one and may reuse its array.
type Set []uint64

// Has reports whether p is in s.
func (s Set) Has(p int) bool {
	i := p / 64
	return p >= 0 && i < len(s) && s[i]&(1<<(p%64)) != 0
}

// Add returns s with p. p must not be negative.
func (s Set) Add(p int) Set {
	i := p / 64
	for len(s) <= i {
		s = append(s, 0)
	}
	s[i] |= 1 << (p % 64)
	return s
}

// Remove returns s without p, trimmed.
func (s Set) Remove(p int) Set {
	if i := p / 64; p >= 0 && i < len(s) {
		s[i] &^= 1 << (p % 64)
	}
	for len(s) > 0 && s[len(s)-1] == 0 {
		s = s[:len(s)-1]
	}
	return s
}

// Empty reports whether s has no partition.
func (s Set) Empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

// Len returns how many partitions s has.
func (s Set) Len() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// Slice returns the partitions of s in increasing order.
func (s Set) Slice() []int {
	var out []int
	for i, w := range s {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, i*64+b)
			w &^= 1 << b
		}
	}
	return out
}

// Clone returns a copy of s.
func (s Set) Clone() Set { return slices.Clone(s) }

// String encodes s compactly: base64 (URL alphabet, unpadded) of its
// little-endian bitmap with trailing zero bytes dropped; "" when empty.
func (s Set) String() string {
	b := make([]byte, 0, len(s)*8)
	for _, w := range s {
		for j := range 8 {
			b = append(b, byte(w>>(8*j)))
		}
	}
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// MaxSetBytes bounds the bitmap ParseSet accepts: 65536 partitions.
const MaxSetBytes = 8192

// ParseSet decodes [Set.String]'s encoding.
func ParseSet(str string) (Set, error) {
	b, err := base64.RawURLEncoding.DecodeString(str)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSetBytes {
		return nil, errors.New("ownership: partition set too large")
	}
	var s Set
	for i, c := range b {
		if c == 0 {
			continue
		}
		for len(s) <= i/8 {
			s = append(s, 0)
		}
		s[i/8] |= uint64(c) << (8 * (i % 8))
	}
	return s, nil
}
