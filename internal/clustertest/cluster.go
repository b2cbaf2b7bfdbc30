// Package clustertest runs N full dynamod nodes in one process, on the
// memory storage engine and the fault-injecting memory network, with static
// membership so that quorum tests need not wait on gossip (level 3 of
// docs/design.md, "Testing"). Tests only.
package clustertest

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/antientropy"
	"github.com/dynamod/dynamod/node"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

var seedFlag = flag.Uint64("seed", 0, "clustertest: replay this seed (0: random)")

// Seed returns the -seed flag or a fresh random seed, and logs it so a
// failing run can be replayed with -seed.
func Seed(t testing.TB) uint64 {
	s := *seedFlag
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("clustertest seed: %d (replay with -seed=%d)", s, s)
	return s
}

// Options configure a cluster.
type Options struct {
	// Nodes is how many nodes (named n1..nN). Default 3.
	Nodes int
	// Seed decides every fault of the network. Default: Seed(t).
	Seed uint64
	// Partitions and Tokens of the ring. Defaults 64 and 32 (small rings
	// keep tests fast).
	Partitions, Tokens int
	// HandoffInterval of every node. Default 50ms.
	HandoffInterval time.Duration
	// NoHandoff disables hint delivery on every node.
	NoHandoff bool
	// ReplicaTimeout of every node. Default 500ms.
	ReplicaTimeout time.Duration
	// SpeculativeRead of every node (quorum.Config). Default: a fixed
	// quorum.DefaultSpeculativeRead, not the adaptive delay nodes run
	// with, so that the replica reads a scenario sends do not depend on
	// how fast the machine runs it; AdaptiveSpeculation asks for the
	// adaptive one.
	SpeculativeRead time.Duration
	// AdaptiveSpeculation runs the nodes with the adaptive speculation
	// delay (SpeculativeRead must be zero).
	AdaptiveSpeculation bool
	// DigestRead of every node (quorum.Config): 0 the production default
	// (copies of 4 KiB of values or more), 1 every read that found a copy
	// here, negative never.
	DigestRead int
	// Defaults override the default bucket properties if NVal is set.
	Defaults quorum.Props
	// AntiEntropy runs Merkle-tree exchanges every AEInterval (default
	// 50ms). Off by default, so the other repair paths are tested alone.
	AntiEntropy bool
	AEInterval  time.Duration
	// TombstoneGrace for anti-entropy's reaper. Default 24h.
	TombstoneGrace time.Duration
	// TransferInterval and ReleaseDelay of every node's transfer manager.
	// Defaults 50ms and 200ms.
	TransferInterval, ReleaseDelay time.Duration
	// WrapEngine, if set, wraps each node's storage engine when the node
	// starts (a fault or delay injector); crashes still act on the memory
	// engine underneath.
	WrapEngine func(node string, e storage.Engine) storage.Engine
	// WebhookAllow is every node's webhook allowlist (node.Config). Empty:
	// no webhook resolver may be called.
	WebhookAllow []string
	// PropsDelay bounds how long a bucket property change takes to reach
	// each node but the one it was made through: every delivery waits a
	// time drawn from the seed in [0, PropsDelay], so nodes disagree for a
	// while, as under gossip. Default 20ms; negative: every node at once.
	// HoldProps keeps a change from chosen nodes until ReleaseProps.
	PropsDelay time.Duration
	// DetectDelay is the failure detector's lag: after Crash, each other
	// node goes on believing the crashed one alive for a time drawn from
	// the seed in [DetectDelay/2, DetectDelay], and sends it requests. 0
	// (the default): every node knows at once, so tests of what follows a
	// crash need not wait for it.
	DetectDelay time.Duration
	// SilentCrash makes a crashed node go dark instead of refusing: calls
	// to it are lost and time out (a host that lost power sends no reset),
	// rather than failing at once. Restart ends it.
	SilentCrash bool
}

