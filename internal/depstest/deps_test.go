package depstest

import "testing"

// TestDeps: the checker stands on the standard library alone, so that any
// package's test may use it.
func TestDeps(t *testing.T) {
	imps := Imports(t)
	Dynamod(t, imps)
	ThirdParty(t, imps)
}
