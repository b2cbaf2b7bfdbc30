package sched

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the scheduling adapter uses the standard library alone.
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
}
