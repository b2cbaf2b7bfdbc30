// Package depstest checks a package's imports against its rule in
// docs/design.md ("Packages and their imports"). Every dynamod package has
// a deps_test.go that lists its imports with [Imports] (or [TestImports]
// for a package made of tests alone) and checks them:
//
//	func TestDeps(t *testing.T) {
//		imps := depstest.Imports(t)
//		depstest.Dynamod(t, imps, "versioning")
//		depstest.ThirdParty(t, imps)
//	}
//
// Only the package's own files count: a test may import what it likes.
package depstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Module is dynamod's module path.
const Module = "github.com/dynamod/dynamod"

// Impure maps what the pure packages may not import (each entry also bans
// its subpackages) to why: they do no I/O, read no clock, draw no
// randomness, start no goroutines and log nothing.
var Impure = map[string]string{
	"net":       "no I/O in a pure package",
	"os":        "no I/O in a pure package",
	"syscall":   "no I/O in a pure package",
	"log":       "return values; the caller logs",
	"math/rand": "take randomness as input",
	"time":      "take time as input",
	"sync":      "pure values need no locks or goroutines",
}

// Imports returns what the non-test files of the package in the working
// directory (where go test runs a package's tests) import. It fails t if
// go list fails or lists nothing, so that no check passes vacuously.
func Imports(t testing.TB) []string {
	t.Helper()
	return list(t, `{{join .Imports " "}}`)
}

// TestImports returns what the test files of the package in the working
// directory import, for a package made of tests alone.
func TestImports(t testing.TB) []string {
	t.Helper()
	return list(t, `{{join .TestImports " "}} {{join .XTestImports " "}}`)
}

func list(t testing.TB, format string) []string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-f", format, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imps := strings.Fields(string(out))
	if len(imps) == 0 {
		t.Fatal("go list reported no imports; the check would pass vacuously")
	}
	slices.Sort(imps)
	return slices.Compact(imps)
}

// Dynamod fails t for every dynamod package among imps that is not one of
// allowed, given relative to the module ("versioning", "internal/wire").
// With no allowed package, the package imports nothing of dynamod.
func Dynamod(t testing.TB, imps []string, allowed ...string) {
	t.Helper()
	for _, imp := range imps {
		rel, ok := strings.CutPrefix(imp, Module+"/")
		if ok && !slices.Contains(allowed, rel) {
			if len(allowed) == 0 {
				t.Errorf("imports %s: this package imports no other dynamod package", imp)
			} else {
				t.Errorf("imports %s: of dynamod, only %s (docs/design.md, \"Packages and their imports\")", imp, strings.Join(allowed, ", "))
			}
		}
	}
}

// Forbid fails t, saying why, for every import among imps that is one of
// the dynamod packages pkgs (relative to the module) or below one.
func Forbid(t testing.TB, imps []string, why string, pkgs ...string) {
	t.Helper()
	for _, imp := range imps {
		rel, ok := strings.CutPrefix(imp, Module+"/")
		if !ok {
			continue
		}
		for _, p := range pkgs {
			if under(rel, p) {
				t.Errorf("imports %s: %s", imp, why)
			}
		}
	}
}

// ThirdParty fails t for every import among imps that is neither the
// standard library nor dynamod's nor one of allowed (or below one). With
// no allowed module, the package uses the standard library alone.
func ThirdParty(t testing.TB, imps []string, allowed ...string) {
	t.Helper()
	for _, imp := range imps {
		first, _, _ := strings.Cut(imp, "/")
		if !strings.Contains(first, ".") || under(imp, Module) {
			continue
		}
		if !slices.ContainsFunc(allowed, func(a string) bool { return under(imp, a) }) {
			t.Errorf("imports %s: outside the standard library, only %v", imp, allowed)
		}
	}
}

// Ban fails t for every import among imps that banned names, or that is
// below one, with the reason banned gives.
func Ban(t testing.TB, imps []string, banned map[string]string) {
	t.Helper()
	for _, imp := range imps {
		for prefix, why := range banned {
			if under(imp, prefix) {
				t.Errorf("imports %s: %s", imp, why)
			}
		}
	}
}

// NotCalled fails t, saying why, for every non-test Go file of the package
// in the working directory whose source mentions one of names (such as
// "storage.OpenLevelDB"): a rule imports cannot state, as "uses storage's
// Store but never constructs an engine".
func NotCalled(t testing.TB, why string, names ...string) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		n++
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.Contains(string(src), name) {
				t.Errorf("%s uses %s: %s", f, name, why)
			}
		}
	}
	if n == 0 {
		t.Fatal("no non-test Go files here; the check would pass vacuously")
	}
}

// under reports whether path is pkg or a package below it.
func under(path, pkg string) bool {
	return path == pkg || strings.HasPrefix(path, pkg+"/")
}
