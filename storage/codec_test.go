package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ (read the diff first)")

// goldenClocks are the clocks whose encodings testdata/ pins.
var goldenClocks = []struct {
	name string
	c    versioning.Clock
}{
	{"empty", versioning.Clock{}},
	{"one-value", versioning.Clock{Entries: []versioning.Entry{{
		Actor: 0x0123456789abcdef, Counter: 1,
		Values: []versioning.Value{{Data: []byte("hello"), ContentType: "text/plain", LastModified: 1_700_000_000_123_456_789}},
	}}}},
	{"siblings", versioning.Clock{Entries: []versioning.Entry{
		{Actor: 1, Counter: 7, Values: []versioning.Value{
			{Data: []byte(`{"n":2}`), ContentType: "application/json", LastModified: 1_700_000_002_000_000_000},
			{Data: []byte(`{"n":1}`), ContentType: "application/json", LastModified: 1_700_000_001_000_000_000},
		}},
		{Actor: 2, Counter: 3},
		{Actor: 0xfedcba9876543210, Counter: 300, Values: []versioning.Value{
			{Data: []byte("third"), LastModified: 1_700_000_003_000_000_000},
		}},
	}}},
	{"expires", versioning.Clock{Entries: []versioning.Entry{{
		Actor: 7, Counter: 2,
		Values: []versioning.Value{
			{Data: []byte("session"), LastModified: 1_700_000_005_000_000_000, Expires: 1_700_000_035_000_000_000},
			{Data: []byte("no expiry"), LastModified: 1_700_000_004_000_000_000},
		},
	}}}},
	{"tombstone", versioning.Clock{Entries: []versioning.Entry{{
		Actor: 42, Counter: 2,
		Values: []versioning.Value{{Deleted: true, LastModified: 1_700_000_004_000_000_000}},
	}}}},
	{"anon", versioning.Clock{
		Entries: []versioning.Entry{{Actor: 9, Counter: 1}},
		Anon: []versioning.Value{
			{Data: []byte("client side"), ContentType: "text/plain; charset=utf-8", LastModified: 5},
			{Data: []byte("resolved"), LastModified: 6, Deleted: true},
		},
	}},
	{"meta", versioning.Clock{Entries: []versioning.Entry{{
		Actor: 3, Counter: 1,
		Values: []versioning.Value{{
			Data: []byte("v"), ContentType: "image/png", LastModified: 7,
			Meta: map[string]string{"zeta": "last", "alpha": "first", "ключ": "значение 🔑", "empty": ""},
		}},
	}}}},
	{"binary", versioning.Clock{Entries: []versioning.Entry{{
		Actor: 4, Counter: 129,
		Values: []versioning.Value{{Data: []byte{0, 0xff, 0, '/', 0x80}, ContentType: "application/octet-stream", LastModified: -1}},
	}}}},
	{"extremes", versioning.Clock{Entries: []versioning.Entry{{
		Actor: math.MaxUint64, Counter: math.MaxUint64,
		Values: []versioning.Value{{Data: bytes.Repeat([]byte("x"), 200), LastModified: math.MinInt64}},
	}}, Anon: []versioning.Value{{LastModified: math.MaxInt64}}}},
}

// normalize maps the representations the encoding treats as equal (nil and
// empty Data, Meta and slices) to one, so clocks compare with DeepEqual.
func normalize(c versioning.Clock) versioning.Clock {
	nv := func(vs []versioning.Value) []versioning.Value {
		if len(vs) == 0 {
			return nil
		}
		out := make([]versioning.Value, len(vs))
		for i, v := range vs {
			if len(v.Data) == 0 {
				v.Data = nil
			}
			if len(v.Meta) == 0 {
				v.Meta = nil
			}
			out[i] = v
		}
		return out
	}
	var out versioning.Clock
	for _, e := range c.Entries {
		e.Values = nv(e.Values)
		out.Entries = append(out.Entries, e)
	}
	out.Anon = nv(c.Anon)
	return out
}

