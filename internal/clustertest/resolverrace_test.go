package clustertest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// TestResolvers_concurrentReadsAnswerOneValue: reads that resolve the same
// siblings at the same time on different coordinators each write the
// merge back; every one of them answers one value (a resolver bucket
// answers 300 only when the resolver itself fails), and the key ends with
// one value.
func TestResolvers_concurrentReadsAnswerOneValue(t *testing.T) {
	for _, resolver := range []string{"lww", "json-set-union"} {
		t.Run(resolver, func(t *testing.T) {
			c := clustertest.Start(t, clustertest.Options{Nodes: 3})
			if err := c.Node("n1").SetBucketProps("r", quorum.Props{Resolver: resolver}); err != nil {
				t.Fatal(err)
			}
			names := c.Names()
			// Each node learns the props when it next refreshes: wait for
			// every one, or a read there returns the siblings unresolved.
			eventually(t, 5*time.Second, func() string {
				for _, n := range names {
					if got := c.Node(n).BucketProps("r").Resolver; got != resolver {
						return n + " does not have the resolver yet: " + got
					}
				}
				return ""
			})
			for i := range 20 {
				key := fmt.Sprintf("k%d", i)
				for j, n := range names { // three blind writes: three siblings
					v := versioning.Value{Data: []byte(fmt.Sprintf(`["v%d"]`, j)), ContentType: "application/json"}
					ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
					_, err := c.Node(n).Put(ctx, "r", key, nil, v, quorum.WriteOptions{W: quorum.All})
					cancel()
					if err != nil {
						t.Fatal(err)
					}
				}
				var wg sync.WaitGroup
				answers := make([]int, len(names))
				for j, n := range names {
					wg.Go(func() {
						ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
						defer cancel()
						obj, err := c.Node(n).Get(ctx, "r", key, quorum.ReadOptions{})
						if err != nil {
							t.Errorf("%s: GET via %s: %v", key, n, err)
							return
						}
						answers[j] = len(versioning.Values(obj.Clock))
						if obj.Warning != "" {
							t.Errorf("%s: GET via %s warned %q", key, n, obj.Warning)
						}
					})
				}
				wg.Wait()
				for j, a := range answers {
					if a != 1 {
						t.Errorf("%s: GET via %s answered %d values, want 1", key, names[j], a)
					}
				}
			}
		})
	}
}