// Cluster is a running in-process cluster.
type Cluster struct {
	t     testing.TB
	opts  Options
	Net   *transport.MemNetwork
	props *propsTable
	// detect is the failure detector's lag (DetectDelay, SilentCrash).
	detect *detector

	// names are every node ever started, n1..nN in order of joining; mu
	// guards it once the cluster runs.
	names []string
	// members is the cluster state gossip would replicate: status and
	// holdings by name. mmu guards it.
	mmu     sync.Mutex
	members map[string]node.MemberInfo

	// mu guards the fields below.
	mu      sync.Mutex
	nodes   map[string]*node.Node
	engines map[string]*storage.Memory
	views   map[string]*view
	crashed map[string]bool
	groups  [][]string
	// beliefs override what one node believes of another's liveness:
	// [viewer, member] → alive.
	beliefs map[[2]string]bool
}

// Start builds and starts a cluster; t.Cleanup closes it.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Seed == 0 {
		o.Seed = Seed(t)
	}
	if o.Partitions == 0 {
		o.Partitions = 64
	}
	if o.Tokens == 0 {
		o.Tokens = 32
	}
	if o.HandoffInterval == 0 {
		o.HandoffInterval = 50 * time.Millisecond
	}
	if o.ReplicaTimeout == 0 {
		o.ReplicaTimeout = 500 * time.Millisecond
	}
	if o.TransferInterval == 0 {
		o.TransferInterval = 50 * time.Millisecond
	}
	if o.ReleaseDelay == 0 {
		o.ReleaseDelay = 200 * time.Millisecond
	}
	if o.PropsDelay == 0 {
		o.PropsDelay = 20 * time.Millisecond
	}
	c := &Cluster{
		t: t, opts: o, Net: transport.NewMemNetwork(o.Seed),
		nodes: map[string]*node.Node{}, engines: map[string]*storage.Memory{},
		views: map[string]*view{}, crashed: map[string]bool{}, members: map[string]node.MemberInfo{},
		beliefs: map[[2]string]bool{},
	}
	c.props = newPropsTable(c, o.Seed, o.PropsDelay)
	c.detect = newDetector(o.Seed)
	if o.SilentCrash {
		c.Net.Hook(c.detect.pass)
	}
	for i := 1; i <= o.Nodes; i++ {
		c.names = append(c.names, fmt.Sprintf("n%d", i))
	}
	for _, name := range c.names {
		c.members[name] = node.MemberInfo{Name: name, Status: "joined", Settled: c.names}
	}
	for _, name := range c.names {
		c.startNode(name, storage.NewMemory())
	}
	t.Cleanup(c.Close)
	return c
}

// Names returns the names of every node ever started, n1..nN.
func (c *Cluster) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.names)
}

// Join starts a new node (the next name, n(N+1)) on empty storage as a
// joining member, as dynamod serve --join does, and returns its name. It
// owns its share of the ring at once and serves it once it has received it.
func (c *Cluster) Join() string {
	c.t.Helper()
	c.mu.Lock()
	name := fmt.Sprintf("n%d", len(c.names)+1)
	c.names = append(c.names, name)
	c.mu.Unlock()
	c.mmu.Lock()
	c.members[name] = node.MemberInfo{Name: name, Status: "joining"}
	c.mmu.Unlock()
	c.startNode(name, storage.NewMemory())
	return name
}

// Status returns a member's status (joining, joined, leaving, left,
// removed) and whether it has settled at the current target.
func (c *Cluster) Status(name string) (status string, settled bool) {
	c.mmu.Lock()
	defer c.mmu.Unlock()
	m := c.members[name]
	return m.Status, slices.Equal(m.Settled, c.targetLocked())
}

