package pbs

import (
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestSamples_keepsMostRecent: a window keeps the last Size samples.
func TestSamples_keepsMostRecent(t *testing.T) {
	s := NewSamples(Config{Size: 4, Window: time.Hour})
	for i := range 10 {
		s.Record(WriteRequest, time.Duration(i), t0)
	}
	got := s.Snapshot(t0).Of(WriteRequest)
	if len(got) != 4 {
		t.Fatalf("kept %d samples, want 4", len(got))
	}
	sum := time.Duration(0)
	for _, d := range got {
		sum += d
	}
	if sum != 6+7+8+9 {
		t.Errorf("kept %v, want the last four (6..9)", got)
	}
	if n := s.Snapshot(t0).Count(WriteAck); n != 0 {
		t.Errorf("WriteAck has %d samples, want 0", n)
	}
}

// TestSamples_window: samples older than the window, or recorded after
// the snapshot's time, are left out; negative latencies count as 0;
// unknown kinds are ignored.
func TestSamples_window(t *testing.T) {
	s := NewSamples(Config{Size: 16, Window: time.Minute})
	s.Record(ReadRequest, time.Millisecond, t0)
	s.Record(ReadRequest, 2*time.Millisecond, t0.Add(30*time.Second))
	s.Record(ReadRequest, -time.Millisecond, t0.Add(50*time.Second))
	s.Record(Kind(0), time.Second, t0)
	s.Record(Kind(9), time.Second, t0)
	cases := []struct {
		at   time.Time
		want int
	}{
		{t0, 1},
		{t0.Add(40 * time.Second), 2},
		{t0.Add(61 * time.Second), 2},
		{t0.Add(91 * time.Second), 1},
		{t0.Add(200 * time.Second), 0},
		{t0.Add(-time.Second), 0},
	}
	for _, tc := range cases {
		if got := s.Snapshot(tc.at).Count(ReadRequest); got != tc.want {
			t.Errorf("at %v: %d samples, want %d", tc.at.Sub(t0), got, tc.want)
		}
	}
	for _, d := range s.Snapshot(t0.Add(55 * time.Second)).Of(ReadRequest) {
		if d < 0 {
			t.Errorf("negative sample %v kept", d)
		}
	}
	if s.Snapshot(t0).Of(Kind(9)) != nil {
		t.Error("unknown kind has samples")
	}
}

func TestConfig_validate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := (Config{Size: -1, Window: -time.Second}).Validate(); err == nil {
		t.Error("negative fields accepted")
	}
	if got := NewSamples(Config{Size: -1}).Config(); got != DefaultConfig() {
		t.Errorf("bad config became %+v, want the defaults", got)
	}
}

func TestKind_String(t *testing.T) {
	want := map[Kind]string{WriteRequest: "write_request", WriteAck: "write_ack", ReadRequest: "read_request", ReadResponse: "read_response"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("%d: %q, want %q", k, k.String(), s)
		}
	}
}

// TestSamples_concurrent: recording from many goroutines while
// snapshotting is safe (run with -race) and loses nothing.
func TestSamples_concurrent(t *testing.T) {
	s := NewSamples(Config{Size: 4096, Window: time.Hour})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				s.Record(Kind(1+g%4), time.Duration(i), t0)
			}
		})
	}
	for range 10 {
		s.Snapshot(t0)
	}
	wg.Wait()
	for k := WriteRequest; k <= ReadResponse; k++ {
		if n := s.Snapshot(t0).Count(k); n != 1000 {
			t.Errorf("%v: %d samples, want 1000", k, n)
		}
	}
}

// TestSamples_recordDoesNotAllocate: Record is on the path of every
// replica call.
func TestSamples_recordDoesNotAllocate(t *testing.T) {
	s := NewSamples(Config{})
	if a := testing.AllocsPerRun(1000, func() { s.Record(WriteAck, time.Millisecond, t0) }); a != 0 {
		t.Errorf("Record allocates %v times", a)
	}
}

// BenchmarkRecord: go test -run '^$' -bench Record ./pbs/
func BenchmarkRecord(b *testing.B) {
	s := NewSamples(Config{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Record(ReadRequest, time.Millisecond, t0)
		}
	})
}