func TestObjectGolden(t *testing.T) {
	for _, tc := range goldenClocks {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendObject(nil, tc.c)
			path := filepath.Join("testdata", "object", tc.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(hex.Dump(got)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(want) != hex.Dump(got) {
				t.Fatalf("encoding changed; a format change needs a new format byte.\ngot:\n%swant:\n%s", hex.Dump(got), want)
			}
			dec, err := DecodeObject(got)
			if err != nil {
				t.Fatalf("DecodeObject: %v", err)
			}
			if !reflect.DeepEqual(normalize(dec), normalize(tc.c)) {
				t.Fatalf("decoded %+v, want %+v", dec, tc.c)
			}
		})
	}
}

// randomClock returns a valid clock with up to maxEntries entries.
func randomClock(rng *rand.Rand, maxEntries, maxData int) versioning.Clock {
	value := func() versioning.Value {
		v := versioning.Value{LastModified: int64(rng.Uint64()), Deleted: rng.IntN(4) == 0}
		if rng.IntN(3) == 0 {
			v.Expires = int64(rng.Uint64()) | 1
		}
		if n := rng.IntN(maxData + 1); n > 0 || rng.IntN(2) == 0 {
			v.Data = make([]byte, n)
			for i := range v.Data {
				v.Data[i] = byte(rng.Uint32())
			}
		}
		v.ContentType = []string{"", "text/plain", "application/json", "x/\x00y"}[rng.IntN(4)]
		if m := rng.IntN(4); m > 0 || rng.IntN(2) == 0 {
			v.Meta = make(map[string]string, m)
			for range m {
				v.Meta[fmt.Sprintf("k%d\xff", rng.IntN(10))] = fmt.Sprint(rng.Uint32())
			}
		}
		return v
	}
	var c versioning.Clock
	actor := uint64(0)
	for range rng.IntN(maxEntries + 1) {
		actor += 1 + rng.Uint64N(1<<60)
		nv := rng.IntN(4)
		e := versioning.Entry{Actor: versioning.ActorID(actor), Counter: uint64(nv) + rng.Uint64N(1<<uint(rng.IntN(64)))}
		if e.Counter == 0 {
			e.Counter = 1
		}
		for range nv {
			e.Values = append(e.Values, value())
		}
		c.Entries = append(c.Entries, e)
	}
	for range rng.IntN(3) {
		c.Anon = append(c.Anon, value())
	}
	return c
}

// TestObjectRoundTrip: decode(encode(c)) == c, the encoding size is exact,
// and appending to a non-empty buffer leaves its prefix alone.
func TestObjectRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 2000 {
		c := randomClock(rng, 5, 40)
		if err := c.Validate(); err != nil {
			t.Fatalf("generator made an invalid clock: %v", err)
		}
		prefix := []byte("prefix")
		enc := AppendObject(prefix, c)
		if !bytes.Equal(enc[:len(prefix)], []byte("prefix")) {
			t.Fatal("AppendObject changed dst's prefix")
		}
		enc = enc[len(prefix):]
		if len(enc) != objectSize(c) {
			t.Fatalf("case %d: objectSize = %d, encoding is %d bytes", i, objectSize(c), len(enc))
		}
		dec, err := DecodeObject(enc)
		if err != nil {
			t.Fatalf("case %d: DecodeObject: %v", i, err)
		}
		if !reflect.DeepEqual(normalize(dec), normalize(c)) {
			t.Fatalf("case %d: round trip\n got %+v\nwant %+v", i, dec, c)
		}
		if again := AppendObject(nil, dec); !bytes.Equal(again, enc) {
			t.Fatalf("case %d: re-encoding differs", i)
		}
	}
}

// TestDecodeObject_noAlias: DecodeObject's result must not share memory
// with its input; the store's aliasing variant may.
func TestDecodeObject_noAlias(t *testing.T) {
	enc := AppendObject(nil, goldenClocks[1].c)
	c, err := DecodeObject(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		enc[i] = 'X'
	}
	if got := string(c.Entries[0].Values[0].Data); got != "hello" {
		t.Fatalf("Data changed with the input buffer: %q", got)
	}
}