// Steady reports whether every member holds what it owns: no transfer is
// pending and no member holds extra partitions.
func (c *Cluster) Steady() bool {
	c.mmu.Lock()
	defer c.mmu.Unlock()
	target := c.targetLocked()
	for _, m := range c.members {
		if gone(m.Status) {
			continue
		}
		if m.Extra != "" || (m.Status != "leaving" && !slices.Equal(m.Settled, target)) {
			return false
		}
		if m.Status == "leaving" {
			return false
		}
	}
	return true
}

// targetLocked returns the target member set, sorted. c.mmu is held.
func (c *Cluster) targetLocked() []string {
	var out []string
	for name, m := range c.members {
		if m.Status == "joining" || m.Status == "joined" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func gone(status string) bool { return status == "left" || status == "removed" }

// setMember changes a member's entry and tells every node.
func (c *Cluster) setMember(name string, f func(m *node.MemberInfo)) {
	c.mmu.Lock()
	m := c.members[name]
	f(&m)
	c.members[name] = m
	c.mmu.Unlock()
	c.notifyAll()
}

// Node returns a running node (nil if crashed).
func (c *Cluster) Node(name string) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name]
}

// Ring returns the cluster's ring.
func (c *Cluster) Ring() *ring.Ring {
	cfg := ring.DefaultConfig()
	cfg.Partitions, cfg.Tokens = c.opts.Partitions, c.opts.Tokens
	c.mmu.Lock()
	target := c.targetLocked()
	c.mmu.Unlock()
	r, err := ring.New(cfg, target)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func (c *Cluster) startNode(name string, eng *storage.Memory) {
	c.t.Helper()
	cfg := node.DefaultConfig()
	cfg.Name = name
	cfg.WebhookAllow = c.opts.WebhookAllow
	cfg.Ring.Partitions = c.opts.Partitions
	cfg.Ring.Tokens = c.opts.Tokens
	cfg.Quorum.HandoffInterval = c.opts.HandoffInterval
	cfg.Quorum.HintedHandoff = !c.opts.NoHandoff
	cfg.Quorum.ReplicaTimeout = c.opts.ReplicaTimeout
	cfg.Quorum.SpeculativeRead = c.opts.SpeculativeRead
	cfg.Quorum.DigestRead = c.opts.DigestRead
	if cfg.Quorum.SpeculativeRead == 0 && !c.opts.AdaptiveSpeculation {
		cfg.Quorum.SpeculativeRead = quorum.DefaultSpeculativeRead
	}
	cfg.RequestTimeout = 2 * time.Second
	cfg.AntiEntropyOff = !c.opts.AntiEntropy
	// Every node's timers draw from the cluster's seed too, so -seed
	// replays them along with the network's faults.
	nodeSeed := c.opts.Seed ^ hashOf("seed", name)
	cfg.Quorum.Seed = nodeSeed
	cfg.Transfer.Interval = c.opts.TransferInterval
	cfg.Transfer.ReleaseDelay = c.opts.ReleaseDelay
	cfg.Transfer.CallTimeout = c.opts.ReplicaTimeout
	cfg.AntiEntropy = antientropy.DefaultLocalConfig()
	cfg.AntiEntropy.Seed = nodeSeed ^ 1
	if c.opts.AEInterval > 0 {
		cfg.AntiEntropy.Interval = c.opts.AEInterval
	}
	if c.opts.TombstoneGrace > 0 {
		cfg.AntiEntropy.TombstoneGrace = c.opts.TombstoneGrace
	}
	if c.opts.Defaults.NVal != 0 {
		cfg.Defaults = c.opts.Defaults.WithDefaults(quorum.DefaultProps())
	}
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{c.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	v := &view{c: c, self: name, changes: make(chan struct{}, 1)}
	c.props.join(name)

	var n *node.Node
	ready := make(chan struct{})
	ep := c.Net.Join(name, transport.HandlerFunc(func(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return n.Serve(ctx, from, kind, body)
	}))
	c.detect.started(name)
	var engine storage.Engine = eng
	if c.opts.WrapEngine != nil {
		engine = c.opts.WrapEngine(name, eng)
	}
	n, err := node.New(cfg, node.Parts{Engine: engine, Members: v, Transport: ep})
	if err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	close(ready)
	c.mu.Lock()
	c.nodes[name] = n
	c.engines[name] = eng
	c.views[name] = v
	delete(c.crashed, name)
	c.mu.Unlock()
	c.notifyAll()
}

// Crash stops a node abruptly: its unsynced writes are lost, its peers see
// it dead and its calls fail.
func (c *Cluster) Crash(name string) {
	c.t.Helper()
	c.mu.Lock()
	n, eng := c.nodes[name], c.engines[name]
	if n == nil {
		c.mu.Unlock()
		c.t.Fatalf("crash %s: not running", name)
	}
	clone := eng.CrashClone()
	c.engines[name] = clone
	delete(c.nodes, name)
	c.detectCrash(name, c.names)
	c.crashed[name] = true
	c.mu.Unlock()
	if !c.opts.SilentCrash {
		c.Net.Crash(name)
	}
	c.notifyAll()
	_ = n.Close()
}

// Restart starts a crashed node again on what its storage kept.
func (c *Cluster) Restart(name string) {
	c.t.Helper()
	c.mu.Lock()
	eng := c.engines[name]
	crashed := c.crashed[name]
	c.mu.Unlock()
	if !crashed {
		c.t.Fatalf("restart %s: not crashed", name)
	}
	c.startNode(name, eng)
}

// Wipe replaces a crashed node's storage with an empty one, as if its data
// directory had been deleted; Restart then starts it with a new identity.
func (c *Cluster) Wipe(name string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.crashed[name] {
		c.t.Fatalf("wipe %s: crash it first", name)
	}
	c.engines[name] = storage.NewMemory()
}

// Partition splits the cluster: nodes in different groups cannot reach each
// other and see each other as dead. Unnamed nodes form one more group.
func (c *Cluster) Partition(groups ...[]string) {
	c.mu.Lock()
	c.groups = groups
	c.mu.Unlock()
	c.Net.Partition(groups...)
	c.notifyAll()
}

// Heal removes partitions and link faults.
func (c *Cluster) Heal() {
	c.mu.Lock()
	c.groups = nil
	c.mu.Unlock()
	c.Net.Heal()
	c.notifyAll()
}

// Believe makes viewer's failure detector report member as alive or dead
// whatever the network says, as a detector that lags or errs would: a
// paused process still believed alive, a node believed dead by one peer
// only. ForgetBeliefs ends every override.
func (c *Cluster) Believe(viewer, member string, alive bool) {
	c.mu.Lock()
	c.beliefs[[2]string{viewer, member}] = alive
	c.mu.Unlock()
	c.notifyAll()
}

// ForgetBeliefs ends every Believe override.
func (c *Cluster) ForgetBeliefs() {
	c.mu.Lock()
	clear(c.beliefs)
	c.mu.Unlock()
	c.notifyAll()
}

// reachable reports whether from sees to as alive.
func (c *Cluster) reachable(from, to string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.beliefs[[2]string{from, to}]; ok {
		return b
	}
	if c.crashed[to] && !c.crashed[from] && c.detect.lagging(from, to) {
		return true // from has not noticed yet
	}
	if c.crashed[to] || c.crashed[from] {
		return false
	}
	return groupOf(c.groups, from) == groupOf(c.groups, to)
}

func groupOf(groups [][]string, name string) int {
	for i, g := range groups {
		if slices.Contains(g, name) {
			return i
		}
	}
	return -1
}

func (c *Cluster) notifyAll() {
	c.mu.Lock()
	vs := make([]*view, 0, len(c.views))
	for _, v := range c.views {
		vs = append(vs, v)
	}
	c.mu.Unlock()
	for _, v := range vs {
		v.notify()
	}
}

// Close stops every node and the network.
func (c *Cluster) Close() {
	c.mu.Lock()
	nodes := make([]*node.Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		nodes = append(nodes, n)
	}
	c.nodes = map[string]*node.Node{}
	c.mu.Unlock()
	c.props.close()
	c.detect.close()
	for _, n := range nodes {
		_ = n.Close()
	}
	_ = c.Net.Close()
}

// LocalState returns a node's local copy of a key (found false if none).
// For a crashed node it reads what its storage kept.
func (c *Cluster) LocalState(name, bucket, key string) (versioning.Clock, bool) {
	c.mu.Lock()
	eng := c.engines[name]
	n := c.nodes[name]
	c.mu.Unlock()
	k := storage.Key{Hash: ring.Hash(bucket, key), Bucket: bucket, Key: key}
	var cl versioning.Clock
	var err error
	if n != nil {
		cl, err = n.Store().Get(k)
	} else {
		st, serr := storage.NewStore(eng)
		if serr != nil {
			c.t.Fatalf("read %s: %v", name, serr)
		}
		cl, err = st.Get(k)
	}
	if err != nil {
		return versioning.Clock{}, false
	}
	return cl, true
}

// view is one node's membership: static members, liveness from the
// cluster's crash and partition state, the bucket properties it has
// received (propsTable).
type view struct {
	c       *Cluster
	self    string
	changes chan struct{}
}

func (v *view) notify() {
	select {
	case v.changes <- struct{}{}:
	default:
	}
}

func (v *view) RingMembers() []string {
	v.c.mmu.Lock()
	defer v.c.mmu.Unlock()
	return v.c.targetLocked()
}
func (v *view) Alive(name string) bool   { return name == v.self || v.c.reachable(v.self, name) }
func (v *view) Changes() <-chan struct{} { return v.changes }
func (v *view) Members() []node.MemberInfo {
	v.c.mmu.Lock()
	out := make([]node.MemberInfo, 0, len(v.c.members))
	for _, m := range v.c.members {
		out = append(out, m)
	}
	v.c.mmu.Unlock()
	slices.SortFunc(out, func(a, b node.MemberInfo) int { return strings.Compare(a.Name, b.Name) })
	for i := range out {
		out[i].Liveness = "alive"
		if !v.Alive(out[i].Name) {
			out[i].Liveness = "dead"
		}
	}
	return out
}
func (v *view) Settle(settled []string, extra string) error {
	v.c.setMember(v.self, func(m *node.MemberInfo) {
		if m.Status == "joining" {
			m.Status = "joined"
		}
		m.Settled, m.Extra = slices.Clone(settled), extra
	})
	return nil
}
func (v *view) MarkLeaving() error {
	v.c.setMember(v.self, func(m *node.MemberInfo) { m.Status = "leaving" })
	return nil
}
func (v *view) MarkLeft() error {
	v.c.setMember(v.self, func(m *node.MemberInfo) { m.Status, m.Settled, m.Extra = "left", nil, "" })
	return nil
}
func (v *view) Remove(name string) error {
	v.c.mmu.Lock()
	_, ok := v.c.members[name]
	v.c.mmu.Unlock()
	switch {
	case !ok:
		return node.ErrUnknownMember
	case name != v.self && v.Alive(name):
		return node.ErrMemberAlive
	}
	v.c.setMember(name, func(m *node.MemberInfo) { m.Status, m.Settled, m.Extra = "removed", nil, "" })
	return nil
}
func (v *view) BucketProps() map[string][]byte { return v.c.props.get(v.self) }
func (v *view) SetBucketProps(bucket string, p []byte) error {
	v.c.props.set(v.self, bucket, p)
	return nil
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func hashOf(bucket, key string) uint64 { return ring.Hash(bucket, key) }

// isGone reports whether a node left or was removed.
func (c *Cluster) isGone(name string) bool {
	c.mmu.Lock()
	defer c.mmu.Unlock()
	return gone(c.members[name].Status)
}
