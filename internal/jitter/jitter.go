// Package jitter spreads periodic work, so that nodes started together do
// not act in lockstep. It is dynamod's one jitter function: gossip,
// quorum and anti-entropy use it with their own spread and source.
package jitter

import "time"

// Duration returns d scaled by a factor drawn uniformly from [1-f, 1+f]:
// rand returns a float in [0, 1), as math/rand/v2's Float64 and
// (*rand.Rand).Float64 do. Pass a seeded source's Float64 to replay a
// run. f is between 0 and 1.
func Duration(d time.Duration, f float64, rand func() float64) time.Duration {
	return time.Duration(float64(d) * (1 - f + 2*f*rand()))
}
