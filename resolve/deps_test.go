package resolve

import (
	"os/exec"
	"strings"
	"testing"
)

// The resolvers sit beside versioning: they may use it, and nothing else of
// dynamod's (docs/design.md, "Packages and their imports": dependencies
// point one way).
func TestDeps_onlyVersioning(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	imports := strings.Fields(string(out))
	if len(imports) == 0 {
		t.Fatal("go list printed no imports")
	}
	for _, imp := range imports {
		if strings.HasPrefix(imp, "github.com/dynamod/dynamod/") && imp != "github.com/dynamod/dynamod/versioning" {
			t.Errorf("imports %s: only versioning is allowed", imp)
		}
		if imp == "log" || imp == "log/slog" {
			t.Errorf("imports %s: resolvers return errors and warnings, the caller logs", imp)
		}
	}
}
