package ring

import (
	"fmt"
	"testing"
)

// memberNames returns prefix1 … prefixS.
func memberNames(prefix string, s int) []string {
	out := make([]string, s)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

func mustNew(tb testing.TB, cfg Config, members []string) *Ring {
	tb.Helper()
	r, err := New(cfg, members)
	if err != nil {
		tb.Fatalf("New(%+v, %d members): %v", cfg, len(members), err)
	}
	return r
}

// plainConfig is DefaultConfig with the load bound off.
func plainConfig() Config {
	c := DefaultConfig()
	c.MaxLoad = 0
	return c
}
