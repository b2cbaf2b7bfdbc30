package transfer

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDepsPointDown keeps transfer a coordination package: it reaches
// peers through its Transport interface and membership through Members,
// and imports neither the I/O adapters nor the layers above it.
func TestDepsPointDown(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps, "ownership", "storage", "versioning", "internal/wire", "internal/ratelimit")
	depstest.ThirdParty(t, imps, "github.com/prometheus/client_golang")
	depstest.NotCalled(t, "transfer uses the node's store, it never opens one", "storage.OpenLevelDB", "storage.NewMemory", "storage.NewStore")
}
