package gossip

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: gossip imports only the pure ownership (to validate the extra
// partitions it carries), the jitter helper and the goroutine group; node
// consumes it through its Membership interface.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.Imports(t), "ownership", "internal/jitter", "internal/lifetime")
}
