package ownership

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDepsStayPure keeps the package pure: the standard library and ring
// only, and nothing that does I/O, keeps time, draws randomness, runs
// goroutines or logs. Only non-test imports count.
func TestDepsStayPure(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if len(imports) == 0 {
		t.Fatal("go list reported no imports; the check would pass vacuously")
	}
	banned := []struct{ prefix, why string }{ // each also bans its subpackages
		{"net", "no I/O in the core"},
		{"os", "no I/O in the core"},
		{"syscall", "no I/O in the core"},
		{"log", "return values; the caller logs"},
		{"math/rand", "take randomness as input"},
		{"time", "take time as input; a view is a function of its rings"},
		{"sync", "immutable values need no locks or goroutines"},
		{"github.com/dynamod/dynamod/storage", "pure: no storage"},
		{"github.com/dynamod/dynamod/transport", "pure: no transport"},
		{"github.com/dynamod/dynamod/gossip", "pure: no gossip"},
		{"github.com/dynamod/dynamod/quorum", "pure: quorum consumes ownership"},
	}
	for _, imp := range imports {
		for _, b := range banned {
			if imp == b.prefix || strings.HasPrefix(imp, strings.TrimSuffix(b.prefix, "/")+"/") {
				t.Errorf("imports %s: %s", imp, b.why)
			}
		}
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") && imp != "github.com/dynamod/dynamod/ring" {
			t.Errorf("imports %s: only the standard library and ring", imp)
		}
	}
}
