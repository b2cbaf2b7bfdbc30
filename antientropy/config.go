package antientropy

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits on [Config.Segments].
const (
	MinSegments = 16
	MaxSegments = 1 << 16
)

// Config configures an [AntiEntropy]. It never changes after [New]. Every
// node of a cluster must use the same Segments, or their trees cannot be
// compared (exchanges then fail with [ErrMismatch]).
type Config struct {
	// Self is this node's member name. Required.
	Self string
	// Interval is the mean gap between exchange rounds, jittered ±20%. One
	// round compares every partition shared with one live co-replica (one
	// message for all equal roots) and repairs the partitions that differ.
	// Default 10s; must be > 0.
	Interval time.Duration
	// Segments is the number of leaves of each partition's tree: a power of
	// two in [MinSegments, MaxSegments]. Leaves are grouped into about
	// sqrt(Segments) branches under the root. A tree costs 8 bytes per leaf
	// and per branch, so the default 1024 gives 8.25 KiB per partition and
	// 8.25 MiB for 1024 partitions; at a million keys per node that is about
	// one key per segment, and segments holding many more keys are split
	// further during an exchange by scanning, so a bigger tree saves only
	// local scan work, never wire bytes. Default 1024.
	Segments int
	// RebuildInterval is the mean gap between two from-scratch rebuilds of
	// one partition's tree (to catch disk rot the incremental updates cannot
	// see). Rebuilds are staggered: the first is uniform in [½, 1½] of the
	// interval after the start-up build, later ones ±10%, and a node rebuilds
	// at most one partition per round. Default 7 days; must be > 0.
	RebuildInterval time.Duration
	// TombstoneGrace is how long a tombstone is kept after its newest
	// value's LastModified before it may be reaped (and only once every
	// replica holds it; see the package doc). It must outlast any message in
	// flight and any clock skew between nodes. Default 24h; must be > 0.
	TombstoneGrace time.Duration
	// MaxBytesPerSecond bounds the bytes the exchanges this node starts send
	// and receive, averaged by a token bucket (bursts up to one second's
	// worth). Serving a peer's exchange is paced by the peer. Default
	// 8 MiB/s; 0 means unlimited; must be >= 0.
	MaxBytesPerSecond int
	// NVal is the replica count anti-entropy assumes for every key: a
	// partition is exchanged among the first NVal members of its walk (its
	// primaries), and a tombstone is reaped only when those primaries hold
	// it. Default 3; must be >= 1.
	NVal int
	// CallTimeout bounds one request to a peer; a peer that dies mid-exchange
	// costs at most this long. Default 10s; must be > 0.
	CallTimeout time.Duration
	// Now gives wall-clock time for the tombstone grace and the rebuild
	// schedule. nil: time.Now.
	Now func() time.Time
	// Seed seeds every random draw (round timers, the first peer and
	// partitions, rebuild staggering), so that a seeded test replays them;
	// 0 draws a random seed.
	Seed uint64
	// Logger receives Info on start-up builds, Warn on failed exchanges and
	// corrupt objects, Debug per exchange. nil: discard.
	Logger *slog.Logger
	// Registry registers the dynamod_antientropy_* metrics. nil: metrics are
	// kept but not registered.
	Registry prometheus.Registerer
}

// DefaultConfig returns the production defaults; Self must still be set.
func DefaultConfig() Config {
	return Config{
		Interval:          10 * time.Second,
		Segments:          1024,
		RebuildInterval:   7 * 24 * time.Hour,
		TombstoneGrace:    24 * time.Hour,
		MaxBytesPerSecond: 8 << 20,
		NVal:              3,
		CallTimeout:       10 * time.Second,
	}
}

// DefaultLocalConfig returns a profile for tests on one machine: fast
// rounds, small trees, short timeouts, no rate limit.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.Interval = 50 * time.Millisecond
	c.Segments = 64
	c.MaxBytesPerSecond = 0
	c.CallTimeout = 2 * time.Second
	return c
}

// Validate reports every bad field, by name.
func (c Config) Validate() error {
	var errs []error
	if c.Self == "" {
		errs = append(errs, errors.New("antientropy: Self must be set"))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("antientropy: Interval must be > 0, got %v", c.Interval))
	}
	if c.Segments < MinSegments || c.Segments > MaxSegments || c.Segments&(c.Segments-1) != 0 {
		errs = append(errs, fmt.Errorf("antientropy: Segments must be a power of two in [%d, %d], got %d",
			MinSegments, MaxSegments, c.Segments))
	}
	if c.RebuildInterval <= 0 {
		errs = append(errs, fmt.Errorf("antientropy: RebuildInterval must be > 0, got %v", c.RebuildInterval))
	}
	if c.TombstoneGrace <= 0 {
		errs = append(errs, fmt.Errorf("antientropy: TombstoneGrace must be > 0, got %v", c.TombstoneGrace))
	}
	if c.MaxBytesPerSecond < 0 {
		errs = append(errs, fmt.Errorf("antientropy: MaxBytesPerSecond must be >= 0, got %d", c.MaxBytesPerSecond))
	}
	if c.NVal < 1 {
		errs = append(errs, fmt.Errorf("antientropy: NVal must be >= 1, got %d", c.NVal))
	}
	if c.CallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("antientropy: CallTimeout must be > 0, got %v", c.CallTimeout))
	}
	return errors.Join(errs...)
}
