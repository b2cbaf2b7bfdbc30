package resolve

import (
	"errors"
	"math"
	"strconv"
	"testing"
)

func TestMergeCounters(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want string
	}{
		{"none", nil, `{}`},
		{"one", []string{` { "b" : 2, "a":1 } `}, `{"a":1,"b":2}`},
		{"per-actor max", []string{`{"a":1,"b":5}`, `{"a":3,"b":2,"c":0}`}, `{"a":3,"b":5,"c":0}`},
		{"repeated actor keeps its max", []string{`{"a":7,"a":2}`}, `{"a":7}`},
		{"largest count", []string{`{"a":18446744073709551615}`, `{"a":1}`}, `{"a":18446744073709551615}`},
		{"escaped actor", []string{`{"\u0041":1}`, `{"A":2}`}, `{"A":2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MergeCounters(bs(tc.in...))
			if err != nil {
				t.Fatalf("MergeCounters: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("MergeCounters(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestMergeCounters_invalid(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `[{"a":1}]`, `1`, `null`, `{"a":-1}`, `{"a":1.5}`, `{"a":1.0}`, `{"a":1e3}`,
		`{"a":"1"}`, `{"a":null}`, `{"a":{"b":1}}`, `{"a":[1]}`, `{"a":18446744073709551616}`,
		`{"a":1`, `{"a":1]`, `{"a":1} {}`, `{"a":1,}`, `{"a"}`,
	} {
		if _, err := MergeCounters(bs(`{}`, bad)); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("MergeCounters with %q: error = %v, want ErrInvalidValue", bad, err)
		}
	}
}

func TestCounterSum(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{`{}`, 0},
		{`{"a":1}`, 1},
		{`{"a":1,"b":41,"c":0}`, 42},
		{`{"a":18446744073709551614,"b":1}`, math.MaxUint64},
	} {
		got, err := CounterSum([]byte(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("CounterSum(%s) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`{"a":18446744073709551615,"b":1}`, `[1]`, `{"a":-1}`} {
		if _, err := CounterSum([]byte(bad)); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("CounterSum(%s) error = %v, want ErrInvalidValue", bad, err)
		}
	}
}

func TestCounterAdd(t *testing.T) {
	b, err := CounterAdd(nil, "web-1", 1)
	if err != nil || string(b) != `{"web-1":1}` {
		t.Fatalf("CounterAdd(nil) = %s, %v", b, err)
	}
	b, err = CounterAdd([]byte(`{"web-2":4,"web-1":1}`), "web-1", 2)
	if err != nil || string(b) != `{"web-1":3,"web-2":4}` {
		t.Fatalf("CounterAdd = %s, %v", b, err)
	}
	if _, err := CounterAdd([]byte(`{"a":`+strconv.FormatUint(math.MaxUint64, 10)+`}`), "a", 1); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("CounterAdd overflow: error = %v, want ErrInvalidValue", err)
	}
	if _, err := CounterAdd([]byte(`[]`), "a", 1); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("CounterAdd on an array: error = %v, want ErrInvalidValue", err)
	}
}

// Two clients increment concurrently from the same read; the merge keeps
// both increments.
func TestCounter_concurrentIncrements(t *testing.T) {
	base := []byte(`{"a":2,"b":3}`)
	x, err := CounterAdd(base, "a", 1)
	if err != nil {
		t.Fatal(err)
	}
	y, err := CounterAdd(base, "b", 5)
	if err != nil {
		t.Fatal(err)
	}
	m, err := MergeCounters([][]byte{x, y})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := CounterSum(m); err != nil || n != 2+3+1+5 {
		t.Fatalf("sum of %s = %d, %v; want 11", m, n, err)
	}
}
