package versioning

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDepsStayPure keeps the package pure: no I/O, clock, randomness,
// goroutine machinery or logging, and no other dynamod package.
func TestDepsStayPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]string{
		"net":          "no I/O in the core",
		"os":           "no I/O in the core",
		"log/slog":     "return values; the caller logs",
		"math/rand":    "take randomness as input",
		"math/rand/v2": "take randomness as input",
		"time":         "time comes in as an argument",
		"sync":         "pure values need no locks",
	}
	imports := strings.Fields(string(out))
	if len(imports) == 0 {
		t.Fatal("go list reported no imports; the check would pass vacuously")
	}
	for _, imp := range imports {
		if why, ok := banned[imp]; ok {
			t.Errorf("imports %s: %s", imp, why)
		}
		if strings.HasPrefix(imp, "github.com/dynamod/") {
			t.Errorf("imports %s: the pure core imports no other dynamod package", imp)
		}
	}
}
