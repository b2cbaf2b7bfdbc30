package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Key prefixes: the first byte of every engine key (layout in doc.go).
const (
	prefixBucket = 'b'
	prefixHint   = 'h'
	prefixMeta   = 'm'
	prefixObject = 'o'
)

// Key names one object. Hash is computed by the caller (xxhash of bucket and
// key, the same function that picks the partition); the store orders objects
// by it and never recomputes it. Bucket and Key are arbitrary bytes.
type Key struct {
	Hash   uint64
	Bucket string
	Key    string
}

// String formats k for errors and logs as "bucket"/"key", quoted so that
// arbitrary bytes stay readable and unambiguous.
func (k Key) String() string {
	return strconv.Quote(k.Bucket) + "/" + strconv.Quote(k.Key)
}

// appendObjectKey appends 'o' | hash | uvarint(len(bucket)) | bucket | key.
func appendObjectKey(dst []byte, k Key) []byte {
	dst = append(dst, prefixObject)
	return appendHashedKey(dst, k)
}

// appendHashedKey appends hash | uvarint(len(bucket)) | bucket | key.
func appendHashedKey(dst []byte, k Key) []byte {
	dst = binary.BigEndian.AppendUint64(dst, k.Hash)
	dst = binary.AppendUvarint(dst, uint64(len(k.Bucket)))
	dst = append(dst, k.Bucket...)
	return append(dst, k.Key...)
}

// objectRange returns the engine range [start, end) holding every object
// with lo <= Hash <= hi.
func objectRange(lo, hi uint64) (start, end []byte) {
	start = binary.BigEndian.AppendUint64([]byte{prefixObject}, lo)
	if hi == ^uint64(0) {
		return start, []byte{prefixObject + 1}
	}
	return start, binary.BigEndian.AppendUint64([]byte{prefixObject}, hi+1)
}

// parseObjectKey parses an engine key written by appendObjectKey.
func parseObjectKey(b []byte) (Key, error) {
	if len(b) == 0 || b[0] != prefixObject {
		return Key{}, errors.New("not an object key")
	}
	k, rest, err := parseHashedKey(b[1:])
	if err != nil {
		return Key{}, err
	}
	k.Key = string(rest)
	return k, nil
}

// parseHashedKey parses hash | uvarint(len(bucket)) | bucket and returns
// the rest, which is the key.
func parseHashedKey(b []byte) (Key, []byte, error) {
	if len(b) < 8 {
		return Key{}, nil, errors.New("truncated hash")
	}
	var k Key
	k.Hash = binary.BigEndian.Uint64(b)
	bucket, rest, err := parseLenPrefixed(b[8:])
	if err != nil {
		return Key{}, nil, fmt.Errorf("bucket: %w", err)
	}
	k.Bucket = string(bucket)
	return k, rest, nil
}

// parseLenPrefixed splits uvarint(len(x)) | x | rest, requiring a minimal
// varint so that every key has exactly one encoding.
func parseLenPrefixed(b []byte) (x, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	switch {
	case w <= 0:
		return nil, nil, errors.New("bad length varint")
	case w != uvarintLen(n):
		return nil, nil, errors.New("non-minimal length varint")
	case n > uint64(len(b)-w):
		return nil, nil, fmt.Errorf("length %d exceeds the remaining %d bytes", n, len(b)-w)
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}

// appendHintPrefix appends 'h' | uvarint(len(target)) | target: the prefix
// of every hint for target.
func appendHintPrefix(dst []byte, target string) []byte {
	dst = append(dst, prefixHint)
	dst = binary.AppendUvarint(dst, uint64(len(target)))
	return append(dst, target...)
}

// appendHintKey appends 'h' | uvarint(len(target)) | target | hash |
// uvarint(len(bucket)) | bucket | key.
func appendHintKey(dst []byte, target string, k Key) []byte {
	return appendHashedKey(appendHintPrefix(dst, target), k)
}

// parseHintKey parses an engine key written by appendHintKey.
func parseHintKey(b []byte) (string, Key, error) {
	if len(b) == 0 || b[0] != prefixHint {
		return "", Key{}, errors.New("not a hint key")
	}
	target, rest, err := parseLenPrefixed(b[1:])
	if err != nil {
		return "", Key{}, fmt.Errorf("target: %w", err)
	}
	if len(target) == 0 {
		return "", Key{}, errors.New("empty target")
	}
	k, rest, err := parseHashedKey(rest)
	if err != nil {
		return "", Key{}, err
	}
	k.Key = string(rest)
	return string(target), k, nil
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil (the end of the key space) if there is none.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
