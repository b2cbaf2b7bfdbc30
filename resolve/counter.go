package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// MergeCounters merges grow-only counters (G-counters). A counter is a JSON
// object mapping an actor name to that actor's count, a non-negative integer
// that fits in 64 bits, written without fraction or exponent: {"web-1": 3,
// "web-2": 5}. The merge keeps every actor with the greatest count any
// argument gives it (a name repeated within one object counts once, with
// its greatest count); the result is canonical (keys sorted byte-wise, no
// white space), and no arguments give {}. An argument that is not such an
// object is an error wrapping [ErrInvalidValue].
//
// A client increments a counter by reading it (a read of a json-counter
// bucket returns the merged counter and its context), adding to its own
// actor's entry only (see [CounterAdd]), and writing the result back with the
// context it read. Writers must use distinct actor names (one per client
// process, say), and an actor must never lower its own count: a count is
// only ever replaced by a greater one, so a concurrent increment by another
// actor is never lost, and two concurrent writes by the same actor keep the
// greater. The total is [CounterSum]. Decrements are not supported.
func MergeCounters(values [][]byte) ([]byte, error) { return counterMerge.mergeBytes(values) }

// CounterSum returns the total of a counter (see [MergeCounters]). An
// invalid counter, or a total over 2^64-1, is an error wrapping
// [ErrInvalidValue].
func CounterSum(b []byte) (uint64, error) {
	c, err := parseCounter(b)
	if err != nil {
		return 0, fmt.Errorf("resolve: counter sum: %w", err)
	}
	var sum uint64
	for _, n := range c {
		if n > math.MaxUint64-sum {
			return 0, fmt.Errorf("resolve: counter sum: %w: total overflows 64 bits", ErrInvalidValue)
		}
		sum += n
	}
	return sum, nil
}

// CounterAdd adds n to actor's count in the counter b (see [MergeCounters])
// and returns the canonical result. An empty b stands for the empty counter,
// so a client can start one with CounterAdd(nil, actor, 1). An invalid
// counter, or a count over 2^64-1, is an error wrapping [ErrInvalidValue].
func CounterAdd(b []byte, actor string, n uint64) ([]byte, error) {
	c := counter{}
	if len(b) > 0 {
		var err error
		if c, err = parseCounter(b); err != nil {
			return nil, fmt.Errorf("resolve: counter add: %w", err)
		}
	}
	if n > math.MaxUint64-c[actor] {
		return nil, fmt.Errorf("resolve: counter add: %w: count overflows 64 bits", ErrInvalidValue)
	}
	c[actor] += n
	return encodeCounter(c), nil
}

// CounterResolver resolves by [MergeCounters]. Siblings that are not
// counters come back in Result.Invalid; a tombstone counts as the empty
// counter, so an increment concurrent with a delete wins over it.
var CounterResolver Resolver = Func(counterMerge.resolve)

// counter maps actors to counts.
type counter map[string]uint64

var counterMerge = &jsonMerge[counter]{
	name:   SpecCounter,
	want:   "a JSON counter object",
	parse:  parseCounter,
	bottom: func() counter { return counter{} },
	join: func(dst, src counter) counter {
		for k, n := range src {
			if m, ok := dst[k]; !ok || n > m {
				dst[k] = n
			}
		}
		return dst
	},
	encode: encodeCounter,
}

func parseCounter(data []byte) (counter, error) {
	notJSON := func(err error) error { return fmt.Errorf("%w: not JSON: %w", ErrInvalidValue, err) }
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, notJSON(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidValue)
	}
	c := counter{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notJSON(err)
		}
		actor, ok := tok.(string)
		if !ok { // the decoder only returns strings for object keys
			return nil, fmt.Errorf("%w: bad object key", ErrInvalidValue)
		}
		if tok, err = dec.Token(); err != nil {
			return nil, notJSON(err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%w: a count is not a number", ErrInvalidValue)
		}
		n, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: a count is not an integer in 0..2^64-1", ErrInvalidValue)
		}
		if m, ok := c[actor]; !ok || n > m {
			c[actor] = n
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, notJSON(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: not JSON: data after the first value", ErrInvalidValue)
	}
	return c, nil
}

func encodeCounter(c counter) []byte {
	b := []byte{'{'}
	for i, k := range sortedKeys(c) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = strconv.AppendUint(b, c[k], 10)
	}
	return append(b, '}')
}
