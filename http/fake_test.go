package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/crdt"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// fakeBackend is an in-memory, single-replica Backend built on the
// versioning functions: every write is coordinated by one fixed actor. It
// checks quorum options against n_val as the real coordinator does, so a
// request the handler wrongly lets through still fails here, and it records
// calls so that tests can assert a rejected request never reached it.
type fakeBackend struct {
	actor versioning.ActorID

	// mu guards the fields below.
	mu        sync.Mutex
	objects   map[string]map[string]versioning.Clock // bucket → key → clock
	props     map[string]quorum.Props                // set fields only
	types     map[string]crdt.State                  // "bucket/key" → data-type state
	lastRead  quorum.ReadOptions
	lastWrite quorum.WriteOptions
	failWith  error // returned by Get, Put, ListKeys, ListBuckets, Cluster when set
	notReady  error
	clusterJS json.RawMessage
	leaving   bool // Leave was called
	// listFailAfter, if > 0, makes ListKeys fail after that many keys.
	listFailAfter int
	// blockUntilDone makes Get and Put wait for the context to end.
	blockUntilDone bool
	// panicIn makes the named method panic (recover middleware test).
	panicIn string

	calls  atomic.Int64 // Get, Put, ListKeys calls
	writes atomic.Int64 // successful Puts
}

var _ Backend = (*fakeBackend)(nil)

func newFake() *fakeBackend {
	return &fakeBackend{
		actor:     versioning.ActorID(0xd1a2),
		objects:   make(map[string]map[string]versioning.Clock),
		props:     make(map[string]quorum.Props),
		clusterJS: fakeClusterJS(),
	}
}

// fakeClusterJS is the fake's /cluster document, of the type node fills:
// one joined, live member, under-replicated.
func fakeClusterJS() json.RawMessage {
	doc, err := json.Marshal(client.ClusterStatus{
		Node:       "n1",
		Members:    []client.ClusterMember{{Name: "n1", Status: "joined", Liveness: "alive", Settled: []string{"n1"}, PrimaryPartitions: 64}},
		Partitions: 64, Tokens: 32, DefaultNVal: 3, UnderReplicated: true, Steady: true,
		PendingTransfers: []client.Transfer{},
	})
	if err != nil {
		panic(err)
	}
	return doc
}

func (f *fakeBackend) set(fn func(f *fakeBackend)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeBackend) propsLocked(bucket string) quorum.Props {
	return f.props[bucket].WithDefaults(quorum.DefaultProps())
}

// resolve checks one quorum option like the coordinator would.
func resolve(name string, q quorum.Quorum, n int, def quorum.Quorum, min int) error {
	c, err := q.Resolve(n, def)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", quorum.ErrBadRequest, name, err)
	}
	if c < min {
		return fmt.Errorf("%w: %s must be at least %d", quorum.ErrBadRequest, name, min)
	}
	return nil
}

// enter does what every data call does first.
func (f *fakeBackend) enter(ctx context.Context, method string) error {
	f.calls.Add(1)
	f.mu.Lock()
	block, panicIn, fail := f.blockUntilDone, f.panicIn, f.failWith
	f.mu.Unlock()
	if panicIn == method {
		panic("fake backend: " + method)
	}
	if block && (method == "Get" || method == "Put") {
		<-ctx.Done()
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake %s: %w", method, err)
	}
	return fail
}

