package ring

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		bad  []string // field names the error must mention; none: valid
	}{
		{name: "default", cfg: DefaultConfig()},
		{name: "plain", cfg: Config{Partitions: 64, Tokens: 16}},
		{name: "smallest", cfg: Config{Partitions: 1, Tokens: 1, NVal: 1, MaxLoad: 1}},
		{name: "largest", cfg: Config{Partitions: 65536, Tokens: 65536, NVal: 5, MaxLoad: 3}},
		{name: "zero", cfg: Config{}, bad: []string{"Partitions", "Tokens"}},
		{name: "partitions not power of two", cfg: Config{Partitions: 1000, Tokens: 8}, bad: []string{"Partitions"}},
		{name: "partitions too many", cfg: Config{Partitions: 1 << 17, Tokens: 8}, bad: []string{"Partitions"}},
		{name: "partitions negative", cfg: Config{Partitions: -4, Tokens: 8}, bad: []string{"Partitions"}},
		{name: "tokens too many", cfg: Config{Partitions: 8, Tokens: 1<<16 + 1}, bad: []string{"Tokens"}},
		{name: "max load below 1", cfg: Config{Partitions: 8, Tokens: 8, NVal: 3, MaxLoad: 0.9}, bad: []string{"MaxLoad"}},
		{name: "max load NaN", cfg: Config{Partitions: 8, Tokens: 8, NVal: 3, MaxLoad: math.NaN()}, bad: []string{"MaxLoad"}},
		{name: "max load Inf", cfg: Config{Partitions: 8, Tokens: 8, NVal: 3, MaxLoad: math.Inf(1)}, bad: []string{"MaxLoad"}},
		{name: "bound without NVal", cfg: Config{Partitions: 8, Tokens: 8, MaxLoad: 1.1}, bad: []string{"NVal"}},
		{name: "NVal negative", cfg: Config{Partitions: 8, Tokens: 8, NVal: -1}, bad: []string{"NVal"}},
		{name: "everything", cfg: Config{Partitions: 3, Tokens: -1, NVal: -1, MaxLoad: -2},
			bad: []string{"Partitions", "Tokens", "NVal", "MaxLoad"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.bad) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalidConfig", err)
			}
			for _, field := range tc.bad {
				if !strings.Contains(err.Error(), field) {
					t.Errorf("Validate() = %q, does not name %s", err, field)
				}
			}
			if got := len(strings.Split(err.Error(), "\n")); got != len(tc.bad) {
				t.Errorf("Validate() reported %d problems, want %d: %q", got, len(tc.bad), err)
			}
			if _, nerr := New(tc.cfg, []string{"a"}); !errors.Is(nerr, ErrInvalidConfig) {
				t.Errorf("New() = %v, want ErrInvalidConfig", nerr)
			}
		})
	}
}

func TestNew_members(t *testing.T) {
	tests := []struct {
		name    string
		members []string
		want    []string
		err     error
	}{
		{name: "nil", members: nil, want: []string{}},
		{name: "sorted and deduplicated", members: []string{"c", "a", "b", "a", "c"}, want: []string{"a", "b", "c"}},
		{name: "any bytes", members: []string{"\x00", "ü", "a b"}, want: []string{"\x00", "a b", "ü"}},
		{name: "empty name", members: []string{"a", ""}, err: ErrInvalidMember},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.members)
			r, err := New(DefaultConfig(), tc.members)
			if !slices.Equal(in, tc.members) {
				t.Errorf("New modified its argument: %q, was %q", tc.members, in)
			}
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("New() error = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			if got := r.Members(); !slices.Equal(got, tc.want) {
				t.Errorf("Members() = %q, want %q", got, tc.want)
			}
			if r.Config() != DefaultConfig() {
				t.Errorf("Config() = %+v, want %+v", r.Config(), DefaultConfig())
			}
		})
	}
}

func TestRing_membersIsACopy(t *testing.T) {
	r := mustNew(t, DefaultConfig(), []string{"a", "b"})
	r.Members()[0] = "zzz"
	if got := r.Members(); got[0] != "a" {
		t.Errorf("Members() after modifying a returned slice = %q", got)
	}
}

