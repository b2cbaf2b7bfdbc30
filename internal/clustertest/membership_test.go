package clustertest

// Membership scenarios: members join, leave and are removed while clients
// read and write. Reads of keys every primary acknowledged must never come
// back not found, no acknowledged write may be lost, and once the cluster
// is steady every key must be on exactly the primaries of the new ring.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/node"
	"github.com/dynamod/dynamod/ownership"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transfer"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

const (
	// memBucket holds the keys written once with w=all before the change.
	memBucket = "m"
	memKeys   = 300
	// memMaxReads and memLoadFor bound the readers and the workload.
	memMaxReads = 20000
	memLoadFor  = 50 * time.Second
	// memWaitFor bounds each wait for a membership step.
	memWaitFor = 30 * time.Second
	memNVal    = 3
	// memReleaseDelay keeps old holders standing in for a while after the
	// new owners settled, so that reads meet both.
	memReleaseDelay = time.Second
	// memReplicaTimeout replaces the harness's 500 ms: every node is up in
	// these scenarios (a killed one fails calls at once), and under -race
	// on a loaded machine a w=all write of the set-up once had a replica
	// call run past 500 ms ("2 of 3 replicas answered" with all up).
	memReplicaTimeout = 2 * time.Second
	// memStallFor is how long a change is held half done (memStall).
	memStallFor = time.Second
	// memRounds bounds the workload's rounds of 100 operations.
	memRounds = 500
)

// TestMembership_joinUnderLoad: two nodes join a cluster of three at once
// while clients read and write. Transfers are held back for a second, so
// that the load meets the joiners while they are pending.
func TestMembership_joinUnderLoad(t *testing.T) {
	seed := Seed(t)
	c := Start(t, Options{Nodes: 3, Seed: seed, ReleaseDelay: memReleaseDelay, ReplicaTimeout: memReplicaTimeout})
	vals, keys := memWriteKeys(t, c, seed, memKeys)
	l := memStartLoad(t, c, seed, vals, keys)
	l.waitReads(t, 100)

	stall := memStallTransfers(c)
	l.setPhase("joining")
	start := time.Now()
	var joined [2]string
	var wg sync.WaitGroup
	for i := range joined {
		wg.Go(func() { joined[i] = c.Join() })
	}
	wg.Wait()
	stall.hold(t, l, func() bool {
		for _, n := range joined {
			if st, _ := c.Status(n); st != "joining" {
				return false
			}
		}
		return true
	})
	let := time.Now()
	settle := memWait(t, c, l, let, "the joined nodes to settle", func() string {
		for _, n := range joined {
			if st, ok := c.Status(n); st != "joined" || !ok {
				return fmt.Sprintf("%s is %s, settled at the target: %v", n, st, ok)
			}
		}
		return ""
	})
	steady := memWait(t, c, l, start, "steady", memSteady(c))
	l.setPhase("steady")
	l.waitReads(t, l.reads.Load()+100)
	h := l.stopLoad()

	t.Logf("join of %v with %d+%d keys: settled %v after transfers were let go, steady %v after the join (%v of it held back)",
		joined, len(keys), memKeysOf(h), settle.Round(time.Millisecond), steady.Round(time.Millisecond), let.Sub(start).Round(time.Millisecond))
	memLogTransfers(t, c, c.Names())
	l.require(t)
	memRequireWorkload(t, c, h)
	memRequirePlacement(t, c, vals, keys)
	memLogClocks(t, c, vals, keys, h)
}