func (f *fakeBackend) Get(ctx context.Context, bucket, key string, o quorum.ReadOptions) (*quorum.Object, error) {
	if err := f.enter(ctx, "Get"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.propsLocked(bucket)
	if err := resolve("r", o.R, p.NVal, p.R, 1); err != nil {
		return nil, err
	}
	if err := resolve("pr", o.PR, p.NVal, p.PR, 0); err != nil {
		return nil, err
	}
	f.lastRead = o
	c, ok := f.objects[bucket][key]
	if !ok {
		return nil, quorum.ErrNotFound
	}
	return &quorum.Object{Clock: c, Context: versioning.Join(c), Replicas: 1}, nil
}

func (f *fakeBackend) Put(ctx context.Context, bucket, key string, vctx versioning.Context, v versioning.Value, o quorum.WriteOptions) (*quorum.Object, error) {
	if err := f.enter(ctx, "Put"); err != nil {
		return nil, err
	}
	if err := vctx.Validate(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.propsLocked(bucket)
	for _, c := range []struct {
		name   string
		q, def quorum.Quorum
		min    int
	}{{"w", o.W, p.W, 1}, {"pw", o.PW, p.PW, 0}, {"dw", o.DW, p.DW, 0}} {
		if err := resolve(c.name, c.q, p.NVal, c.def, c.min); err != nil {
			return nil, err
		}
	}
	if int64(len(v.Data)) > p.MaxValueBytes {
		return nil, fmt.Errorf("%w: value of %d bytes", quorum.ErrTooLarge, len(v.Data))
	}
	f.lastWrite = o
	next := versioning.Update(versioning.New(vctx, v), f.objects[bucket][key], f.actor)
	if n := len(versioning.Values(next)); n > p.MaxSiblings {
		return nil, fmt.Errorf("%w: %d siblings, max_siblings %d", quorum.ErrTooLarge, n, p.MaxSiblings)
	}
	if f.objects[bucket] == nil {
		f.objects[bucket] = make(map[string]versioning.Clock)
	}
	f.objects[bucket][key] = next
	f.writes.Add(1)
	return &quorum.Object{Clock: next, Context: versioning.Join(next), Replicas: 1}, nil
}

func (f *fakeBackend) ListKeys(ctx context.Context, bucket string, fn func(key string) error) error {
	if err := f.enter(ctx, "ListKeys"); err != nil {
		return err
	}
	f.mu.Lock()
	var keys []string
	for k, c := range f.objects[bucket] {
		if len(versioning.Values(c)) > 0 && !versioning.IsTombstone(c) {
			keys = append(keys, k)
		}
	}
	failAfter := f.listFailAfter
	f.mu.Unlock()
	sort.Strings(keys)
	for i, k := range keys {
		if failAfter > 0 && i == failAfter {
			return &quorum.UnavailableError{Op: "list", Want: 3, Got: 1, Reason: "coverage incomplete"}
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeBackend) ListBuckets(ctx context.Context) ([]string, error) {
	if err := f.enter(ctx, "ListBuckets"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for b := range f.objects {
		out = append(out, b)
	}
	for b := range f.props {
		if _, ok := f.objects[b]; !ok {
			out = append(out, b)
		}
	}
	return out, nil
}

func (f *fakeBackend) BucketProps(bucket string) quorum.Props {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicIn == "BucketProps" {
		panic("fake backend: BucketProps")
	}
	return f.propsLocked(bucket)
}

func (f *fakeBackend) SetBucketProps(bucket string, p quorum.Props) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	merged := p.WithDefaults(f.props[bucket])
	known := func(r string) error {
		if slices.Contains([]string{"siblings", "lww"}, r) {
			return nil
		}
		return fmt.Errorf("unknown resolver %q", r)
	}
	if err := merged.WithDefaults(quorum.DefaultProps()).Validate(known); err != nil {
		return fmt.Errorf("%w: %w", quorum.ErrBadRequest, err)
	}
	f.props[bucket] = merged
	return nil
}

func (f *fakeBackend) ResetBucketProps(bucket string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.props, bucket)
	return nil
}

func (f *fakeBackend) Cluster(ctx context.Context) (json.RawMessage, error) {
	if err := f.enter(ctx, "Cluster"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clusterJS, nil
}

func (f *fakeBackend) Stats(ctx context.Context) (json.RawMessage, error) {
	if err := f.enter(ctx, "Stats"); err != nil {
		return nil, err
	}
	return json.Marshal(client.Stats{Node: "n1", StepSeconds: 1,
		Ops: map[string]client.OpSeries{"get": {Count: []uint64{3}, Errors: []uint64{0}, P50: []float64{1.5}, P99: []float64{4}}}})
}

func (f *fakeBackend) Preflist(bucket, key string) (json.RawMessage, error) {
	return json.Marshal(client.Preflist{
		Bucket: bucket, Key: key, Hash: "0000000000000007", Partition: 7, NVal: 3, Replicas: 1,
		Primaries: []client.PreflistEntry{{Node: "n1", Alive: true}}, Fallbacks: []client.PreflistEntry{},
	})
}

// PBS implements Backend: a document of the node's shape for the bucket,
// with no samples yet.
func (f *fakeBackend) PBS(ctx context.Context, bucket string) (json.RawMessage, error) {
	if err := f.enter(ctx, "PBS"); err != nil {
		return nil, err
	}
	return json.Marshal(client.PBS{Node: "n1", Bucket: bucket, N: 3, R: 2, W: 2, WindowSeconds: 300, Curves: []client.PBSCurve{}})
}

func (f *fakeBackend) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notReady
}

func (f *fakeBackend) DefaultTimeout() time.Duration { return 5 * time.Second }

// size is the number of keys stored.
func (f *fakeBackend) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, b := range f.objects {
		n += len(b)
	}
	return n
}

// reset forgets every object.
func (f *fakeBackend) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects = make(map[string]map[string]versioning.Clock)
	f.props = make(map[string]quorum.Props)
}

// Find implements Backend: it echoes the query so tests can check parsing.
func (f *fakeBackend) Find(_ context.Context, what string, q FindQuery) (json.RawMessage, error) {
	if what != "siblings" && what != "large" && what != "tombstones" {
		return nil, fmt.Errorf("%w: unknown finder %q", quorum.ErrBadRequest, what)
	}
	f.calls.Add(1)
	return json.Marshal(map[string]any{"what": what, "min": q.Min, "bytes": q.Bytes, "partition": q.Partition, "limit": q.Limit})
}

// Leave implements Backend: the fake records the call.
func (f *fakeBackend) Leave() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaving = true
	return nil
}