func TestHash(t *testing.T) {
	// ref spells out the documented encoding byte by byte.
	ref := func(bucket, key string) uint64 {
		b := binary.AppendUvarint(nil, uint64(len(bucket)))
		return xxhash.Sum64(append(append(b, bucket...), key...))
	}
	long := strings.Repeat("b", 300) // a two-byte length prefix
	tests := []struct{ bucket, key string }{
		{"", ""}, {"", "k"}, {"b", ""}, {"users", "alice"}, {"a", "bc"}, {"ab", "c"},
		{long, "k"}, {"\x00\xff", "\x80"}, {"bucket", strings.Repeat("k", 100)},
	}
	seen := map[uint64][2]string{}
	for _, tc := range tests {
		got := Hash(tc.bucket, tc.key)
		if want := ref(tc.bucket, tc.key); got != want {
			t.Errorf("Hash(%q, %q) = %#x, want %#x", tc.bucket, tc.key, got, want)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("Hash(%q, %q) = Hash(%q, %q)", tc.bucket, tc.key, prev[0], prev[1])
		}
		seen[got] = [2]string{tc.bucket, tc.key}
	}
	// Pinned: the hash places every stored key; changing it moves them all.
	if got, want := Hash("users", "alice"), uint64(0xa8596404ac3ba6ca); got != want {
		t.Errorf("Hash(users, alice) = %#x, want %#x", got, want)
	}
}

func TestRing_partitionRange(t *testing.T) {
	tests := []struct {
		q      int
		p      int
		lo, hi uint64
	}{
		{q: 1, p: 0, lo: 0, hi: math.MaxUint64},
		{q: 2, p: 0, lo: 0, hi: 1<<63 - 1},
		{q: 2, p: 1, lo: 1 << 63, hi: math.MaxUint64},
		{q: 1024, p: 0, lo: 0, hi: 1<<54 - 1},
		{q: 1024, p: 1, lo: 1 << 54, hi: 2<<54 - 1},
		{q: 1024, p: 1023, lo: 1023 << 54, hi: math.MaxUint64},
		{q: 65536, p: 65535, lo: 65535 << 48, hi: math.MaxUint64},
	}
	for _, tc := range tests {
		r := mustNew(t, Config{Partitions: tc.q, Tokens: 4}, []string{"a"})
		lo, hi := r.Range(tc.p)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("Q=%d: Range(%d) = [%#x, %#x], want [%#x, %#x]", tc.q, tc.p, lo, hi, tc.lo, tc.hi)
		}
		for _, h := range []uint64{tc.lo, tc.hi, tc.lo + (tc.hi-tc.lo)/2} {
			if got := r.Partition(h); got != tc.p {
				t.Errorf("Q=%d: Partition(%#x) = %d, want %d", tc.q, h, got, tc.p)
			}
		}
	}
}

func TestRing_rangesTileTheHashSpace(t *testing.T) {
	for _, q := range []int{1, 2, 8, 1024, 65536} {
		r := mustNew(t, Config{Partitions: q, Tokens: 1}, nil)
		var next uint64 // lo the next partition must start at
		for p := range q {
			lo, hi := r.Range(p)
			if lo != next || hi < lo {
				t.Fatalf("Q=%d: Range(%d) = [%#x, %#x], want it to start at %#x", q, p, lo, hi, next)
			}
			if hi-lo != math.MaxUint64/uint64(q) {
				t.Fatalf("Q=%d: Range(%d) spans %#x, want equal slices", q, p, hi-lo+1)
			}
			next = hi + 1
		}
		if next != 0 { // the last hi must have been MaxUint64
			t.Errorf("Q=%d: ranges end at %#x, want MaxUint64", q, next-1)
		}
	}
}

func TestRing_rangePanicsOutOfRange(t *testing.T) {
	r := mustNew(t, Config{Partitions: 8, Tokens: 1}, nil)
	for _, p := range []int{-1, 8} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Range(%d) did not panic", p)
				}
			}()
			r.Range(p)
		}()
	}
}