// TestDecodeObjectOwned: the owned variant decodes the same clocks, its
// data sharing the input instead of copying it, and ObjectSize sizes the
// encoding exactly.
func TestDecodeObjectOwned(t *testing.T) {
	for _, g := range goldenClocks {
		enc := AppendObject(nil, g.c)
		if got := ObjectSize(g.c); got != len(enc) {
			t.Errorf("%s: ObjectSize = %d, encoding has %d bytes", g.name, got, len(enc))
		}
		want, err := DecodeObject(enc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeObjectOwned(enc)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: DecodeObjectOwned = %+v, %v; want %+v", g.name, got, err, want)
		}
	}
	enc := AppendObject(nil, goldenClocks[1].c)
	c, err := DecodeObjectOwned(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		enc[i] = 'X'
	}
	if got := string(c.Entries[0].Values[0].Data); got != "XXXXX" {
		t.Fatalf("Data = %q, want it to share the input (XXXXX)", got)
	}
	if _, err := DecodeObjectOwned(enc); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("DecodeObjectOwned(garbage) = %v, want ErrCorrupt", err)
	}
}

// seal appends the CRC trailer, so a test can build bodies that pass the
// checksum and reach the structural checks.
func seal(body []byte) []byte {
	return binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
}

func uv(x uint64) []byte { return binary.AppendUvarint(nil, x) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecodeObject_corrupt(t *testing.T) {
	be := func(x uint64) []byte { return binary.BigEndian.AppendUint64(nil, x) }
	// value returns an encoded value with the given data and meta pairs.
	value := func(flags byte, data string, meta ...string) []byte {
		b := cat([]byte{flags}, uv(uint64(len(data))), []byte(data), uv(0), be(1), uv(uint64(len(meta)/2)))
		for _, m := range meta {
			b = cat(b, uv(uint64(len(m))), []byte(m))
		}
		return b
	}
	v1 := []byte{objectFormatV1}
	valid := AppendObject(nil, goldenClocks[2].c)
	flipped := bytes.Clone(valid)
	flipped[len(flipped)/2] ^= 0x10
	tests := []struct {
		name string
		in   []byte
		why  string // a substring of the error
	}{
		{"nil", nil, "too short"},
		{"short", []byte{objectFormatV1, 0, 0}, "too short"},
		{"badFormat", append([]byte{0xd2}, valid[1:]...), "unknown format"},
		{"crcMismatch", flipped, "checksum"},
		{"truncatedTrailer", valid[:len(valid)-1], "checksum"},
		{"trailingByte", seal(cat(v1, uv(0), uv(0), []byte{0})), "trailing"},
		{"entryCountHuge", seal(cat(v1, uv(math.MaxUint64), uv(0))), "count"},
		{"entryCountTooLarge", seal(cat(v1, uv(3), be(1), uv(1), uv(0), uv(0))), "count 3 exceeds"},
		{"valueCountTooLarge", seal(cat(v1, uv(0), uv(1<<40))), "count 1099511627776"},
		{"dataLengthOverflow", seal(cat(v1, uv(0), uv(1), []byte{0}, uv(1<<62), []byte("0123456789ab"))), "length 4611686018427387904"},
		{"varintOverflow", seal(cat(v1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, uv(0))), "overflows"},
		{"varintTooLong", seal(cat(v1, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, uv(0))), "overflows"},
		{"nonMinimalVarint", seal(cat(v1, []byte{0x80, 0x00}, uv(0))), "non-minimal"},
		{"unknownFlags", seal(cat(v1, uv(0), uv(1), value(0x04, "x"))), "flags"},
		{"expiresTruncated", seal(cat(v1, uv(0), uv(1), value(0x02, "x"))), "truncated"},
		{"metaUnsorted", seal(cat(v1, uv(0), uv(1), value(0, "x", "b", "1", "a", "2"))), "sorted"},
		{"metaDuplicate", seal(cat(v1, uv(0), uv(1), value(0, "x", "a", "1", "a", "2"))), "sorted"},
		{"metaCountTooLarge", seal(cat(v1, uv(0), uv(1), value(0, "x")[:len(value(0, "x"))-1], uv(50))), "count 50"},
		{"truncatedValue", seal(cat(v1, uv(0), uv(1), value(0, "xyz")[:5])), "exceeds"},
		{"counterZero", seal(cat(v1, uv(1), be(1), uv(0), uv(0), uv(0))), "counter 0"},
		{"moreValuesThanCounter", seal(cat(v1, uv(1), be(1), uv(1), uv(2), value(0, "a"), value(0, "b"), uv(0))), "2 values for counter 1"},
		{"actorsUnsorted", seal(cat(v1, uv(2), be(2), uv(1), uv(0), be(1), uv(1), uv(0), uv(0))), "not sorted by actor"},
		{"actorsDuplicate", seal(cat(v1, uv(2), be(2), uv(1), uv(0), be(2), uv(1), uv(0), uv(0))), "not sorted by actor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeObject(tc.in)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeObject = %+v, %v; want an ErrCorrupt error", c, err)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("error %q does not say %q", err, tc.why)
			}
		})
	}
	// The crafted bodies differ from valid ones only where intended: the
	// same builders produce a decodable object.
	ok := seal(cat(v1, uv(1), be(1), uv(2), uv(2), value(0, "a", "k", "v"), value(1, ""), uv(0)))
	if _, err := DecodeObject(ok); err != nil {
		t.Fatalf("control object: %v", err)
	}
}