// TestMembership_leaveUnderLoad: one node of four leaves while clients
// read and write (transfers held back for a second), then its process
// stops.
func TestMembership_leaveUnderLoad(t *testing.T) {
	seed := Seed(t)
	c := Start(t, Options{Nodes: 4, Seed: seed, ReleaseDelay: memReleaseDelay, ReplicaTimeout: memReplicaTimeout})
	vals, keys := memWriteKeys(t, c, seed, memKeys)
	l := memStartLoad(t, c, seed, vals, keys)
	l.waitReads(t, 100)

	stall := memStallTransfers(c)
	l.setPhase("leaving")
	n2 := c.Node("n2")
	start := time.Now()
	if err := n2.Leave(); err != nil {
		t.Fatalf("leave: %v", err)
	}
	stall.hold(t, l, func() bool { st, _ := c.Status("n2"); return st == "leaving" })
	let := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), memWaitFor)
	select {
	case <-n2.Left():
	case <-ctx.Done():
		cancel()
		t.Fatalf("n2 did not leave within %v; members: %s; %s", memWaitFor, memMembers(c), l.counts())
	}
	cancel()
	left := time.Since(let)
	if st, _ := c.Status("n2"); st != "left" {
		t.Fatalf("n2 is %s once Left is closed, want left", st)
	}
	c.Crash("n2") // the process exits
	l.setPhase("left")
	steady := memWait(t, c, l, start, "steady", memSteady(c))
	l.setPhase("steady")
	l.waitReads(t, l.reads.Load()+100)
	h := l.stopLoad()

	if st, _ := c.Status("n2"); st != "left" {
		t.Errorf("n2 is %s, want left", st)
	}
	if slices.Contains(c.Ring().Members(), "n2") {
		t.Errorf("n2 still in the ring %v", c.Ring().Members())
	}
	t.Logf("leave of n2 with %d+%d keys: left %v after transfers were let go, steady %v after Leave (%v of it held back)",
		len(keys), memKeysOf(h), left.Round(time.Millisecond), steady.Round(time.Millisecond), let.Sub(start).Round(time.Millisecond))
	memLogTransfers(t, c, c.Names(), n2)
	l.require(t)
	memRequireWorkload(t, c, h)
	memRequirePlacement(t, c, vals, keys)
	memLogClocks(t, c, vals, keys, h)
}

// TestMembership_removeDeadNode: a crashed node of four is removed while
// clients read and write (transfers held back for a second); its
// partitions are rebuilt from the surviving replicas. Removing a live or
// an unknown member fails and changes nothing.
func TestMembership_removeDeadNode(t *testing.T) {
	seed := Seed(t)
	c := Start(t, Options{Nodes: 4, Seed: seed, ReleaseDelay: memReleaseDelay, ReplicaTimeout: memReplicaTimeout})
	vals, keys := memWriteKeys(t, c, seed, memKeys)
	l := memStartLoad(t, c, seed, vals, keys)
	l.waitReads(t, 100)

	// n4's fallbacks will answer r=1 reads, empty, as notfound_ok allows:
	// no more r=1 reads, and let the ones already chosen finish first.
	l.noR1.Store(true)
	l.waitReads(t, l.reads.Load()+100)
	l.setPhase("n4 crashed")
	c.Crash("n4")
	l.waitReads(t, l.reads.Load()+100)
	n1 := c.Node("n1")
	before := memStatuses(c)
	err := n1.Remove("n2")
	if !errors.Is(err, node.ErrMemberAlive) {
		t.Errorf("Remove(alive n2) = %v, want ErrMemberAlive", err)
	}
	if after := memStatuses(c); after != before {
		t.Errorf("Remove(alive n2) changed the members: %s, was %s", after, before)
	}
	err = n1.Remove("nope")
	if !errors.Is(err, node.ErrUnknownMember) {
		t.Errorf("Remove(nope) = %v, want ErrUnknownMember", err)
	}
	if after := memStatuses(c); after != before {
		t.Errorf("Remove(nope) changed the members: %s, was %s", after, before)
	}
	if !c.Steady() {
		t.Errorf("a crash or a failed remove made the cluster unsteady: %s", memMembers(c))
	}

	stall := memStallTransfers(c)
	l.setPhase("removing")
	start := time.Now()
	if err := n1.Remove("n4"); err != nil {
		t.Fatalf("Remove(dead n4): %v", err)
	}
	if st, _ := c.Status("n4"); st != "removed" {
		t.Fatalf("n4 is %s after Remove, want removed", st)
	}
	// Once every node's view has n4 out of the ring, no fallback stands
	// in for it: r=1 reads must find every key again.
	memWait(t, c, l, start, "every view without n4", func() string {
		for _, name := range c.running() {
			if got := memMetric(c.Node(name), "dynamod_ring_members"); got != 3 {
				return fmt.Sprintf("%s has %.0f members in its ring", name, got)
			}
		}
		return ""
	})
	l.noR1.Store(false)
	stall.hold(t, l, func() bool { return !c.Steady() })
	let := time.Now()
	steady := memWait(t, c, l, let, "steady", memSteady(c))
	l.setPhase("steady")
	l.waitReads(t, l.reads.Load()+100)
	h := l.stopLoad()

	t.Logf("removal of n4 with %d+%d keys: steady %v after transfers were let go (held back %v)",
		len(keys), memKeysOf(h), steady.Round(time.Millisecond), let.Sub(start).Round(time.Millisecond))
	memLogTransfers(t, c, []string{"n1", "n2", "n3"})
	time.Sleep(500 * time.Millisecond) // ten handoff rounds
	memLogHints(t, c)
	l.require(t)
	memRequireWorkload(t, c, h)
	memRequirePlacement(t, c, vals, keys)
	memLogClocks(t, c, vals, keys, h)
}