// Remove implements Backend: "dead" is removable, "alive" is alive, any
// other name is unknown.
func (f *fakeBackend) Remove(name string) error {
	switch name {
	case "dead":
		return nil
	case "alive":
		return fmt.Errorf("%w: member is alive", ErrConflict)
	}
	return fmt.Errorf("%w: unknown member %q", quorum.ErrBadRequest, name)
}

func (f *fakeBackend) GetType(ctx context.Context, bucket, key string, o quorum.ReadOptions) (crdt.State, error) {
	if err := f.enter(ctx, "Get"); err != nil {
		return crdt.State{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.propsLocked(bucket).Type()
	if t == 0 {
		return crdt.State{}, fmt.Errorf("%w: no datatype", quorum.ErrConflict)
	}
	s, ok := f.types[bucket+"/"+key]
	if !ok {
		return crdt.State{}, quorum.ErrNotFound
	}
	return s, nil
}

func (f *fakeBackend) UpdateType(ctx context.Context, bucket, key string, op crdt.Op, o quorum.WriteOptions) (crdt.State, error) {
	if err := f.enter(ctx, "Put"); err != nil {
		return crdt.State{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.propsLocked(bucket).Type()
	if t == 0 || op.Type != t {
		return crdt.State{}, fmt.Errorf("%w: datatype %v", quorum.ErrConflict, t)
	}
	s, ok := f.types[bucket+"/"+key]
	if !ok {
		s = crdt.New(t)
	}
	next, err := crdt.Apply(s, op, f.actor, 1)
	switch {
	case errors.Is(err, crdt.ErrNoContext), errors.Is(err, crdt.ErrNotSeen):
		return crdt.State{}, fmt.Errorf("%w: %w", quorum.ErrPrecondition, err)
	case err != nil:
		return crdt.State{}, fmt.Errorf("%w: %w", quorum.ErrBadRequest, err)
	}
	if f.types == nil {
		f.types = map[string]crdt.State{}
	}
	f.types[bucket+"/"+key] = next
	f.writes.Add(1)
	return next, nil
}