// TestDecodeObject_everyPrefixAndBitFlip: every truncation and every
// single-bit error of a valid encoding is detected.
func TestDecodeObject_everyPrefixAndBitFlip(t *testing.T) {
	for _, tc := range goldenClocks[1:4] {
		enc := AppendObject(nil, tc.c)
		for n := range len(enc) {
			if _, err := DecodeObject(enc[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: %d-byte prefix decoded: %v", tc.name, n, err)
			}
		}
		for i := range len(enc) * 8 {
			b := bytes.Clone(enc)
			b[i/8] ^= 1 << (i % 8)
			if _, err := DecodeObject(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: bit %d flipped decoded: %v", tc.name, i, err)
			}
		}
	}
}

// TestDecodeObject_noOverAllocation: a count or length claiming more than
// the input holds is rejected before anything is allocated for it. A
// decoder that trusted the counts would allocate tens of megabytes here.
func TestDecodeObject_noOverAllocation(t *testing.T) {
	inputs := [][]byte{
		seal(cat([]byte{objectFormatV1}, uv(1<<20), uv(0))),                                         // entries
		seal(cat([]byte{objectFormatV1}, uv(0), uv(1<<20))),                                         // anonymous values
		seal(cat([]byte{objectFormatV1}, uv(0), uv(1), []byte{0}, uv(1<<26), make([]byte, 16))),     // data length
		seal(cat([]byte{objectFormatV1}, uv(1), be64(1), uv(1), uv(1<<20), make([]byte, 16))),       // entry values
		seal(cat([]byte{objectFormatV1}, uv(0), uv(1), []byte{0, 0, 0}, be64(0), uv(1<<20), uv(0))), // metadata
	}
	for i, in := range inputs {
		const runs = 10
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			if _, err := DecodeObject(in); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("input %d: %v, want ErrCorrupt", i, err)
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 16<<10 {
			t.Errorf("input %d: %d bytes allocated to reject %d bytes", i, per, len(in))
		}
	}
}

func be64(x uint64) []byte { return binary.BigEndian.AppendUint64(nil, x) }

// TestDecodeObject_allocationFollowsInput: a count that the remaining bytes
// could hold, followed by bytes that fail to decode early, must not make
// the decoder allocate for the whole count. Sized from the count, one
// metadata map of a 1 MiB object took tens of megabytes (about 2 GiB for a
// 64 MiB frame), the value and entry slices four to five times the input.
func TestDecodeObject_allocationFollowsInput(t *testing.T) {
	const size = 1 << 20
	const room = size - 64 // the bytes left after any of the prefixes below
	pad := func(prefix []byte, fill byte) []byte {
		return seal(append(prefix, bytes.Repeat([]byte{fill}, size-len(prefix))...))
	}
	v1 := []byte{objectFormatV1}
	value := cat([]byte{0}, uv(1), []byte("x"), uv(0), be64(1))
	inputs := []struct {
		name string
		in   []byte
	}{
		// As many metadata pairs as the bytes left could hold (2 bytes
		// each at least); the second name is not above the first.
		{"metadata", pad(cat(v1, uv(0), uv(1), value, uv(room/minMetaSize), uv(1), []byte("b"), uv(0)), 0)},
		// As many anonymous values as could fit; the first has unknown
		// flags.
		{"anonymous values", pad(cat(v1, uv(0), uv(room/minValueSize)), 0xff)},
		// As many entries as could fit; the second repeats the first's
		// actor.
		{"entries", pad(cat(v1, uv(room/minEntrySize), be64(1), uv(1), uv(0), be64(1)), 0)},
		// An entry with as many values as could fit; the first has
		// unknown flags.
		{"entry values", pad(cat(v1, uv(1), be64(1), uv(size), uv(room/minValueSize)), 0xff)},
	}
	for _, tc := range inputs {
		t.Run(tc.name, func(t *testing.T) {
			const runs = 5
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				if _, err := DecodeObject(tc.in); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%v, want ErrCorrupt", err)
				}
			}
			runtime.ReadMemStats(&after)
			per := (after.TotalAlloc - before.TotalAlloc) / runs
			t.Logf("%d bytes allocated to reject %d bytes", per, len(tc.in))
			if per > uint64(len(tc.in))+64<<10 {
				t.Errorf("%d bytes allocated to reject %d bytes", per, len(tc.in))
			}
		})
	}
}

