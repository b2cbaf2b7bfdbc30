package ring

import (
	"errors"
	"fmt"
	"math"
)

// Limits on [Config] fields.
const (
	MaxPartitions = 1 << 16
	MaxTokens     = 1 << 16
)

var (
	// ErrInvalidConfig marks every error [Config.Validate] and [New] return
	// for a bad configuration.
	ErrInvalidConfig = errors.New("ring: invalid config")
	// ErrInvalidMember marks the error [New] returns for an empty member
	// name.
	ErrInvalidMember = errors.New("ring: invalid member")
)

// Config fixes the shape of a ring. Every node of a cluster must use the same
// Config, or they disagree on ownership. A Config never changes after [New].
type Config struct {
	// Partitions is Q, the number of equal slices of the 64-bit hash space.
	// A power of two in [1, 65536]. Default 1024. Fixed when a cluster is
	// created: changing it moves nearly every key.
	Partitions int
	// Tokens is T, the number of tokens every member places on the ring.
	// In [1, 65536]. Default 256. More tokens spread a member's ownership
	// more evenly; New costs O(T·members·log T).
	Tokens int
	// NVal is the preference-list length MaxLoad balances: the n_val most
	// buckets use. Default 3. Must be >= 1 when MaxLoad is set; ignored when
	// MaxLoad is 0.
	NVal int
	// MaxLoad bounds how many of the first NVal slots of all partitions'
	// walks one member may hold, as a multiple of the mean (Q·NVal/members,
	// rounded down but never below the mean rounded up). The first k < NVal
	// slots, and so the first primary that coordinates writes, are kept
	// under the same multiple of their mean where the choice among a
	// partition's primaries allows. Default 1.10. 0 turns balancing off: the
	// ring is then plain consistent hashing, where a membership change moves
	// only the changed member's replicas. Otherwise at least 1; values closer
	// to 1 balance more tightly but move more data on every membership
	// change.
	MaxLoad float64
}

// DefaultConfig returns the configuration dynamod clusters are created with.
func DefaultConfig() Config {
	return Config{Partitions: 1024, Tokens: 256, NVal: 3, MaxLoad: 1.10}
}

// Validate reports every bad field of c, by name. Each error wraps
// [ErrInvalidConfig].
func (c Config) Validate() error {
	var errs []error
	if c.Partitions < 1 || c.Partitions > MaxPartitions || c.Partitions&(c.Partitions-1) != 0 {
		errs = append(errs, fmt.Errorf("%w: Partitions must be a power of two in [1, %d], got %d",
			ErrInvalidConfig, MaxPartitions, c.Partitions))
	}
	if c.Tokens < 1 || c.Tokens > MaxTokens {
		errs = append(errs, fmt.Errorf("%w: Tokens must be in [1, %d], got %d",
			ErrInvalidConfig, MaxTokens, c.Tokens))
	}
	if math.IsNaN(c.MaxLoad) || math.IsInf(c.MaxLoad, 0) || (c.MaxLoad != 0 && c.MaxLoad < 1) {
		errs = append(errs, fmt.Errorf("%w: MaxLoad must be 0 (off) or a finite number >= 1, got %v",
			ErrInvalidConfig, c.MaxLoad))
	}
	if c.NVal < 0 || (c.MaxLoad != 0 && c.NVal < 1) {
		errs = append(errs, fmt.Errorf("%w: NVal must be >= 1 when MaxLoad is set (>= 0 otherwise), got %d",
			ErrInvalidConfig, c.NVal))
	}
	return errors.Join(errs...)
}
