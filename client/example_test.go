package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/client/clienttest"
)

// Reading returns a context; writing it back makes the write supersede what
// was read. Two writers with the same context leave two siblings, which the
// next reader resolves.
func Example_contexts() {
	// Against a cluster: client.New([]string{"http://10.0.0.1:7070", "http://10.0.0.2:7070"}).
	srv := httptest.NewServer(clienttest.NewFake())
	defer srv.Close()
	c, err := client.New([]string{srv.URL})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	if _, err := c.Put(ctx, "users", "alice", "", []byte("alice@old.example"), nil); err != nil {
		log.Fatal(err)
	}
	o, err := c.Get(ctx, "users", "alice", nil)
	if err != nil {
		log.Fatal(err)
	}
	v, _ := o.Value()
	fmt.Printf("read %s\n", v)

	// Two clients update from the same read, unaware of each other.
	for _, email := range []string{"alice@new.example", "alice@work.example"} {
		if _, err := c.Put(ctx, "users", "alice", o.Context, []byte(email), nil); err != nil {
			log.Fatal(err)
		}
	}
	o, err = c.Get(ctx, "users", "alice", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d siblings\n", len(o.Siblings))

	// Resolve (here: keep every address, sorted) and write back with the
	// siblings' context.
	var emails []string
	for _, v := range o.Values() {
		emails = append(emails, string(v))
	}
	slices.Sort(emails)
	merged := []byte(strings.Join(emails, ","))
	if _, err := c.Put(ctx, "users", "alice", o.Context, merged, nil); err != nil {
		log.Fatal(err)
	}
	o, err = c.Get(ctx, "users", "alice", nil)
	if err != nil {
		log.Fatal(err)
	}
	v, ok := o.Value()
	fmt.Printf("resolved: %s %v\n", v, ok)
	// Output:
	// read alice@old.example
	// 2 siblings
	// resolved: alice@new.example,alice@work.example true
}

// A shopping cart is a JSON set of items. Concurrent additions become
// siblings; the resolver merges them by union, so no addition is lost.
func ExampleClient_Update() {
	srv := httptest.NewServer(clienttest.NewFake())
	defer srv.Close()
	c, err := client.New([]string{srv.URL})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Union of JSON arrays as sets, sorted so every resolver agrees.
	union := func(siblings [][]byte) []byte {
		var all []string
		for _, s := range siblings {
			var items []string
			if json.Unmarshal(s, &items) == nil { // skip anything that is not a cart
				all = append(all, items...)
			}
		}
		slices.Sort(all)
		b, _ := json.Marshal(slices.Compact(all))
		return b
	}
	add := func(item string) func([]byte, bool) ([]byte, error) {
		return func(cart []byte, exists bool) ([]byte, error) {
			var items []string
			if exists {
				if err := json.Unmarshal(cart, &items); err != nil {
					return nil, fmt.Errorf("cart: %w", err)
				}
			}
			b, err := json.Marshal(append(items, item))
			return union([][]byte{b}), err
		}
	}

	// Two devices add items without reading first: two siblings.
	opts := &client.WriteOptions{ContentType: "application/json"}
	for _, cart := range []string{`["apple","pear"]`, `["fig"]`} {
		if _, err := c.Put(ctx, "carts", "alice", "", []byte(cart), opts); err != nil {
			log.Fatal(err)
		}
	}
	// Update merges them, adds one more item and writes with the context.
	if err := c.Update(ctx, "carts", "alice", union, add("kiwi"), nil); err != nil {
		log.Fatal(err)
	}
	o, err := c.Get(ctx, "carts", "alice", nil)
	if err != nil {
		log.Fatal(err)
	}
	v, _ := o.Value()
	fmt.Printf("%s (%d sibling, %s)\n", v, len(o.Siblings), o.Siblings[0].ContentType)
	// Output:
	// ["apple","fig","kiwi","pear"] (1 sibling, application/json)
}
