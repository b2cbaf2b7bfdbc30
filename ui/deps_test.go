package ui

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the dashboard is embedded files and a handler over them; it
// imports no dynamod package and nothing outside the standard library
// (http mounts it, cmd/dynamod wires it).
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
}
