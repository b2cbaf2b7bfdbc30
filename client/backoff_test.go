package client

import (
	"math"
	"testing"
	"time"
)

func TestClient_backoffCap(t *testing.T) {
	cases := []struct {
		base, max time.Duration
		attempt   int
		want      time.Duration
	}{
		{50 * time.Millisecond, 2 * time.Second, 0, 50 * time.Millisecond},
		{50 * time.Millisecond, 2 * time.Second, 1, 100 * time.Millisecond},
		{50 * time.Millisecond, 2 * time.Second, 5, 1600 * time.Millisecond},
		{50 * time.Millisecond, 2 * time.Second, 6, 2 * time.Second},
		{50 * time.Millisecond, 2 * time.Second, 1000, 2 * time.Second},
		{time.Hour, math.MaxInt64, 100, math.MaxInt64},
		{time.Nanosecond, time.Nanosecond, 70, time.Nanosecond},
	}
	for _, tc := range cases {
		c := &Client{backoff: tc.base, maxBackoff: tc.max}
		if got := c.backoffCap(tc.attempt); got != tc.want {
			t.Errorf("backoff %v..%v attempt %d: %v, want %v", tc.base, tc.max, tc.attempt, got, tc.want)
		}
	}
}
