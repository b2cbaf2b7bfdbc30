package gossip

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"

	"github.com/dynamod/dynamod/ownership"
)

// Errors returned by this package.
var (
	// ErrClosed: the Gossip was closed.
	ErrClosed = errors.New("gossip: closed")
	// ErrJoin: New was given Join addresses, none answered, and there was
	// no persisted state to fall back on.
	ErrJoin = errors.New("gossip: no join address answered")
	// ErrCorruptState: the persisted cluster state could not be decoded.
	ErrCorruptState = errors.New("gossip: corrupt cluster state")
	// ErrUnknownMember: the name is not in the cluster state.
	ErrUnknownMember = errors.New("gossip: unknown member")
	// ErrMemberAlive: Remove refuses a member that memberlist sees alive;
	// a live node leaves instead.
	ErrMemberAlive = errors.New("gossip: member is alive")
	// ErrRemoved: this node has been removed from the cluster.
	ErrRemoved = errors.New("gossip: this node was removed")
	// ErrInvalidProps: a bucket name or props document was rejected.
	ErrInvalidProps = errors.New("gossip: invalid bucket props")
)

// Liveness is memberlist's view of whether a member answers.
type Liveness int

// Liveness values. The zero value is invalid.
const (
	Alive Liveness = 1 + iota
	// Suspect is reserved: memberlist v0.7 does not expose its suspicion
	// state (Node.State is never updated, memberlist#266), so members are
	// reported Alive until memberlist declares them dead.
	Suspect
	// Dead covers failed, left and never-seen members.
	Dead
)

// String returns "alive", "suspect", "dead" or "Liveness(N)".
func (l Liveness) String() string {
	switch l {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	}
	return fmt.Sprintf("Liveness(%d)", int(l))
}

// Member is one member of the cluster state with its current liveness.
type Member struct {
	Name       string
	GossipAddr string // memberlist "ip:port"
	RPCAddr    string // node-to-node address; "" if the node advertised none
	HTTPAddr   string // client address; "" if the node advertised none
	Status     Status
	Liveness   Liveness
	// Settled and Extra say what the member holds (see memberEntry).
	Settled []string
	Extra   string
}

// Gossip is one node's membership: memberlist for liveness plus the
// cluster-state CRDT (members, bucket properties) it carries. All methods
// are safe for concurrent use and none blocks on the network except New,
// Leave and Close.
type Gossip struct {
	cfg     Config
	log     *slog.Logger
	ml      *memberlist.Memberlist
	queue   *memberlist.TransmitLimitedQueue
	metrics *metrics
	// keys is the encryption keyring (keyring.go); nil when encryption is
	// off.
	keys *keyring
	// maxBroadcast is the largest update sent by UDP broadcast; larger ones
	// go to each member over TCP.
	maxBroadcast int

	changes chan struct{} // buffer 1: something changed (coalesced)
	dirty   chan struct{} // buffer 1: the state changed, persist it
	bigSend chan struct{} // buffer 1: bigPending has entries

	ctx    context.Context // ends at Close: stops loops, aborts dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // the loops

	// numAlive counts alive members including self, for the broadcast
	// queue's retransmit limit. Atomic because the queue reads it under its
	// own lock, which must not nest with mu.
	numAlive atomic.Int32
	// left is set by Leave: the rejoin loop stops joining.
	left atomic.Bool

	// persistMu serializes state-file writes (the persist loop and Close).
	persistMu sync.Mutex

	// mu guards the fields below. It is never held across I/O or a call
	// into memberlist, which calls the delegates with its own locks held.
	mu    sync.Mutex
	state *clusterState
	// self is what this node wants its own entry to say (Ver and Origin
	// unused). An entry about self that differs is refuted with a newer
	// write, except an operator's Removed once New has returned.
	self memberEntry
	// starting is true until New has joined: a Removed entry about self
	// from before this start is refuted too.
	starting bool
	// peers is memberlist's view of the other members, from its events.
	peers map[string]*peer
	// bigPending holds keys of entries too large to broadcast, to be sent
	// to every member over TCP by the send loop.
	bigPending map[string]bool
	// admit holds and verifies new members (verify.go).
	admit admission

	// lifeMu serializes Leave and Close.
	lifeMu   sync.Mutex
	closed   bool
	closeErr error
}