// TestMembership_restartDuringJoin: a joining node crashes while it is
// receiving partitions and restarts; it resumes, settles, and the cluster
// ends steady with every key on its primaries.
func TestMembership_restartDuringJoin(t *testing.T) {
	seed := Seed(t)
	c := Start(t, Options{Nodes: 3, Seed: seed, ReleaseDelay: memReleaseDelay, ReplicaTimeout: memReplicaTimeout})
	vals, keys := memWriteKeys(t, c, seed, memKeys)
	l := memStartLoad(t, c, seed, vals, keys)
	l.waitReads(t, 100)

	// Let the joining node make only its first few page requests, so that
	// it crashes with some partitions received and others not.
	const allow = 3
	var gate atomic.Bool
	var asked atomic.Int64
	gate.Store(true)
	c.Net.Hook(func(m *transport.Msg) bool {
		if m.Kind != transfer.KindPage || m.Response || m.From != "n4" || !gate.Load() {
			return true
		}
		return asked.Add(1) <= allow
	})
	l.setPhase("joining")
	start := time.Now()
	name := c.Join()
	if name != "n4" {
		t.Fatalf("joined %s, want n4", name)
	}
	n4 := c.Node(name)
	memWait(t, c, l, start, "n4 to receive some keys and stall", func() string {
		if got := memCounter(n4, "dynamod_transfer_keys_total"); got == 0 || asked.Load() <= allow {
			return fmt.Sprintf("n4 received %.0f keys in %d page requests", got, min(asked.Load(), allow))
		}
		return ""
	})
	if st, ok := c.Status(name); st != "joining" || ok {
		t.Fatalf("n4 is %s (settled %v) before the crash: the transfer was not held back", st, ok)
	}
	before := memCounter(n4, "dynamod_transfer_keys_total")
	c.Crash(name)
	l.setPhase("joiner crashed")
	l.waitReads(t, l.reads.Load()+100)
	c.Restart(name)
	gate.Store(false)
	l.setPhase("joiner restarted")
	settle := memWait(t, c, l, start, "n4 to settle", func() string {
		if st, ok := c.Status(name); st != "joined" || !ok {
			return fmt.Sprintf("n4 is %s, settled at the target: %v", st, ok)
		}
		return ""
	})
	after := memCounter(c.Node(name), "dynamod_transfer_keys_total")
	steady := memWait(t, c, l, start, "steady", memSteady(c))
	l.setPhase("steady")
	l.waitReads(t, l.reads.Load()+100)
	h := l.stopLoad()

	t.Logf("join of n4 with a crash after %.0f keys received: settled in %v after %.0f more keys (pulls and verification), steady in %v",
		before, settle.Round(time.Millisecond), after, steady.Round(time.Millisecond))
	memLogTransfers(t, c, c.Names())
	l.require(t)
	memRequireWorkload(t, c, h)
	memRequirePlacement(t, c, vals, keys)
	memLogClocks(t, c, vals, keys, h)
}

// memStall holds partition transfers back: while on, every page request is
// lost, so a membership change stays half done for as long as a test
// wants reads and writes to meet it.
type memStall struct{ on atomic.Bool }

func memStallTransfers(c *Cluster) *memStall {
	s := &memStall{}
	s.on.Store(true)
	c.Net.Hook(func(m *transport.Msg) bool { return !(s.on.Load() && m.Kind == transfer.KindPage) })
	return s
}

