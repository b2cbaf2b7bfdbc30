package ring_test

import (
	"fmt"

	"github.com/dynamod/dynamod/ring"
)

func ExampleRing_Preflist() {
	r, err := ring.New(ring.DefaultConfig(), []string{"node-c", "node-a", "node-b", "node-d", "node-e"})
	if err != nil {
		panic(err)
	}
	p := r.Partition(ring.Hash("users", "alice"))
	fmt.Println("partition", p)
	fmt.Println("primaries", r.Preflist(p, 3))
	fmt.Println("fallbacks", r.Walk(p)[3:])
	// Output:
	// partition 673
	// primaries [node-a node-b node-e]
	// fallbacks [node-d node-c]
}

func ExampleMoved() {
	cfg := ring.DefaultConfig()
	before, _ := ring.New(cfg, []string{"node-a", "node-b", "node-c", "node-d"})
	after, _ := ring.New(cfg, []string{"node-a", "node-b", "node-c", "node-d", "node-e"})
	st := after.Stats(3)
	fmt.Printf("node-e holds %d of %d replicas; %d move\n",
		len(after.Owned("node-e", 3)), st.Replicas, ring.Moved(before, after, 3))
	// Output:
	// node-e holds 611 of 3072 replicas; 611 move
}
