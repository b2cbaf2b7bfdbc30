package resolve

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// The resolvers sit beside versioning: they may use it, and nothing else of
// dynamod's (docs/design.md, "Packages and their imports": dependencies
// point one way). They return errors and warnings; the caller logs.
func TestDeps_onlyVersioning(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps, "versioning")
	depstest.Ban(t, imps, map[string]string{"log": "resolvers return errors and warnings, the caller logs"})
}
