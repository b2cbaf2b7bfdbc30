package clustertest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/ring"
)

func ringHash(bucket, key string) uint64 { return ring.Hash(bucket, key) }

// exchangeWith waits until every node has built its anti-entropy trees,
// then runs one exchange from node with each of peers.
func exchangeWith(t *testing.T, c *clustertest.Cluster, node string, peers ...string) {
	t.Helper()
	waitFor(t, 10*time.Second, func() string {
		for _, n := range c.Names() {
			if st := c.Node(n).AntiEntropy().Status(); st.Built < st.Partitions {
				return fmt.Sprintf("%s built %d of %d trees", n, st.Built, st.Partitions)
			}
		}
		return ""
	})
	for _, peer := range peers {
		if _, err := c.Node(node).AntiEntropy().ExchangePeer(t.Context(), peer); err != nil {
			t.Fatalf("exchange %s-%s: %v", node, peer, err)
		}
	}
}
