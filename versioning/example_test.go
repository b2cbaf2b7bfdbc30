package versioning_test

import (
	"fmt"

	"github.com/dynamod/dynamod/versioning"
)

// Two clients write with the same stale context and leave two siblings; a
// write with the joined context resolves them.
func Example() {
	const coordinator = versioning.ActorID(0xa)
	val := func(s string) versioning.Value { return versioning.Value{Data: []byte(s)} }

	var stored versioning.Clock
	stored = versioning.Update(versioning.New(nil, val("x")), stored, coordinator)
	ctx := versioning.Join(stored) // both clients read x

	stored = versioning.Update(versioning.New(ctx, val("y1")), stored, coordinator)
	stored = versioning.Update(versioning.New(ctx, val("y2")), stored, coordinator)
	for _, s := range versioning.Siblings(stored) {
		fmt.Printf("%s %s\n", s.ID, s.Value.Data)
	}

	stored = versioning.Update(versioning.New(versioning.Join(stored), val("z")), stored, coordinator)
	fmt.Println(stored.Len(), "value, context", versioning.Join(stored).Encode())
	// Output:
	// a-3 y2
	// a-2 y1
	// 1 value, context AQAAAAAAAAAKBA
}
