package quorum

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// TestPut_forwardedValuesCheckedFirst: a forwarded write carrying more
// values than max_siblings is refused before any work under the key's
// lock (it used to run a quadratic loop first), and changes nothing.
func TestPut_forwardedValuesCheckedFirst(t *testing.T) {
	c := newSoloCoordinator(t)
	k := storage.Key{Hash: ring.Hash("b", "k"), Bucket: "b", Key: "k"}
	cl := versioning.Clock{}
	for i := range 10000 {
		cl.Anon = append(cl.Anon, versioning.Value{Data: fmt.Appendf(nil, "v%d", i), LastModified: 1})
	}
	body := (&coordMsg{key: k, client: cl}).encode()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	b, err := c.Serve(ctx, "peer", KindCoordinate, body)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	_, err = decodeCoordReply(b)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a forwarded write of %d values: %v, want ErrTooLarge", len(cl.Anon), err)
	}
	if took > time.Second {
		t.Errorf("refusing %d values took %v: the count must be checked before any work", len(cl.Anon), took)
	}
	if _, found, err := c.ReadLocal(k); found || err != nil {
		t.Fatalf("the refused write left a local copy (%v)", err)
	}
	// At the limit, the write is taken.
	cl.Anon = cl.Anon[:DefaultProps().MaxSiblings]
	b, _ = c.Serve(ctx, "peer", KindCoordinate, (&coordMsg{key: k, client: cl}).encode())
	if _, err := decodeCoordReply(b); err != nil {
		t.Fatalf("a forwarded write of max_siblings values: %v", err)
	}
}

// TestPut_exhaustedCounterIsNoSilentNoop: a context whose counter for the
// coordinator's actor is 2^64-1 used to make the write a no-op answered
// as a success. The write stores its value (under a fresh actor) or, if
// no actor has room, answers an error.
func TestPut_exhaustedCounterIsNoSilentNoop(t *testing.T) {
	c := newSoloCoordinator(t)
	ctx := t.Context()
	if _, err := c.Put(ctx, "b", "k", nil, versioning.Value{Data: []byte("v1")}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	k := storage.Key{Hash: ring.Hash("b", "k"), Bucket: "b", Key: "k"}
	local, _, err := c.ReadLocal(k)
	if err != nil || len(local.Entries) != 1 {
		t.Fatalf("local state %+v, %v", local, err)
	}
	actor := local.Entries[0].Actor
	forged := versioning.Context{{Actor: actor, Counter: math.MaxUint64}}
	obj, err := c.Put(ctx, "b", "k", forged, versioning.Value{Data: []byte("v2")}, WriteOptions{})
	if err != nil {
		t.Fatalf("write with an exhausted counter: %v, want it stored under a fresh actor", err)
	}
	after, _, _ := c.ReadLocal(k)
	if vs := versioning.Values(after); len(vs) != 1 || string(vs[0].Data) != "v2" {
		t.Fatalf("after an acknowledged write of v2 the key holds %v (answer %v)", vs, versioning.Values(obj.Clock))
	}
	// A context that exhausts the fresh actor too gets an error.
	c.actors.mu.Lock()
	next := versioning.ActorID(c.actors.prefix<<epochBits | c.actors.next)
	c.actors.mu.Unlock()
	cur, _, _ := c.ReadLocal(k)
	reused := cur.Entries[len(cur.Entries)-1].Actor
	both := versioning.Context{{Actor: reused, Counter: math.MaxUint64}, {Actor: next, Counter: math.MaxUint64}}
	if reused >= next {
		t.Fatalf("reused actor %x is not below the next fresh one %x", reused, next)
	}
	_, err = c.Put(ctx, "b", "k", both, versioning.Value{Data: []byte("v3")}, WriteOptions{})
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("write whose context exhausts every actor it could use: %v, want ErrBadRequest", err)
	}
	if vs := versioning.Values(mustRead(t, c, k)); len(vs) != 1 || string(vs[0].Data) != "v2" {
		t.Fatalf("the refused write changed the key: %v", vs)
	}
}

func mustRead(t *testing.T, c *Coordinator, k storage.Key) versioning.Clock {
	t.Helper()
	cl, found, err := c.ReadLocal(k)
	if err != nil || !found {
		t.Fatalf("read %s: found %v, %v", k.Key, found, err)
	}
	return cl
}
