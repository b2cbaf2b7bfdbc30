package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config describes one benchmark run.
type Config struct {
	// Targets are the nodes' base URLs, e.g. "http://127.0.0.1:7070".
	// Worker i talks to Targets[i % len(Targets)]. Required.
	Targets []string `json:"targets"`
	// Concurrency is the number of workers, each with at most one request
	// in flight. Default 64; zero takes the default.
	Concurrency int `json:"concurrency"`
	// Duration bounds the measured phase. Ops bounds it by count: the run
	// stops after that many requests. At least one must be > 0; with both,
	// whichever comes first ends the run.
	Duration time.Duration `json:"duration_ns"`
	Ops      int64         `json:"ops"`
	// MaxDuration is a hard cap on the whole run, preload included, for
	// runs bounded by Ops against a slow cluster. Zero: 1h, or 2×Duration
	// if that is longer.
	MaxDuration time.Duration `json:"max_duration_ns"`
	// Keys is the number of distinct keys, picked uniformly at random.
	// Default 10000; zero takes the default.
	Keys int `json:"keys"`
	// ValueSize is the size of every written value in bytes. Default 1024;
	// zero takes the default.
	ValueSize int `json:"value_size"`
	// ReadRatio is the fraction of requests that are GETs, in [0, 1]; the
	// rest are PUTs. [DefaultConfig] sets 0.5. Zero means PUTs only: start
	// from DefaultConfig to get the default.
	ReadRatio float64 `json:"read_ratio"`
	// Bucket holds the benchmark's keys. Default "bench".
	Bucket string `json:"bucket"`
	// R and W are the read and write quorums sent with every request, and
	// DW the durable writes every PUT waits for (replicas that fsync
	// before they answer): an integer, one, quorum, all or default. Empty:
	// the parameter is not sent (the bucket's default).
	R  string `json:"r,omitempty"`
	W  string `json:"w,omitempty"`
	DW string `json:"dw,omitempty"`
	// Preload writes every key once, before the measured phase and outside
	// its numbers, so that reads find values.
	Preload bool `json:"preload"`
	// PreloadTimeout bounds the preload; the run goes on after it with
	// the keys written so far (loadgen's --prefill-timeout). Zero: only
	// MaxDuration bounds it.
	PreloadTimeout time.Duration `json:"preload_timeout_ns,omitempty"`
	// Warmup runs the workload for this long after the preload and before
	// the measured phase, outside its numbers (as ../shared/bench's
	// loadgen does, 3 s): the nodes' caches fill and the preload's
	// compactions settle. The load does not pause between the two: a
	// request belongs to the phase in which it starts. Zero: none.
	Warmup time.Duration `json:"warmup_ns"`
	// Window, when > 0, cuts the measured phase into windows of this
	// length and reports each one's throughput and latencies in
	// Result.Windows, so that a tail made of bursts (every write stalled
	// for a while every few seconds) shows apart from one spread over the
	// run. A request belongs to the window in which it starts. Only the
	// first MaxWindows windows are kept; later requests count in the
	// totals alone. Each request measured then costs 8 bytes until Run
	// returns.
	Window time.Duration `json:"window_ns,omitempty"`
	// Seed seeds each worker's random source (with the worker's number), so
	// a run's sequence of keys and operations is reproducible.
	Seed uint64 `json:"seed"`
	// Timeout bounds one request; a request over it counts as an error.
	// Default 10s; zero takes the default.
	Timeout time.Duration `json:"timeout_ns"`
	// Token, when set, is sent as "Authorization: Bearer TOKEN" with
	// every request (it needs read:Bucket and write:Bucket). Never
	// written to the result.
	Token string `json:"-"`
	// TLS configures https:// targets (client.LoadCA makes one from a CA
	// file). nil: the system roots.
	TLS *tls.Config `json:"-"`
	// Progress, if not nil, receives a progress line every
	// ProgressInterval (default 1s).
	Progress         io.Writer     `json:"-"`
	ProgressInterval time.Duration `json:"-"`
}

// DefaultConfig returns a 10-second run of 64 workers over 10000 keys of 1
// KiB, half reads. Targets must still be set.
func DefaultConfig() Config {
	return Config{
		Concurrency:      64,
		Duration:         10 * time.Second,
		Keys:             10000,
		ValueSize:        1024,
		ReadRatio:        0.5,
		Bucket:           "bench",
		Timeout:          10 * time.Second,
		ProgressInterval: time.Second,
	}
}

// withDefaults fills the fields whose zero value means "default".
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Concurrency == 0 {
		c.Concurrency = d.Concurrency
	}
	if c.Keys == 0 {
		c.Keys = d.Keys
	}
	if c.ValueSize == 0 {
		c.ValueSize = d.ValueSize
	}
	if c.Bucket == "" {
		c.Bucket = d.Bucket
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = d.ProgressInterval
	}
	if c.MaxDuration == 0 {
		c.MaxDuration = max(time.Hour, 2*c.Duration)
	}
	return c
}

// Validate reports every invalid field, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("bench: Targets: need at least one node URL"))
	}
	for _, t := range c.Targets {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("bench: Targets: %q is not a base URL like http://host:port", t))
		}
	}
	if c.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("bench: Concurrency must be > 0, got %d", c.Concurrency))
	}
	if c.Duration < 0 || c.Ops < 0 || (c.Duration == 0 && c.Ops == 0) {
		errs = append(errs, fmt.Errorf("bench: Duration (%v) or Ops (%d) must bound the run, and neither be negative", c.Duration, c.Ops))
	}
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("bench: Window must be >= 0, got %v", c.Window))
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("bench: Warmup must be >= 0, got %v", c.Warmup))
	}
	if c.PreloadTimeout < 0 {
		errs = append(errs, fmt.Errorf("bench: PreloadTimeout must be >= 0, got %v", c.PreloadTimeout))
	}
	for _, q := range []struct{ name, v string }{{"R", c.R}, {"W", c.W}, {"DW", c.DW}} {
		if q.v != "" && !validQuorum(q.v) {
			errs = append(errs, fmt.Errorf("bench: %s must be an integer, one, quorum, all or default, got %q", q.name, q.v))
		}
	}
	if c.MaxDuration < 0 {
		errs = append(errs, fmt.Errorf("bench: MaxDuration must be >= 0, got %v", c.MaxDuration))
	}
	if c.Keys < 0 {
		errs = append(errs, fmt.Errorf("bench: Keys must be > 0, got %d", c.Keys))
	}
	if c.ValueSize < 0 {
		errs = append(errs, fmt.Errorf("bench: ValueSize must be >= 0, got %d", c.ValueSize))
	}
	if !(c.ReadRatio >= 0 && c.ReadRatio <= 1) {
		errs = append(errs, fmt.Errorf("bench: ReadRatio must be in [0, 1], got %v", c.ReadRatio))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("bench: Timeout must be >= 0, got %v", c.Timeout))
	}
	if strings.ContainsAny(c.Token, "\r\n") {
		errs = append(errs, errors.New("bench: Token must not contain a line break"))
	}
	if c.ProgressInterval < 0 {
		errs = append(errs, fmt.Errorf("bench: ProgressInterval must be > 0, got %v", c.ProgressInterval))
	}
	return errors.Join(errs...)
}

// validQuorum reports whether s is a quorum value the client API accepts
// (an integer >= 0, one, quorum, all or default); whether it fits the
// bucket's n_val is the server's to say.
func validQuorum(s string) bool {
	switch strings.ToLower(s) {
	case "one", "quorum", "all", "default":
		return true
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 1<<16
}
