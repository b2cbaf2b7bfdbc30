package resolve_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/dynamod/dynamod/resolve"
	"github.com/dynamod/dynamod/versioning"
)

// A program that embeds dynamod registers its own resolver by name; bucket
// properties then name it like a built-in.
func ExampleRegistry() {
	reg, err := resolve.NewRegistry()
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	// longest keeps the longest sibling, ties going to the greater bytes: a
	// deterministic merge, whatever the order of the siblings.
	longest := resolve.Func(func(_ context.Context, in resolve.Input) (resolve.Result, error) {
		if len(in.Siblings) == 0 {
			return resolve.Result{}, resolve.ErrNoValue
		}
		best := in.Siblings[0]
		for _, v := range in.Siblings[1:] {
			if len(v.Data) > len(best.Data) || len(v.Data) == len(best.Data) && bytes.Compare(v.Data, best.Data) > 0 {
				best = v
			}
		}
		return resolve.Result{Value: best}, nil
	})
	if err := reg.Register("longest", longest); err != nil {
		panic(err)
	}
	fmt.Println("valid:", reg.Valid("longest"))

	siblings := []versioning.Value{{Data: []byte("short")}, {Data: []byte("much longer")}}
	r, _ := reg.Lookup("longest")
	res, _ := r.Resolve(context.Background(), resolve.Input{Bucket: "notes", Key: "n1", Siblings: siblings})
	fmt.Printf("longest: %s\n", res.Value.Data)

	// A JSON merge keeps siblings it cannot read, and says so.
	r, _ = reg.Lookup("json-set-union")
	siblings = append(siblings, versioning.Value{Data: []byte(`["x"]`)}, versioning.Value{Data: []byte(`["y","x"]`)})
	res, _ = r.Resolve(context.Background(), resolve.Input{Bucket: "notes", Key: "n1", Siblings: siblings})
	fmt.Printf("union: %s, %d kept as siblings (%s)\n", res.Value.Data, len(res.Invalid), res.Warning)

	r, err = reg.Lookup("siblings")
	fmt.Println("siblings:", r == nil, err)
	_, err = reg.Lookup("no-such-resolver")
	fmt.Println("unknown:", errors.Is(err, resolve.ErrUnknown))
	// Output:
	// valid: <nil>
	// longest: much longer
	// union: ["x","y"], 2 kept as siblings (json-set-union: 2 siblings are not a JSON array; kept as siblings)
	// siblings: true <nil>
	// unknown: true
}

// The shopping cart: Alice and Bob read the same cart and add an item each,
// concurrently, so the store keeps both carts as siblings. A json-set-union
// bucket merges them on read; nothing either of them added is lost.
func ExampleSetUnion() {
	// Both read the cart ["milk"], then:
	alice := []byte(`["milk", "eggs"]`)        // Alice adds eggs
	bob := []byte(`["bread", "milk", "milk"]`) // Bob adds bread, sloppily
	cart, err := resolve.SetUnion([][]byte{alice, bob})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", cart)
	// Output: ["bread","eggs","milk"]
}

// A page-view counter written by two web servers.
func ExampleCounterSum() {
	var c []byte
	c, _ = resolve.CounterAdd(c, "web-1", 3) // web-1 counts 3 views
	base := c
	x, _ := resolve.CounterAdd(base, "web-1", 1) // concurrently: web-1 one more,
	y, _ := resolve.CounterAdd(base, "web-2", 5) // web-2 five
	merged, _ := resolve.MergeCounters([][]byte{x, y})
	total, _ := resolve.CounterSum(merged)
	fmt.Printf("%s = %d\n", merged, total)
	// Output: {"web-1":4,"web-2":5} = 9
}

func ExampleMergeObjects() {
	merged, _ := resolve.MergeObjects([][]byte{
		[]byte(`{"name": "Alice", "address": {"city": "Lyon"}, "plan": "free"}`),
		[]byte(`{"name": "Alice", "address": {"zip": "69001"}, "plan": "pro"}`),
	})
	fmt.Printf("%s\n", merged)
	// Output: {"address":{"city":"Lyon","zip":"69001"},"name":"Alice","plan":{"_siblings":["free","pro"]}}
}
