package pbs

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Kind is one of the four latencies of the WARS model.
type Kind uint8

// The latencies, each from a coordinator's call to one replica.
const (
	// WriteRequest (W): the coordinator sends a replicate until the
	// replica applied it.
	WriteRequest Kind = 1 + iota
	// WriteAck (A): the replica applied the write until the coordinator
	// got its ack.
	WriteAck
	// ReadRequest (R): the coordinator sends a get until the replica read
	// its store.
	ReadRequest
	// ReadResponse (S): the replica read its store until the coordinator
	// got its reply.
	ReadResponse
)

// numKinds is the number of kinds; Kind k is at index k-1.
const numKinds = 4

// String names the kind as the /cluster/pbs document does.
func (k Kind) String() string {
	switch k {
	case WriteRequest:
		return "write_request"
	case WriteAck:
		return "write_ack"
	case ReadRequest:
		return "read_request"
	case ReadResponse:
		return "read_response"
	}
	return fmt.Sprintf("kind%d", uint8(k))
}

// Config bounds the samples kept.
type Config struct {
	// Size is how many samples of each kind are kept: the most recent.
	// Default 2048; 0 takes the default.
	Size int
	// Window drops samples recorded longer ago than it. Default 5 min; 0
	// takes the default.
	Window time.Duration
}

// DefaultConfig returns the defaults: 2048 samples of each kind over the
// last 5 minutes.
func DefaultConfig() Config {
	return Config{Size: 2048, Window: 5 * time.Minute}
}

// Validate reports every bad field. Zero fields are valid (defaults).
func (c Config) Validate() error {
	var errs []error
	if c.Size < 0 || c.Size > 1<<20 {
		errs = append(errs, fmt.Errorf("pbs: Size must be in 0..%d, got %d", 1<<20, c.Size))
	}
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("pbs: Window must be >= 0, got %v", c.Window))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Size <= 0 {
		c.Size = d.Size
	}
	if c.Window <= 0 {
		c.Window = d.Window
	}
	return c
}

// Samples keeps the most recent latencies of each kind. Record and
// Snapshot are safe for concurrent use; Record takes one short lock and
// does not allocate.
type Samples struct {
	cfg   Config
	kinds [numKinds]window
}

// window is one kind's ring of samples.
type window struct {
	// mu guards the fields below; Record holds it for a few stores.
	mu   sync.Mutex
	d    []int64 // latency, ns
	at   []int64 // when recorded, Unix ns
	next int     // slot the next sample takes
	full bool    // every slot holds a sample
}

// NewSamples returns empty windows sized by cfg (zero fields take the
// defaults; a bad field is replaced by its default too, Validate reports
// it).
func NewSamples(cfg Config) *Samples {
	if cfg.Validate() != nil {
		cfg = Config{}
	}
	cfg = cfg.withDefaults()
	s := &Samples{cfg: cfg}
	for i := range s.kinds {
		s.kinds[i].d = make([]int64, cfg.Size)
		s.kinds[i].at = make([]int64, cfg.Size)
	}
	return s
}

// Config returns the configuration in effect, defaults applied.
func (s *Samples) Config() Config { return s.cfg }

// Record adds latency d of kind k, observed at now. A negative d counts as
// 0 (the caller clamps clock skew and counts it); an unknown kind is
// ignored.
func (s *Samples) Record(k Kind, d time.Duration, now time.Time) {
	if k < WriteRequest || k > ReadResponse {
		return
	}
	at := now.UnixNano()
	w := &s.kinds[k-1]
	w.mu.Lock()
	w.d[w.next] = max(int64(d), 0)
	w.at[w.next] = at
	w.next++
	if w.next == len(w.d) {
		w.next = 0
		w.full = true
	}
	w.mu.Unlock()
}

// Snapshot is a copy of the samples within the window at one moment.
type Snapshot struct {
	// Window is the window the samples were taken over.
	Window time.Duration
	// by kind, index Kind-1, in no particular order
	lat [numKinds][]time.Duration
}

// Snapshot copies the samples recorded within the window before now (and
// not after it: a sample from the future of now, a clock that stepped
// back, is left out too).
func (s *Samples) Snapshot(now time.Time) Snapshot {
	snap := Snapshot{Window: s.cfg.Window}
	from, to := now.Add(-s.cfg.Window).UnixNano(), now.UnixNano()
	for i := range s.kinds {
		w := &s.kinds[i]
		w.mu.Lock()
		n := w.next
		if w.full {
			n = len(w.d)
		}
		out := make([]time.Duration, 0, n)
		for j := range n {
			if at := w.at[j]; at >= from && at <= to {
				out = append(out, time.Duration(w.d[j]))
			}
		}
		w.mu.Unlock()
		snap.lat[i] = out
	}
	return snap
}

// NewSnapshot builds a snapshot from given latencies (tests, or a model of
// known distributions drawn by the caller).
func NewSnapshot(w, a, r, s []time.Duration) Snapshot {
	return Snapshot{lat: [numKinds][]time.Duration{w, a, r, s}}
}

// Of returns the latencies of kind k (nil for an unknown kind). The
// caller must not modify them.
func (s Snapshot) Of(k Kind) []time.Duration {
	if k < WriteRequest || k > ReadResponse {
		return nil
	}
	return s.lat[k-1]
}

// Count returns how many samples of kind k the snapshot holds.
func (s Snapshot) Count(k Kind) int { return len(s.Of(k)) }
