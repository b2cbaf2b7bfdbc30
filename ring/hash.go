package ring

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// Hash returns the 64-bit hash that places key of bucket on the ring: xxhash64
// over uvarint(len(bucket)) | bucket | key. The length prefix makes the
// encoding unambiguous for any bytes, so ("a", "bc") and ("ab", "c") differ.
// Hash is part of the on-disk and wire contract: changing it moves every key.
func Hash(bucket, key string) uint64 {
	var n [binary.MaxVarintLen64]byte
	var d xxhash.Digest
	d.Reset()
	d.Write(n[:binary.PutUvarint(n[:], uint64(len(bucket)))])
	d.WriteString(bucket)
	d.WriteString(key)
	return d.Sum64()
}

// tokenHasher hashes the tokens of one member: token i's hash is xxhash64
// over uvarint(len(name)) | name | uint32le(i).
type tokenHasher struct{ buf []byte }

func newTokenHasher(name string) tokenHasher {
	buf := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(name)+4), uint64(len(name)))
	return tokenHasher{buf: append(append(buf, name...), 0, 0, 0, 0)}
}

func (h tokenHasher) hash(i uint32) uint64 {
	binary.LittleEndian.PutUint32(h.buf[len(h.buf)-4:], i)
	return xxhash.Sum64(h.buf)
}

// mix64 is the splitmix64 finaliser: it derives a second, independent-looking
// value from a hash.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