// FuzzDecodeObject: decoding never panics, and whatever decodes is a valid
// clock that re-encodes to exactly the input (the format is canonical).
func FuzzDecodeObject(f *testing.F) {
	for _, tc := range goldenClocks {
		f.Add(AppendObject(nil, tc.c))
	}
	f.Add([]byte{})
	f.Add(seal([]byte{objectFormatV1, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeObject(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not marked corrupt: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("decoded an invalid clock: %v", err)
		}
		if enc := AppendObject(nil, c); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, enc)
		}
		if _, err := decodeObject(bytes.Clone(b), true); err != nil {
			t.Fatalf("aliasing decoder disagrees: %v", err)
		}
	})
}

// benchClock has the given number of sibling values of size bytes each,
// one per actor, with a little metadata.
func benchClock(siblings, size int) versioning.Clock {
	var c versioning.Clock
	data := bytes.Repeat([]byte{'v'}, size)
	for i := range siblings {
		c.Entries = append(c.Entries, versioning.Entry{
			Actor:   versioning.ActorID(0x9e3779b97f4a7c15 * uint64(i+1) >> 1 << 1), // distinct
			Counter: uint64(10 + i),
			Values: []versioning.Value{{
				Data: data, ContentType: "application/json", LastModified: 1_700_000_000_000_000_000,
				Meta: map[string]string{"author": "bench"},
			}},
		})
	}
	// Entries must be sorted by actor.
	for i := 1; i < len(c.Entries); i++ {
		for j := i; j > 0 && c.Entries[j].Actor < c.Entries[j-1].Actor; j-- {
			c.Entries[j], c.Entries[j-1] = c.Entries[j-1], c.Entries[j]
		}
	}
	return c
}

// go test ./storage -run '^$' -bench 'Object' -benchmem
func BenchmarkAppendObject(b *testing.B) {
	for _, siblings := range []int{1, 4, 16} {
		for _, size := range []int{100, 1 << 10, 16 << 10} {
			b.Run(fmt.Sprintf("siblings=%d/value=%d", siblings, size), func(b *testing.B) {
				c := benchClock(siblings, size)
				buf := make([]byte, 0, objectSize(c))
				b.SetBytes(int64(objectSize(c)))
				b.ReportAllocs()
				for b.Loop() {
					buf = AppendObject(buf[:0], c)
				}
			})
		}
	}
}

func BenchmarkDecodeObject(b *testing.B) {
	for _, siblings := range []int{1, 4, 16} {
		for _, size := range []int{100, 1 << 10, 16 << 10} {
			b.Run(fmt.Sprintf("siblings=%d/value=%d", siblings, size), func(b *testing.B) {
				enc := AppendObject(nil, benchClock(siblings, size))
				b.SetBytes(int64(len(enc)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := DecodeObject(enc); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