// hold keeps transfers stalled for memStallFor, requiring during it that
// the change is still half done (inFlight), and while the readers make at
// least 200 reads; then it lets transfers go.
func (s *memStall) hold(t *testing.T, l *memLoad, inFlight func() bool) {
	t.Helper()
	defer s.on.Store(false)
	end := time.Now().Add(memStallFor)
	reads := l.reads.Load() + 200
	for time.Now().Before(end) || l.reads.Load() < reads {
		if !inFlight() {
			t.Fatalf("the change completed while transfers were stalled; members: %s", memMembers(l.c))
		}
		if time.Now().After(end.Add(10 * time.Second)) {
			t.Fatalf("readers stuck while transfers were stalled: %s", l.counts())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memWriteKeys writes n keys of memBucket once each with w=all, from every
// node in turn, four at a time.
func memWriteKeys(t *testing.T, c *Cluster, seed uint64, n int) (map[string]string, []string) {
	t.Helper()
	vals := make(map[string]string, n)
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("key%03d", i)
		vals[keys[i]] = fmt.Sprintf("v%x-%d", seed, i)
	}
	names := c.running()
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				name := names[i%len(names)]
				ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
				_, err := c.Node(name).Put(ctx, memBucket, keys[i], nil, versioning.Value{Data: []byte(vals[keys[i]])}, quorum.WriteOptions{W: quorum.All})
				cancel()
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("put %s via %s, w=all: %w", keys[i], name, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d writes failed with every node up; first: %v", len(errs), n, errs[0])
	}
	return vals, keys
}

// memLoad is the client load of a scenario: readers of the keys written
// with w=all and a read-then-write workload on other keys.
type memLoad struct {
	c      *Cluster
	vals   map[string]string
	keys   []string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	hists  []*History // the workload's rounds; read after wg.Wait
	start  time.Time

	phase                          atomic.Pointer[string]
	noR1                           atomic.Bool // no r=1 reads
	reads, notFound, wrong, failed atomic.Int64
	mu                             sync.Mutex
	anomalies                      []string // the first few, for the report
	timeline                       []string // membership states, for the report
}

func memStartLoad(t *testing.T, c *Cluster, seed uint64, vals map[string]string, keys []string) *memLoad {
	ctx, cancel := context.WithTimeout(t.Context(), memLoadFor)
	l := &memLoad{c: c, vals: vals, keys: keys, cancel: cancel, start: time.Now()}
	l.setPhase("before")
	for r := range 4 {
		rng := rand.New(rand.NewPCG(seed, 100+uint64(r)))
		l.wg.Go(func() { l.read(ctx, rng) })
	}
	l.wg.Go(func() {
		// Rounds of a short workload, each with its own seed (its values
		// are unique), until the load stops.
		for i := range memRounds {
			h := c.RunWorkload(ctx, Workload{Bucket: "w", Keys: 40, Ops: 100, Clients: 2, Seed: seed ^ uint64(0x5eed0000+i)})
			l.hists = append(l.hists, h)
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	l.wg.Go(func() { l.watch(ctx) })
	t.Cleanup(func() {
		l.stopLoad()
		if t.Failed() {
			t.Logf("membership timeline:\n%s", strings.Join(l.timeline, "\n"))
		}
	})
	return l
}

// watch records every distinct state of the membership, for the report.
func (l *memLoad) watch(ctx context.Context) {
	start := time.Now()
	last := ""
	for ctx.Err() == nil {
		if s := memMembers(l.c); s != last {
			last = s
			l.mu.Lock()
			if len(l.timeline) < 100 {
				l.timeline = append(l.timeline, fmt.Sprintf("%8v %s", time.Since(start).Round(time.Millisecond), s))
			}
			l.mu.Unlock()
		}
		time.Sleep(time.Millisecond)
	}
}

func (l *memLoad) setPhase(p string) { l.phase.Store(&p) }

// read reads random keys from random running nodes until ctx ends or the
// readers made memMaxReads reads.
func (l *memLoad) read(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil && l.reads.Load() < memMaxReads {
		names := l.c.running()
		if len(names) == 0 {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		name := names[rng.IntN(len(names))]
		n := l.c.Node(name)
		if n == nil {
			continue
		}
		k := l.keys[rng.IntN(len(l.keys))]
		phase := *l.phase.Load()
		at := time.Now()
		// Half the reads take the bucket's r (a quorum), half r=1, which
		// a single replica that lacks the key would answer not found (so
		// none while a member is down: an empty fallback may answer
		// first, as notfound_ok allows).
		o, r := quorum.ReadOptions{}, "r=quorum"
		if rng.IntN(2) == 0 && !l.noR1.Load() {
			o.R, r = 1, "r=1"
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		obj, err := n.Get(rctx, memBucket, k, o)
		cancel()
		if ctx.Err() != nil {
			return
		}
		l.reads.Add(1)
		switch {
		case err == nil:
			vs := versioning.Values(obj.Clock)
			if len(vs) != 1 || string(vs[0].Data) != l.vals[k] {
				l.wrong.Add(1)
				l.note(fmt.Sprintf("[%s] %s via %s, %s: got %v, want %s", phase, k, name, r, memValues(obj.Clock), l.vals[k]))
			}
		case errors.Is(err, quorum.ErrNotFound):
			l.notFound.Add(1)
			pl, _ := n.Preflist(memBucket, k)
			l.note(fmt.Sprintf("[%s] %s via %s, %s: not found (%v), read from %v to %v; now %s; %s's view: %s; members: %s",
				phase, k, name, r, err, at.Sub(l.start).Round(time.Millisecond), time.Since(l.start).Round(time.Millisecond),
				memWhere(l.c, memBucket, k), name, pl, memMembers(l.c)))
		default:
			l.failed.Add(1)
		}
		time.Sleep(time.Duration(1+rng.IntN(3)) * time.Millisecond)
	}
}

func (l *memLoad) note(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.anomalies) < 10 {
		l.anomalies = append(l.anomalies, s)
	}
}

// waitReads waits until the readers made n reads in all.
func (l *memLoad) waitReads(t *testing.T, n int64) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for l.reads.Load() < n {
		if time.Now().After(end) {
			t.Fatalf("readers stuck: %s", l.counts())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopLoad stops the readers and the workload and returns its histories.
func (l *memLoad) stopLoad() []*History {
	l.once.Do(func() {
		l.cancel()
		l.wg.Wait()
	})
	return l.hists
}

func (l *memLoad) counts() string {
	return fmt.Sprintf("%d reads: %d not found, %d wrong, %d failed", l.reads.Load(), l.notFound.Load(), l.wrong.Load(), l.failed.Load())
}

// require fails the test if a read of an acknowledged key came back not
// found or wrong.
func (l *memLoad) require(t *testing.T) {
	t.Helper()
	t.Logf("readers: %s", l.counts())
	if l.notFound.Load() == 0 && l.wrong.Load() == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.anomalies {
		t.Error(a)
	}
	t.Fatalf("reads of keys written with w=all: %s", l.counts())
}

// memWait polls f (empty: done) for up to memWaitFor and returns the time
// since start; on timeout it fails with the members' state.
func memWait(t *testing.T, c *Cluster, l *memLoad, start time.Time, what string, f func() string) time.Duration {
	t.Helper()
	end := time.Now().Add(memWaitFor)
	for {
		last := f()
		if last == "" {
			return time.Since(start)
		}
		if time.Now().After(end) || t.Context().Err() != nil {
			t.Fatalf("no %s within %v: %s; members: %s; %s", what, memWaitFor, last, memMembers(c), l.counts())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func memSteady(c *Cluster) func() string {
	return func() string {
		if c.Steady() {
			return ""
		}
		return "not steady"
	}
}

// memRequireWorkload checks the workload's acknowledged writes: none lost
// on any node's copy (RequireNoLostWrites), none lost on the members of the
// new ring alone (a left or removed node's storage does not count), and,
// after a read of each key, every primary of the new ring holds its key.
func memRequireWorkload(t *testing.T, c *Cluster, hs []*History) {
	t.Helper()
	if memAcked(hs) == 0 {
		t.Fatal("the workload had no write acknowledged")
	}
	c.RequireNoLostWrites(hs...)
	superseded := map[string]bool{}
	keys := map[string]bool{}
	for _, h := range hs {
		for _, w := range h.Writes {
			keys[w.Key] = true
			for _, s := range w.Seen {
				superseded[s] = true
			}
		}
	}
	members := c.Ring().Members()
	merged := map[string]map[string]bool{}
	lost := 0
	for _, h := range hs {
		for _, w := range h.Acked() {
			if superseded[w.Value] {
				continue
			}
			vals, ok := merged[w.Key]
			if !ok {
				var m versioning.Clock
				for _, n := range members {
					if cl, ok := c.LocalState(n, h.Bucket, w.Key); ok {
						m = versioning.Sync(m, cl)
					}
				}
				vals = memValues(m)
				merged[w.Key] = vals
			}
			if !vals[w.Value] {
				lost++
				if lost <= 10 {
					t.Errorf("acknowledged write %s/%s=%s is on no member of the ring %v; %s", h.Bucket, w.Key, w.Value, members, memWhere(c, h.Bucket, w.Key))
				}
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d acknowledged writes are on no member of the new ring", lost)
	}
	names := c.running()
	sorted := slices.Sorted(maps.Keys(keys))
	for i, k := range sorted {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, _ = c.Node(names[i%len(names)]).Get(ctx, "w", k, quorum.ReadOptions{R: quorum.All})
		cancel()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c.RequireConverged(ctx, "w", sorted)
}

func memKeysOf(hs []*History) int { k, _ := memWrites(hs); return k }

func memAcked(hs []*History) int {
	n := 0
	for _, h := range hs {
		n += len(h.Acked())
	}
	return n
}

func memWrites(hs []*History) (keys, writes int) {
	set := map[string]bool{}
	for _, h := range hs {
		for _, k := range h.Keys() {
			set[k] = true
		}
		writes += len(h.Writes)
	}
	return len(set), writes
}

// memRequirePlacement checks the keys written with w=all once the cluster
// is steady: each is on every primary of the new ring (checked on local
// copies, before any read could repair them), on no other running member,
// and a read with r=all and notfound_ok=false returns it.
func memRequirePlacement(t *testing.T, c *Cluster, vals map[string]string, keys []string) {
	t.Helper()
	r := c.Ring()
	names := c.Names()
	missing, extra := 0, 0
	for _, k := range keys {
		p := r.Partition(hashOf(memBucket, k))
		pl := r.Preflist(p, memNVal)
		for _, n := range pl {
			if cl, ok := c.LocalState(n, memBucket, k); !ok || !memValues(cl)[vals[k]] {
				missing++
				if missing <= 10 {
					t.Errorf("%s (partition %d) is missing on its primary %s; %s", k, p, n, memWhere(c, memBucket, k))
				}
			}
		}
		for _, n := range names {
			if slices.Contains(pl, n) || c.isGone(n) {
				continue
			}
			if _, ok := c.LocalState(n, memBucket, k); ok {
				extra++
				if extra <= 10 {
					t.Errorf("%s (partition %d, primaries %v) is still on %s once steady", k, p, pl, n)
				}
			}
		}
	}
	if extra > 0 {
		// Not fatal: the reads below still tell whether clients see it.
		t.Errorf("once steady: %d copies left on members that are no primaries of them (published as held by nobody, so never released)", extra)
	}
	if missing > 0 {
		t.Fatalf("once steady: %d copies missing on primaries", missing)
	}
	f := false
	running := c.running()
	bad := 0
	for i, k := range keys {
		name := running[i%len(running)]
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		obj, err := c.Node(name).Get(ctx, memBucket, k, quorum.ReadOptions{R: quorum.All, NotFoundOK: &f})
		cancel()
		if err != nil || !memValues(obj.Clock)[vals[k]] {
			bad++
			if bad <= 10 {
				t.Errorf("r=all read of %s via %s: %v, %v", k, name, memObjValues(obj), err)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d r=all reads failed once steady", bad, len(keys))
	}
}

// memLogClocks logs the largest clock (actor entries) and the most values
// of any key.
func memLogClocks(t *testing.T, c *Cluster, vals map[string]string, keys []string, hs []*History) {
	entries, values := 0, 0
	var at string
	check := func(bucket, k string) {
		cl := c.Merged(bucket, k)
		if len(cl.Entries) > entries {
			entries, at = len(cl.Entries), bucket+"/"+k
		}
		values = max(values, cl.Len())
	}
	for _, k := range keys {
		check(memBucket, k)
	}
	wkeys, writes := memWrites(hs)
	for i := range 40 {
		check("w", fmt.Sprintf("k%d", i))
	}
	t.Logf("largest clock: %d entries (%s); most values of a key: %d; workload: %d of %d writes acknowledged on %d keys in %d rounds",
		entries, at, values, memAcked(hs), writes, wkeys, len(hs))
}

// memLogTransfers logs what the named nodes (running ones, and the extra
// ones kept by the caller) received and served by transfers.
func memLogTransfers(t *testing.T, c *Cluster, names []string, extra ...*node.Node) {
	nodes := map[string]*node.Node{}
	for _, name := range names {
		if n := c.Node(name); n != nil {
			nodes[name] = n
		}
	}
	for _, n := range extra {
		nodes[n.Name()] = n
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(nodes)) {
		n := nodes[name]
		mfs, err := n.Gatherer().Gather()
		if err != nil {
			t.Logf("gather %s: %v", name, err)
			continue
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			if !strings.HasPrefix(mf.GetName(), "dynamod_transfer_") {
				continue
			}
			for _, m := range mf.GetMetric() {
				got[strings.TrimPrefix(mf.GetName(), "dynamod_transfer_")] += m.GetCounter().GetValue()
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %.0f keys, %.0f bytes received, %.0f keys served, %.0f settles, %.0f partitions released",
			name, got["keys_total"], got["bytes_total"], got["served_keys_total"], got["settles_total"], got["released_partitions_total"]))
	}
	t.Logf("transfers:\n  %s", strings.Join(parts, "\n  "))
}

// memCounter returns the sum of a node's counter (0 if none).
func memCounter(n *node.Node, name string) float64 { return memMetric(n, name) }

// memMetric returns the sum of a node's counter or gauge (0 if none).
func memMetric(n *node.Node, name string) float64 {
	if n == nil {
		return 0
	}
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		return 0
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// memLogHints logs the hints each running node still keeps, by target.
func memLogHints(t *testing.T, c *Cluster) {
	var parts []string
	for _, name := range c.running() {
		n := c.Node(name)
		if n == nil {
			continue
		}
		by := map[string]int{}
		if err := n.Store().Hints("", func(target string, _ storage.Key) error {
			by[target]++
			return nil
		}); err != nil {
			t.Logf("hints of %s: %v", name, err)
		}
		parts = append(parts, fmt.Sprintf("%s=%d %v", name, n.Store().HintCount(), by))
	}
	t.Logf("hints kept: %s", strings.Join(parts, "; "))
}

func memValues(cl versioning.Clock) map[string]bool {
	out := map[string]bool{}
	for _, v := range versioning.Values(cl) {
		out[string(v.Data)] = true
	}
	return out
}

func memObjValues(o *quorum.Object) []string {
	if o == nil {
		return nil
	}
	var out []string
	for _, v := range versioning.Values(o.Clock) {
		out = append(out, string(v.Data))
	}
	return out
}

// memStatuses returns every member's status, for comparison.
func memStatuses(c *Cluster) string {
	var parts []string
	for _, n := range c.Names() {
		st, ok := c.Status(n)
		parts = append(parts, fmt.Sprintf("%s=%s/%v", n, st, ok))
	}
	return strings.Join(parts, " ")
}

// memMembers describes the membership as the harness publishes it.
func memMembers(c *Cluster) string {
	c.mmu.Lock()
	defer c.mmu.Unlock()
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(c.members)) {
		m := c.members[n]
		parts = append(parts, fmt.Sprintf("%s %s settled=[%s] extra=%q", n, m.Status, strings.Join(m.Settled, ","), m.Extra))
	}
	return strings.Join(parts, "; ")
}

// memWhere describes a key's placement: its partition, where the current
// ownership (as the harness publishes it) serves it, and which nodes hold
// a copy.
func memWhere(c *Cluster, bucket, key string) string {
	target := c.Ring()
	p := target.Partition(hashOf(bucket, key))
	cfg := ring.DefaultConfig()
	cfg.Partitions, cfg.Tokens = c.opts.Partitions, c.opts.Tokens
	held := map[string]ownership.Holding{}
	c.mmu.Lock()
	members := map[string]node.MemberInfo{}
	for n, m := range c.members {
		members[n] = m
	}
	c.mmu.Unlock()
	for n, m := range members {
		if gone(m.Status) {
			continue
		}
		var h ownership.Holding
		if m.Settled != nil {
			if r, err := ring.New(cfg, m.Settled); err == nil {
				h.Ring = r
			}
		}
		h.Extra, _ = ownership.ParseSet(m.Extra)
		held[n] = h
	}
	v := ownership.New(target, held)
	walk, serving, pending := v.Place(p, memNVal)
	var holding []string
	for _, n := range slices.Sorted(maps.Keys(held)) {
		if v.Holds(n, p, memNVal) {
			holding = append(holding, n)
		}
	}
	var holders []string
	for _, n := range c.Names() {
		if _, ok := c.LocalState(n, bucket, key); ok {
			holders = append(holders, n)
		}
	}
	return fmt.Sprintf("partition %d: target primaries %v, walk %v serving %d pending %v, holding it %v, copies on %v",
		p, target.Preflist(p, memNVal), walk, serving, pending, holding, holders)
}
