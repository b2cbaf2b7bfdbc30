package transfer

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDepsPointDown keeps transfer a coordination package: it reaches
// peers through its Transport interface and membership through Members,
// and imports neither the I/O adapters nor the layers above it.
func TestDepsPointDown(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if len(imports) == 0 {
		t.Fatal("go list reported no imports; the check would pass vacuously")
	}
	for _, imp := range imports {
		for _, banned := range []string{"gossip", "transport", "http", "node", "quorum", "antientropy", "cmd"} {
			if imp == "github.com/dynamod/dynamod/"+banned || strings.HasPrefix(imp, "github.com/dynamod/dynamod/"+banned+"/") {
				t.Errorf("imports %s: transfer reaches peers and members through its own interfaces", imp)
			}
		}
	}
}