// peer is memberlist's last word about another node.
type peer struct {
	live Liveness
	ip   net.IP
	port uint16
}

// New starts memberlist, loads the persisted state, records this node as
// Joined (or still Leaving, if it was when it stopped) and joins cfg.Join
// plus the members in the persisted state, best effort. It fails when
// cfg.Join is set, none of it answers and there is no persisted state to
// rejoin from (ErrJoin), and when the state file is corrupt
// (ErrCorruptState). New blocks for the joins, which run in parallel and
// are each bounded by the profile's TCP timeout.
func New(cfg Config) (*Gossip, error) {
	g, err := newGossip(cfg)
	if err != nil {
		return nil, err
	}
	if err := g.start(); err != nil {
		g.cancel()
		g.wg.Wait()
		_ = g.ml.Shutdown()
		return nil, err
	}
	return g, nil
}

// newGossip builds g and its memberlist, not yet joined. On error the
// transport, if any, is shut down.
func newGossip(cfg Config) (g *Gossip, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	transport := cfg.Transport
	defer func() {
		if err != nil {
			cancel()
			if transport != nil {
				_ = transport.Shutdown()
			}
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "gossip", "node", cfg.Name)

	state, err := loadState(cfg.StatePath, cfg.Name)
	if err != nil {
		return nil, err
	}
	mc := cfg.memberlistConfig()
	if err := setAddrs(mc, cfg); err != nil {
		return nil, err
	}
	keys, err := openKeyring(cfg, logger)
	if err != nil {
		return nil, err
	}
	if keys != nil {
		mc.Keyring = keys.ml
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}

	g = &Gossip{
		cfg:        cfg,
		log:        logger,
		changes:    make(chan struct{}, 1),
		dirty:      make(chan struct{}, 1),
		bigSend:    make(chan struct{}, 1),
		ctx:        ctx,
		cancel:     cancel,
		state:      state,
		keys:       keys,
		starting:   true,
		peers:      map[string]*peer{},
		bigPending: map[string]bool{},
		admit: admission{verified: map[string]bool{}, held: map[string]memberEntry{},
			tried: map[string]time.Time{}, inFlight: map[string]bool{}},
	}
	g.numAlive.Store(1)
	g.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return int(g.numAlive.Load()) },
		RetransmitMult: mc.RetransmitMult,
	}
	g.metrics = newMetrics(cfg.Registry, func() float64 { return float64(g.queue.NumQueued()) })

	mlLog := log.New(logBridge{log: logger.With("component", "memberlist"), dropped: func(reason string) {
		g.metrics.droppedPackets.WithLabelValues(reason).Inc()
	}}, "", 0)
	d := &delegate{g: g}
	mc.Delegate = d
	mc.Events = d
	mc.Logger = mlLog
	if transport == nil {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{mc.BindAddr},
			BindPort:  mc.BindPort,
			Logger:    mlLog,
		})
		if err != nil {
			return nil, fmt.Errorf("gossip: listen on %s: %w", cfg.BindAddr, err)
		}
		transport = &ctxTransport{NetTransport: nt, ctx: ctx}
	}
	mc.Transport = transport
	if cfg.tune != nil {
		cfg.tune(mc)
	}
	// Leave room for memberlist's headers, encryption and label.
	g.maxBroadcast = mc.UDPBufferSize - 200
	g.ml, err = memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start memberlist: %w", err)
	}
	return g, nil
}