func TestRing_lookups(t *testing.T) {
	r := mustNew(t, DefaultConfig(), []string{"a", "b", "c", "d", "e"})
	empty := mustNew(t, DefaultConfig(), nil)
	tests := []struct {
		name string
		got  []string
		want int // length; -1: nil
	}{
		{"walk", r.Walk(7), 5},
		{"walk below range", r.Walk(-1), -1},
		{"walk above range", r.Walk(1024), -1},
		{"walk of empty ring", empty.Walk(0), -1},
		{"preflist", r.Preflist(7, 3), 3},
		{"preflist longer than members", r.Preflist(7, 9), 5},
		{"preflist n=0", r.Preflist(7, 0), -1},
		{"preflist n<0", r.Preflist(7, -2), -1},
		{"preflist out of range", r.Preflist(1024, 3), -1},
		{"preflist of empty ring", empty.Preflist(0, 3), -1},
	}
	for _, tc := range tests {
		if tc.want < 0 {
			if tc.got != nil {
				t.Errorf("%s = %q, want nil", tc.name, tc.got)
			}
			continue
		}
		if len(tc.got) != tc.want {
			t.Errorf("%s = %q, want %d members", tc.name, tc.got, tc.want)
		}
	}
	if pl, w := r.Preflist(7, 3), r.Walk(7); !slices.Equal(pl, w[:3]) {
		t.Errorf("Preflist(7, 3) = %q, want the prefix of Walk(7) = %q", pl, w)
	}
	// Appending to a returned walk must not reach the next partition's.
	w := r.Walk(7)
	_ = append(w, "x")
	if r.Walk(8)[0] == "x" {
		t.Error("append to Walk(7) overwrote Walk(8)")
	}
}

func TestRing_ownedAndStats(t *testing.T) {
	cfg := Config{Partitions: 64, Tokens: 16, NVal: 3, MaxLoad: 1.1}
	r := mustNew(t, cfg, []string{"a", "b", "c", "d", "e", "f", "g"})
	for _, n := range []int{1, 3, 7, 10} {
		st := r.Stats(n)
		total, lo, hi := 0, math.MaxInt, 0
		for _, m := range r.Members() {
			owned := r.Owned(m, n)
			if !slices.IsSorted(owned) {
				t.Errorf("Owned(%s, %d) = %v, not sorted", m, n, owned)
			}
			for _, p := range owned {
				if !slices.Contains(r.Preflist(p, n), m) {
					t.Errorf("Owned(%s, %d) lists %d, whose preflist is %q", m, n, p, r.Preflist(p, n))
				}
			}
			total += len(owned)
			lo, hi = min(lo, len(owned)), max(hi, len(owned))
		}
		want := Stats{Members: 7, Replicas: 64 * min(n, 7), Min: lo, Max: hi, Mean: float64(64*min(n, 7)) / 7}
		if st != want || total != want.Replicas {
			t.Errorf("Stats(%d) = %+v, want %+v (Owned total %d)", n, st, want, total)
		}
	}
	if got := r.Owned("nobody", 3); got != nil {
		t.Errorf("Owned(nobody) = %v, want nil", got)
	}
	if got := r.Owned("a", 0); got != nil {
		t.Errorf("Owned(a, 0) = %v, want nil", got)
	}
	if got := r.Stats(0); got != (Stats{}) {
		t.Errorf("Stats(0) = %+v, want zero", got)
	}
	if got := mustNew(t, cfg, nil).Stats(3); got != (Stats{}) {
		t.Errorf("empty ring Stats(3) = %+v, want zero", got)
	}
}

func TestMoved(t *testing.T) {
	cfg := Config{Partitions: 64, Tokens: 16}
	abc := mustNew(t, cfg, []string{"a", "b", "c"})
	abcd := mustNew(t, cfg, []string{"a", "b", "c", "d"})
	other := mustNew(t, Config{Partitions: 128, Tokens: 16}, []string{"a", "b", "c"})
	empty := mustNew(t, cfg, nil)
	dSlots := len(abcd.Owned("d", 3))
	tests := []struct {
		name string
		a, b *Ring
		n    int
		want int
	}{
		{"same ring", abc, abc, 3, 0},
		{"from nil", nil, abc, 3, 64 * 3},
		{"from empty", empty, abc, 3, 64 * 3},
		{"n above members", nil, abc, 5, 64 * 3},
		{"to nil", abc, nil, 3, 0},
		{"to empty", abc, empty, 3, 0},
		{"n=0", nil, abc, 0, 0},
		{"other partition count", abc, other, 2, 128 * 2},
		{"join", abc, abcd, 3, dSlots},
		{"leave: d's slots are re-homed", abcd, abc, 3, dSlots},
	}
	for _, tc := range tests {
		if got := Moved(tc.a, tc.b, tc.n); got != tc.want {
			t.Errorf("%s: Moved = %d, want %d", tc.name, got, tc.want)
		}
	}
	if dSlots == 0 {
		t.Error("d holds no slots in abcd")
	}
}
