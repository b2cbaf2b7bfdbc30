package ratelimit

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the token bucket shared by anti-entropy and transfers uses the
// standard library alone.
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
}