// setAddrs fills memberlist's bind and advertise addresses from cfg,
// resolving an advertised hostname.
func setAddrs(mc *memberlist.Config, cfg Config) error {
	host, p, _ := net.SplitHostPort(cfg.BindAddr) // validated
	port, _ := strconv.Atoi(p)
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	if ip := net.ParseIP(host); ip.IsUnspecified() {
		mc.AdvertiseAddr = "" // memberlist picks a private address
	}
	if cfg.AdvertiseAddr == "" {
		return nil
	}
	host, p, _ = net.SplitHostPort(cfg.AdvertiseAddr)
	port, _ = strconv.Atoi(p)
	if net.ParseIP(host) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
		if err != nil {
			return fmt.Errorf("gossip: resolve AdvertiseAddr %q: %w", cfg.AdvertiseAddr, err)
		}
		// Prefer IPv4, as memberlist's own resolution does.
		ip := ips[0]
		if i := slices.IndexFunc(ips, func(x net.IP) bool { return x.To4() != nil }); i >= 0 {
			ip = ips[i]
		}
		host = ip.String()
	}
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	return nil
}

// start records self, joins and starts the remaining loops.
func (g *Gossip) start() error {
	addr := g.ml.LocalNode().Address() // not under g.mu: it takes memberlist's lock
	g.mu.Lock()
	g.self = memberEntry{
		Gossip: addr,
		RPC:    g.cfg.RPCAddr,
		HTTP:   g.cfg.HTTPAddr,
		Status: Joining, // until it has received its partitions
	}
	if cur, ok := g.state.members[g.cfg.Name]; ok && !cur.Status.Gone() {
		// A restart keeps its status (an interrupted join or leave goes
		// on) and what it holds.
		g.self.Status, g.self.Settled, g.self.Extra = cur.Status, cur.Settled, cur.Extra
	}
	hasPeers := false
	var known []string
	for name, e := range g.state.members {
		if name != g.cfg.Name && !e.Status.Gone() {
			hasPeers = true
			known = append(known, e.Gossip)
		}
	}
	g.refuteLocked()
	g.mu.Unlock()

	var explicit []string
	for _, a := range g.cfg.Join {
		if a != addr && !slices.Contains(explicit, a) {
			explicit = append(explicit, a)
		}
	}
	targets := slices.Concat(explicit, slices.DeleteFunc(known, func(a string) bool { return slices.Contains(explicit, a) }))
	answered, errs := g.joinAll(targets)
	if len(explicit) > 0 && !slices.ContainsFunc(explicit, func(a string) bool { return slices.Contains(answered, a) }) {
		if !hasPeers {
			return fmt.Errorf("gossip: join %v: %w", explicit, errors.Join(append([]error{ErrJoin}, errs...)...))
		}
		g.log.Warn("no join address answered; rejoining from persisted state", "join", explicit)
	}
	// The members the joins told of are admitted once verified (verify.go):
	// give that a moment, so that New returns knowing the cluster.
	g.awaitVerifications(verifyTimeout)

	g.mu.Lock()
	g.starting = false
	g.refuteLocked()
	g.mu.Unlock()
	g.signal(g.dirty)
	g.signal(g.changes)

	h := fnv.New64a()
	_, _ = h.Write([]byte(g.cfg.Name))
	seed := h.Sum64() ^ uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1|1)) // owned by the rejoin loop
	g.wg.Go(func() { g.rejoinLoop(rng) })
	if g.cfg.StatePath != "" {
		g.wg.Go(g.persistLoop)
	}
	g.wg.Go(g.sendLoop)
	g.log.Info("gossip started", "addr", g.self.Gossip, "members", len(g.Members()))
	return nil
}

// joinAll joins each address in parallel (each bounded by memberlist's TCP
// timeout) and returns those that answered and the errors of the others.
func (g *Gossip) joinAll(addrs []string) (answered []string, errs []error) {
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, a := range addrs {
		wg.Go(func() {
			_, err := g.ml.Join([]string{a})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", a, err))
				return
			}
			answered = append(answered, a)
		})
	}
	wg.Wait()
	return answered, errs
}

// signal does a non-blocking send on a buffer-1 channel.
func (g *Gossip) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// LocalName returns this node's name.
func (g *Gossip) LocalName() string { return g.cfg.Name }

// Changes returns a channel that receives a value after any change to the
// membership, liveness or bucket properties. Notifications coalesce (buffer
// 1): read the current state after each one. The channel is never closed.
func (g *Gossip) Changes() <-chan struct{} { return g.changes }

