package jitter

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the jitter helper uses the standard library alone and draws
// no randomness of its own (the caller passes its source, so a seeded run
// replays).
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
	depstest.Ban(t, imps, map[string]string{"math/rand": "take the random source as an argument"})
}
