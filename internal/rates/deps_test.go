package rates

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the rates helper stands on the standard library alone and
// reads no clock of its own (its callers pass durations and sample it).
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
}