// Members returns every member of the cluster state, left and removed ones
// included (their status says so), with memberlist's current liveness (this
// node is always Alive), sorted by name. Members that are known but have
// never answered are Dead.
func (g *Gossip) Members() []Member {
	g.mu.Lock()
	out := make([]Member, 0, len(g.state.members))
	for name, e := range g.state.members {
		out = append(out, Member{
			Name:       name,
			GossipAddr: e.Gossip,
			RPCAddr:    e.RPC,
			HTTPAddr:   e.HTTP,
			Status:     e.Status,
			Liveness:   g.livenessLocked(name),
			Settled:    slices.Clone(e.Settled),
			Extra:      e.Extra,
		})
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// RingMembers returns the names of the members of the target ring, the
// ones that own partitions once transfers are done (Joining or Joined),
// sorted. It does not depend on liveness: a failure is temporary, and only
// a leave or a removal takes a member out of the ring.
func (g *Gossip) RingMembers() []string {
	g.mu.Lock()
	var out []string
	for name, e := range g.state.members {
		if e.Status.Owns() {
			out = append(out, name)
		}
	}
	g.mu.Unlock()
	slices.Sort(out)
	return out
}

// Alive reports whether memberlist currently sees name alive. This node is
// always alive; unknown names are not. It does not block.
func (g *Gossip) Alive(name string) bool {
	if name == g.cfg.Name {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.livenessLocked(name) == Alive
}

func (g *Gossip) livenessLocked(name string) Liveness {
	if name == g.cfg.Name {
		return Alive
	}
	if p, ok := g.peers[name]; ok {
		return p.live
	}
	return Dead
}

// Resolve returns the RPC address a member advertised. ok is false for an
// unknown or removed member, or one without an RPC address.
func (g *Gossip) Resolve(name string) (rpcAddr string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, found := g.state.members[name]
	if !found || e.Status.Gone() || e.RPC == "" {
		return "", false
	}
	return e.RPC, true
}

// BucketProps returns the current properties of every bucket that has
// some, as compacted JSON. Reset buckets are left out. The caller owns the
// returned map and slices.
func (g *Gossip) BucketProps() map[string][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string][]byte, len(g.state.buckets))
	for name, e := range g.state.buckets {
		if !e.Deleted {
			out[name] = slices.Clone([]byte(e.Props))
		}
	}
	return out
}

// SetBucketProps sets a bucket's properties cluster-wide; props must be a
// JSON value other than null and is stored compacted. Empty props reset the
// bucket: the reset is a write like any other, so it wins over older sets
// still circulating. Concurrent writes converge on the same winner
// everywhere (the higher Lamport version, then the higher origin name).
// SetBucketProps does not wait for other nodes.
func (g *Gossip) SetBucketProps(bucket string, props []byte) error {
	if bucket == "" || len(bucket) > maxBucketLen || !utf8.ValidString(bucket) {
		return fmt.Errorf("%w: bucket name must be valid UTF-8 of 1..%d bytes", ErrInvalidProps, maxBucketLen)
	}
	e := bucketEntry{Deleted: len(props) == 0}
	if !e.Deleted {
		p, err := normalizeProps(props)
		if err != nil {
			return fmt.Errorf("%w: bucket %q: %w", ErrInvalidProps, bucket, err)
		}
		e.Props = p
	}
	if g.isClosed() {
		return ErrClosed
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, ok := g.state.buckets[bucket]; ok && cur.Deleted == e.Deleted && string(cur.Props) == string(e.Props) {
		return nil // already so; a reset of a reset, or the same props
	}
	e.Ver, e.Origin = g.state.tick(), g.cfg.Name
	g.state.buckets[bucket] = e
	g.publishLocked(wireState{Buckets: map[string]bucketEntry{bucket: e}}, true)
	return nil
}

// Remove marks a member Removed cluster-wide: it leaves the ring, holds
// nothing any more, and the rejoin loop forgets it. Removing an already
// removed or left member does nothing. A member that memberlist sees alive
// is refused (ErrMemberAlive), except this node itself. A removed node that
// is started again rejoins as Joining, holding nothing.
func (g *Gossip) Remove(name string) error {
	if g.isClosed() {
		return ErrClosed
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.state.members[name]
	if !ok {
		return fmt.Errorf("gossip: remove %q: %w", name, ErrUnknownMember)
	}
	if e.Status.Gone() {
		return nil
	}
	if name != g.cfg.Name && g.livenessLocked(name) != Dead {
		return fmt.Errorf("gossip: remove %q: %w", name, ErrMemberAlive)
	}
	if name == g.cfg.Name {
		g.self.Status = Removed
	}
	e.Status, e.Ver, e.Origin = Removed, g.state.tick(), g.cfg.Name
	g.state.members[name] = e
	g.log.Info("member removed", "peer", name)
	g.publishLocked(wireState{Members: map[string]memberEntry{name: e}}, true)
	return nil
}

// MarkLeaving records this node as Leaving: it leaves the target ring but
// keeps holding and serving its data while the new owners receive it; the
// caller then calls MarkLeft and Leave.
func (g *Gossip) MarkLeaving() error {
	if g.isClosed() {
		return ErrClosed
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.self.Status {
	case Leaving:
		return nil
	case Removed, Left:
		return ErrRemoved
	}
	g.self.Status = Leaving
	g.refuteLocked()
	return nil
}

// MarkLeft records that this node has handed everything off and left for
// good: it holds nothing any more. Call Leave and Close afterwards. A left
// node that is started again rejoins as Joining, holding nothing.
func (g *Gossip) MarkLeft() error {
	if g.isClosed() {
		return ErrClosed
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.self.Status == Removed {
		return ErrRemoved
	}
	g.self.Status = Left
	g.self.Settled, g.self.Extra = nil, ""
	g.refuteLocked()
	return nil
}

// Settle records what this node holds: the member set it finished
// receiving data for and the extra partitions (an ownership.Set encoding)
// it still holds beyond that ring's share. A Joining node becomes Joined.
// It fails for a node that left or was removed.
func (g *Gossip) Settle(settled []string, extra string) error {
	if g.isClosed() {
		return ErrClosed
	}
	s := slices.Clone(settled)
	slices.Sort(s)
	s = slices.Compact(s)
	if _, err := ownership.ParseSet(extra); err != nil {
		return fmt.Errorf("gossip: settle: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.self.Status.Gone() {
		return ErrRemoved
	}
	if g.self.Status == Joining {
		g.self.Status = Joined
	}
	g.self.Settled, g.self.Extra = s, extra
	g.refuteLocked()
	return nil
}

// Leave tells the other members that this node is going away, waiting up to
// timeout (0: no limit) for the message to go out, and stops re-joining.
// Others then see it Dead at once instead of after failure detection; its
// status in the cluster state is unchanged (a restart rejoins). Call Close
// afterwards.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.left.Store(true)
	if err := g.ml.Leave(timeout); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	g.log.Info("left the cluster")
	return nil
}

// Close stops the loops, shuts memberlist and the transport down without a
// leave message (others detect a failure; call Leave first for a graceful
// exit) and writes the state file a last time. It is idempotent and returns
// the first call's error.
func (g *Gossip) Close() error {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	if g.closed {
		return g.closeErr
	}
	g.closed = true
	g.cancel()
	g.stopVerify()
	g.wg.Wait()
	err := g.ml.Shutdown()
	if g.cfg.StatePath != "" {
		if perr := g.persist(); perr != nil {
			err = errors.Join(err, perr)
		}
	}
	g.closeErr = err
	g.log.Info("gossip stopped")
	return err
}

func (g *Gossip) isClosed() bool {
	return g.ctx.Err() != nil
}

// publishLocked spreads the entries of delta: a broadcast each when it fits
// a packet, else (local writes only) a reliable send to every member. A local
// write also triggers persistence and the change notification; mergeRemote
// does that itself. g.mu must be held.
func (g *Gossip) publishLocked(delta wireState, local bool) {
	for name, e := range delta.Members {
		g.queueLocked("m/"+name, wireState{V: stateVersion, From: g.cfg.Name, Members: map[string]memberEntry{name: e}}, local)
	}
	for name, e := range delta.Buckets {
		g.queueLocked("b/"+name, wireState{V: stateVersion, From: g.cfg.Name, Buckets: map[string]bucketEntry{name: e}}, local)
	}
	for id, e := range delta.Tokens {
		g.queueLocked("t/"+id, wireState{V: stateVersion, From: g.cfg.Name, Tokens: map[string]tokenEntry{id: e}}, local)
	}
	if local {
		g.changedLocked()
	}
}

// queueLocked broadcasts one entry, replacing a queued older one. An entry
// too large for a packet, and any token or bucket change, is sent to every
// member over TCP if it is a local write; a relayed one is not (its origin
// already sent it to everyone, and push-pull repairs the rest).
func (g *Gossip) queueLocked(key string, one wireState, local bool) {
	msg := encodeState(one)
	if local && (strings.HasPrefix(key, "t/") || strings.HasPrefix(key, "b/")) {
		// A token change (a revocation above all) must reach every node
		// within a second, and a bucket's props should not differ between
		// nodes for long. A broadcast is sent a few times only, and
		// memberlist piggybacks it on probes too, so all of them can go to
		// one peer (a test with push-pull off saw a revocation never reach
		// the third node): operators' changes are rare, so send them to
		// every member over TCP as well.
		g.bigPending[key] = true
		g.signal(g.bigSend)
	}
	if len(msg) > g.maxBroadcast {
		if local {
			g.bigPending[key] = true
			g.signal(g.bigSend)
		}
		return
	}
	g.queue.QueueBroadcast(&broadcast{key: key, msg: msg})
}

// changedLocked persists and notifies after a state change.
func (g *Gossip) changedLocked() {
	g.refreshGaugesLocked()
	g.signal(g.dirty)
	g.signal(g.changes)
}

func (g *Gossip) refreshGaugesLocked() {
	var n [Dead + 1]int
	for name, e := range g.state.members {
		if !e.Status.Gone() {
			n[g.livenessLocked(name)]++
		}
	}
	for _, l := range []Liveness{Alive, Suspect, Dead} {
		g.metrics.members.WithLabelValues(l.String()).Set(float64(n[l]))
	}
}

// refuteLocked makes sure the state says about this node what g.self says,
// writing a newer entry if not. Once New has returned, an operator's
// Removed is accepted instead.
func (g *Gossip) refuteLocked() {
	name := g.cfg.Name
	cur, ok := g.state.members[name]
	if ok && sameMember(cur, g.self) {
		return
	}
	if ok && cur.Status == Removed && !g.starting && g.self.Status != Removed {
		g.log.Warn("this node was removed from the cluster", "by", cur.Origin)
		g.self.Status = Removed
		g.self.Settled, g.self.Extra = nil, ""
		g.self.Gossip, g.self.RPC, g.self.HTTP = cur.Gossip, cur.RPC, cur.HTTP
		g.changedLocked()
		return
	}
	e := g.self
	e.Ver, e.Origin = g.state.tick(), name
	g.state.members[name] = e
	g.publishLocked(wireState{Members: map[string]memberEntry{name: e}}, true)
}

// mergeRemote decodes and merges state bytes from a peer. Bad bytes are
// logged and dropped. When rebroadcast is set, the entries that were news
// are passed on (epidemic broadcast; old news stops spreading).
func (g *Gossip) mergeRemote(buf []byte, source string, rebroadcast bool) {
	w, err := decodeState(buf)
	if err != nil {
		g.metrics.merges.WithLabelValues(source, "rejected").Inc()
		g.log.Warn("ignored malformed cluster state", "source", source, "bytes", len(buf), "err", err)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.admitLocked(&w, source)  // drops the entries validation refuses
	g.holdUnverifiedLocked(&w) // holds new members until verified
	news := g.state.merge(w)
	if len(news.Members) == 0 && len(news.Buckets) == 0 && len(news.Tokens) == 0 {
		g.metrics.merges.WithLabelValues(source, "unchanged").Inc()
		return
	}
	g.metrics.merges.WithLabelValues(source, "changed").Inc()
	if rebroadcast {
		g.publishLocked(news, false)
	}
	g.changedLocked()
	if len(news.Members) > 0 {
		g.refuteLocked()
	}
}
