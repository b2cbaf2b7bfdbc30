package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynamod/dynamod/antientropy"
	"github.com/dynamod/dynamod/auth"
	dhttp "github.com/dynamod/dynamod/http"
	"github.com/dynamod/dynamod/ownership"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/resolve"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transfer"
	"github.com/dynamod/dynamod/versioning"
)

// Parts are the pieces a node is built from. cmd/dynamod picks the real
// ones (goleveldb, TCP, memberlist), internal/clustertest in-memory ones.
type Parts struct {
	// Engine stores the data; the node closes it.
	Engine storage.Engine
	// BlobDir is the directory where the store keeps large objects, a
	// file each, out of the Engine (storage.StoreOptions.BlobDir); ""
	// keeps every object in the Engine.
	BlobDir string
	// ObjectCacheBytes bounds the store's cache of decoded objects
	// (storage.StoreOptions.CacheBytes); 0 is the storage default, a
	// negative value disables the cache.
	ObjectCacheBytes int
	// Members is the cluster layer. The node does not close it; Closer, if
	// set, is called at the right point of shutdown.
	Members Membership
	// Transport reaches peers. Its handler must be Node.Serve (see
	// Node.Handler). The node does not create it: the caller does, with a
	// handler that forwards to the node once built.
	Transport quorum.Transport
	// Closers run after the coordinator stops and before storage closes,
	// in order (gossip leave, then transport close).
	Closers []func() error
}

// Config configures a node.
type Config struct {
	// Name is this node's member name. Required.
	Name string
	// Ring fixes partitions and tokens; every member must agree.
	Ring ring.Config
	// Quorum configures coordination; Self is set from Name.
	Quorum quorum.Config
	// RequestTimeout is the client request timeout when the client gives
	// none. Default 10s.
	RequestTimeout time.Duration
	// Defaults are the properties of buckets nobody configured.
	Defaults quorum.Props
	Logger   *slog.Logger
	// Registry receives the node's metrics; nil: a fresh registry (see
	// Node.Gatherer).
	Registry *prometheus.Registry
	// AntiEntropy configures Merkle-tree anti-entropy; Self is set from
	// Name. AntiEntropyOff disables it (tests of the other repair paths).
	AntiEntropy    antientropy.Config
	AntiEntropyOff bool
	// Resolvers resolves siblings for buckets whose resolver property asks
	// for it; programs that embed dynamod register their own Go resolvers
	// in it. nil: a registry of the built-ins, owned by the node.
	Resolvers *resolve.Registry
	// WebhookAllow lists the hosts the node's own registry lets webhook
	// resolvers call (resolve.WebhookConfig.Allow); unused when Resolvers
	// is set. Empty: no webhook.
	WebhookAllow []string
	// Warnings are shown in /cluster for as long as the node runs (the
	// start-up rule's, see Exposure.Check).
	Warnings []string
	// Transfer configures partition transfers on membership changes; Self,
	// Range, Verify and OnLeft are set by the node.
	Transfer transfer.Config
}

// DefaultConfig returns production defaults; Name must be set.
func DefaultConfig() Config {
	return Config{
		Ring: ring.DefaultConfig(), Quorum: quorum.DefaultConfig(), AntiEntropy: antientropy.DefaultConfig(),
		RequestTimeout: 10 * time.Second, Defaults: quorum.DefaultProps(),
	}
}

// Validate reports every bad field.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("node: Name must be set"))
	}
	if err := c.Ring.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("node: RequestTimeout must be > 0, got %v", c.RequestTimeout))
	}
	if err := c.Defaults.Validate(nil); err != nil {
		errs = append(errs, fmt.Errorf("node: Defaults: %w", err))
	}
	if err := resolve.ValidateAllow(c.WebhookAllow); err != nil {
		errs = append(errs, fmt.Errorf("node: WebhookAllow: %w", err))
	}
	// The parts' configs, with the fields New sets (a stand-in name when
	// Name, reported above, is missing), so that New fails on them before
	// it touches a part.
	self := cmp.Or(c.Name, "unnamed")
	qc := c.Quorum
	qc.Self = self
	if err := qc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("node: Quorum: %w", err))
	}
	if !c.AntiEntropyOff {
		ac := c.AntiEntropy
		ac.Self = self
		if err := ac.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("node: AntiEntropy: %w", err))
		}
	}
	return errors.Join(errs...)
}

// validate reports the parts New cannot do without.
func (p Parts) validate() error {
	var errs []error
	if p.Engine == nil {
		errs = append(errs, errors.New("node: Parts.Engine must be set"))
	}
	if p.Members == nil {
		errs = append(errs, errors.New("node: Parts.Members must be set"))
	}
	if p.Transport == nil {
		errs = append(errs, errors.New("node: Parts.Transport must be set"))
	}
	return errors.Join(errs...)
}

// Node is one dynamod node: storage, coordinator, membership view. It
// implements the http package's Backend. Safe for concurrent use.
type Node struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	store   *storage.Store
	members Membership
	coord   *quorum.Coordinator
	ae      *antientropy.AntiEntropy // nil when off
	closers []func() error
	// tr reaches peers for the node's own calls (gossip keyring fan-out).
	tr quorum.Transport

	resolvers    *resolve.Registry
	ownResolvers bool

	// tokens is the client tokens' snapshot (tokens.go), rebuilt by
	// refresh under tokenMu; tokenWriteMu serializes token changes (a
	// read-modify-write of one entry). tokenWriteMu is taken first.
	tokens       atomic.Pointer[auth.Set]
	tokenMu      sync.Mutex
	tokenWriteMu sync.Mutex

	// view is the ownership view; its target is the ring.
	view  atomic.Pointer[ownership.View]
	props atomic.Pointer[map[string]quorum.Props]
	xfer  *transfer.Manager
	// rings caches the rings of member sets (targets and settled sets);
	// ringMu guards it.
	ringMu sync.Mutex
	rings  map[string]*ring.Ring
	// stats samples the client requests answered (/cluster/stats).
	stats *stats
	// left is closed once this node has handed everything off and left.
	left     chan struct{}
	leftOnce sync.Once

	// pbs estimates staleness for /cluster/pbs (pbs.go).
	pbs pbsState

	// wg tracks the node's loops; cancel stops them.
	wg     sync.WaitGroup
	cancel context.CancelFunc
	once   sync.Once
	err    error
}

// New builds a node from its parts and starts its loops. On error it
// returns no node, and has closed the engine unless the error is in cfg or
// parts themselves; see "Errors in New" in the package doc.
func New(cfg Config, parts Parts) (*Node, error) {
	if err := errors.Join(cfg.Validate(), parts.validate()); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	// From here the engine is New's: on failure, fail closes what New
	// built (holding the engine through the store), latest first, once.
	undo := []func() error{parts.Engine.Close}
	fail := func(err error) (*Node, error) {
		errs := []error{err}
		for _, f := range slices.Backward(undo) {
			errs = append(errs, f())
		}
		return nil, errors.Join(errs...)
	}
	so := storage.DefaultStoreOptions()
	so.BlobDir = parts.BlobDir
	if parts.ObjectCacheBytes != 0 {
		so.CacheBytes = parts.ObjectCacheBytes
	}
	store, err := storage.NewStoreOptions(parts.Engine, so)
	if err != nil {
		return fail(err)
	}
	undo[0] = store.Close // closes the engine
	n := &Node{cfg: cfg, log: log.With("node", cfg.Name), reg: reg, store: store, members: parts.Members, closers: parts.Closers,
		tr: parts.Transport, rings: map[string]*ring.Ring{}, left: make(chan struct{}), stats: newStats()}
	if err := n.refresh(); err != nil {
		return fail(err)
	}
	n.resolvers = cfg.Resolvers
	if n.resolvers == nil {
		n.resolvers, err = resolve.NewRegistry(resolve.WithWebhook(resolve.WebhookConfig{Registry: reg, Allow: cfg.WebhookAllow}))
		if err != nil {
			return fail(err)
		}
		n.ownResolvers = true
		undo = append(undo, n.resolvers.Close)
	}
	qc := cfg.Quorum
	qc.Self = cfg.Name
	qc.Resolvers = n.resolvers
	// The coordinator reports every local change to anti-entropy's trees;
	// anti-entropy is built after the coordinator it reads through.
	var onChange atomic.Pointer[quorum.ChangeFunc]
	qc.OnChange = func(k storage.Key, old, new versioning.Clock) {
		if f := onChange.Load(); f != nil {
			(*f)(k, old, new)
		}
	}
	qc.Logger = log
	qc.Registry = reg
	n.coord, err = quorum.New(qc, store, (*nodeMembers)(n), parts.Transport, (*nodeBuckets)(n))
	if err != nil {
		return fail(err)
	}
	undo = append(undo, n.coord.Close)
	if !cfg.AntiEntropyOff {
		ac := cfg.AntiEntropy
		ac.Self = cfg.Name
		ac.Logger = log
		ac.Registry = reg
		n.ae, err = antientropy.New(ac, n.coord, (*nodeMembers)(n), parts.Transport)
		if err != nil {
			return fail(err) // anti-entropy holds nothing until Run
		}
		f := quorum.ChangeFunc(n.ae.OnChange)
		onChange.Store(&f)
	}
	tc := cfg.Transfer
	tc.Self, tc.Logger, tc.Registry = cfg.Name, log, reg
	tc.N = max(tc.N, cfg.Ring.NVal, cfg.Defaults.NVal)
	tc.Range, tc.Partition = n.ring().Range, n.ring().Partition
	if n.ae != nil {
		tc.Verify = func(ctx context.Context, p int, peer string) error {
			_, err := n.ae.Exchange(ctx, p, peer)
			return err
		}
	}
	tc.OnLeft = n.finishLeave
	n.xfer, err = transfer.New(tc, n.coord, (*nodeTransfer)(n), parts.Transport, store)
	if err != nil {
		return fail(err) // neither does the transfer manager
	}
	n.registerGauges()
	n.watchStorage()
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Go(func() { n.watch(ctx) })
	n.wg.Go(func() { n.coord.RunHandoff(ctx) })
	n.wg.Go(func() { n.xfer.Run(ctx) })
	n.wg.Go(func() { n.sampleStats(ctx) })
	if n.ae != nil {
		n.wg.Go(func() { n.ae.Run(ctx) }) // builds the trees first
	}
	n.log.Info("node started", "members", len(n.ring().Members()))
	return n, nil
}

// Serve answers a peer's request (transport.Handler).
func (n *Node) Serve(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
	if kind == KindKeyring { // node/keyring.go
		return n.serveKeyring(from, body), nil
	}
	if kind >= transfer.KindBase {
		return n.xfer.Serve(ctx, from, kind, body)
	}
	if kind >= antientropy.KindBase {
		if n.ae == nil {
			return nil, errors.New("anti-entropy is off on this node")
		}
		return n.ae.Serve(ctx, from, kind, body)
	}
	return n.coord.Serve(ctx, from, kind, body)
}

// AntiEntropy exposes anti-entropy (nil when off), for tests and tools.
func (n *Node) AntiEntropy() *antientropy.AntiEntropy { return n.ae }

// Coordinator exposes the coordinator, for tests and tools.
func (n *Node) Coordinator() *quorum.Coordinator { return n.coord }

// Store exposes the local store, for tests and tools.
func (n *Node) Store() *storage.Store { return n.store }

// Gatherer returns the node's metrics registry.
func (n *Node) Gatherer() prometheus.Gatherer { return n.reg }

// Name returns the node's member name.
func (n *Node) Name() string { return n.cfg.Name }

// watch rebuilds the ring and the bucket properties on membership changes.
func (n *Node) watch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.members.Changes():
			if err := n.refresh(); err != nil {
				n.log.Error("cannot rebuild ring", "err", err)
			}
		}
	}
}

func (n *Node) refresh() error {
	r, err := n.ringOf(n.members.RingMembers())
	if err != nil {
		return err
	}
	held := map[string]ownership.Holding{}
	for _, m := range n.members.Members() {
		if gone(m.Status) || (m.Settled == nil && m.Extra == "") {
			continue
		}
		var h ownership.Holding
		if m.Settled != nil {
			if h.Ring, err = n.ringOf(m.Settled); err != nil {
				return err
			}
		}
		if h.Extra, err = ownership.ParseSet(m.Extra); err != nil {
			n.log.Warn("ignoring bad extra partitions", "member", m.Name, "err", err)
		}
		held[m.Name] = h
	}
	v := ownership.New(r, held)
	old := n.view.Swap(v)
	if old != nil && !slices.Equal(old.Target().Members(), r.Members()) {
		n.log.Info("ring changed", "members", len(r.Members()), "steady", v.Steady())
	}
	if n.xfer != nil {
		n.xfer.Notify()
	}
	props := map[string]quorum.Props{}
	for b, raw := range n.members.BucketProps() {
		var p quorum.Props
		if err := json.Unmarshal(raw, &p); err != nil {
			n.log.Warn("ignoring bad bucket properties", "bucket", b, "err", err)
			continue
		}
		props[b] = p.WithDefaults(n.cfg.Defaults)
	}
	n.props.Store(&props)
	n.refreshTokens()
	return nil
}

// Close shuts the node down in reverse start order: loops and coordinator,
// then the closers (gossip, transport), then storage. Idempotent.
func (n *Node) Close() error {
	n.once.Do(func() {
		n.cancel()
		n.wg.Wait()
		errs := []error{n.coord.Close()}
		if n.ownResolvers {
			errs = append(errs, n.resolvers.Close())
		}
		for _, c := range n.closers {
			errs = append(errs, c())
		}
		errs = append(errs, n.store.Close())
		n.err = errors.Join(errs...)
		n.log.Info("node stopped")
	})
	return n.err
}

// ring returns the target ring.
func (n *Node) ring() *ring.Ring { return n.view.Load().Target() }

// ringOf returns the ring of a member set, cached: a few distinct sets are
// in use at a time (the target and the sets members settled at).
func (n *Node) ringOf(members []string) (*ring.Ring, error) {
	ms := slices.Clone(members)
	slices.Sort(ms)
	key := strings.Join(slices.Compact(ms), "\x00")
	n.ringMu.Lock()
	defer n.ringMu.Unlock()
	if r, ok := n.rings[key]; ok {
		return r, nil
	}
	r, err := ring.New(n.cfg.Ring, ms)
	if err != nil {
		return nil, err
	}
	if len(n.rings) >= 16 {
		clear(n.rings) // old sets are rarely needed again
	}
	n.rings[key] = r
	return r, nil
}

// Leave starts this node's leave: it leaves the target ring at once and
// hands every partition it holds to the new owners; Left is closed when it
// is done. Idempotent.
func (n *Node) Leave() error {
	if err := n.members.MarkLeaving(); err != nil {
		if errors.Is(err, ErrNotSupported) {
			return fmt.Errorf("%w: %w", quorum.ErrBadRequest, err)
		}
		return err
	}
	n.log.Info("leaving the cluster: handing off partitions")
	return n.refresh()
}

// Left is closed once this node has handed everything off after Leave and
// recorded itself left; the process should then stop.
func (n *Node) Left() <-chan struct{} { return n.left }

func (n *Node) finishLeave() {
	if err := n.members.MarkLeft(); err != nil {
		n.log.Error("cannot record the leave", "err", err)
		return
	}
	n.log.Info("left the cluster")
	n.leftOnce.Do(func() { close(n.left) })
}

// Remove takes a dead member out of the cluster for good; its partitions
// are rebuilt on their new owners from the surviving replicas.
func (n *Node) Remove(name string) error {
	err := n.members.Remove(name)
	switch {
	case errors.Is(err, ErrUnknownMember), errors.Is(err, ErrNotSupported):
		return fmt.Errorf("%w: %w", quorum.ErrBadRequest, err)
	case errors.Is(err, ErrMemberAlive):
		return fmt.Errorf("%w: %w", dhttp.ErrConflict, err)
	case err != nil:
		return err
	}
	n.log.Info("member removed", "peer", name)
	return n.refresh()
}

// nodeMembers adapts the node to quorum.Members and antientropy.Members.
type nodeMembers Node

func (m *nodeMembers) Ring() *ring.Ring { return (*Node)(m).ring() }
func (m *nodeMembers) Owners(p, n int) (walk []string, serving int, pending []string) {
	return m.view.Load().Place(p, n)
}
func (m *nodeMembers) Steady() bool { return m.view.Load().Steady() }
func (m *nodeMembers) Alive(name string) bool {
	return name == m.cfg.Name || m.members.Alive(name)
}

// nodeTransfer adapts the node to transfer.Members.
type nodeTransfer Node

func (m *nodeTransfer) View() *ownership.View  { return m.view.Load() }
func (m *nodeTransfer) Alive(name string) bool { return (*nodeMembers)(m).Alive(name) }
func (m *nodeTransfer) Settle(members []string, extra ownership.Set) error {
	if err := m.members.Settle(members, extra.String()); err != nil {
		return err
	}
	return (*Node)(m).refresh()
}
func (m *nodeTransfer) Leaving() bool {
	for _, x := range m.members.Members() {
		if x.Name == m.cfg.Name {
			return x.Status == "leaving"
		}
	}
	return false
}

// nodeBuckets adapts the node to quorum.Buckets.
type nodeBuckets Node

func (b *nodeBuckets) Props(bucket string) quorum.Props { return (*Node)(b).BucketProps(bucket) }

// Get implements http.Backend.
func (n *Node) Get(ctx context.Context, bucket, key string, o quorum.ReadOptions) (*quorum.Object, error) {
	return n.coord.Get(ctx, bucket, key, o)
}

// Put implements http.Backend.
func (n *Node) Put(ctx context.Context, bucket, key string, vctx versioning.Context, v versioning.Value, o quorum.WriteOptions) (*quorum.Object, error) {
	return n.coord.Put(ctx, bucket, key, vctx, v, o)
}

// ListKeys implements http.Backend.
func (n *Node) ListKeys(ctx context.Context, bucket string, fn func(string) error) error {
	return n.coord.ListKeys(ctx, bucket, fn)
}

// ListBuckets implements http.Backend: buckets with data or properties.
func (n *Node) ListBuckets(ctx context.Context) ([]string, error) {
	bs, err := n.coord.ListBuckets(ctx)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, b := range bs {
		set[b] = true
	}
	for b := range *n.props.Load() {
		set[b] = true
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// BucketProps implements http.Backend.
func (n *Node) BucketProps(bucket string) quorum.Props {
	if p, ok := (*n.props.Load())[bucket]; ok {
		return p
	}
	return n.cfg.Defaults
}

// SetBucketProps implements http.Backend.
func (n *Node) SetBucketProps(bucket string, p quorum.Props) error {
	cur := n.storedProps(bucket)
	merged := p.WithDefaults(cur) // the fields p sets, over the stored ones
	if err := quorum.CheckDatatypeChange(cur, merged); err != nil {
		return err
	}
	full := merged.WithDefaults(n.cfg.Defaults)
	if err := full.Validate(n.resolvers.Valid); err != nil {
		return fmt.Errorf("%w: %w", quorum.ErrBadRequest, err)
	}
	raw, err := json.Marshal(merged)
	if err != nil {
		return err
	}
	if err := n.members.SetBucketProps(bucket, raw); err != nil {
		return err
	}
	return n.refresh()
}

// ResetBucketProps implements http.Backend.
func (n *Node) ResetBucketProps(bucket string) error {
	var raw []byte
	if dt := n.storedProps(bucket).Datatype; dt != "" {
		// A datatype stays: the bucket's keys hold its states.
		raw, _ = json.Marshal(quorum.Props{Datatype: dt})
	}
	if err := n.members.SetBucketProps(bucket, raw); err != nil {
		return err
	}
	return n.refresh()
}

// storedProps returns only the fields set for bucket, no defaults.
func (n *Node) storedProps(bucket string) quorum.Props {
	var p quorum.Props
	if raw, ok := n.members.BucketProps()[bucket]; ok {
		_ = json.Unmarshal(raw, &p) // a bad entry was logged by refresh
	}
	return p
}

// DefaultTimeout implements http.Backend.
func (n *Node) DefaultTimeout() time.Duration { return n.cfg.RequestTimeout }

// Ready implements http.Backend: a node is ready once its ring has
// members, and not while its storage refuses writes (the error says why,
// since when, and when the next reopen is tried).
func (n *Node) Ready() error {
	if v := n.view.Load(); v == nil || len(v.Target().Members()) == 0 {
		return errors.New("no members")
	}
	return n.store.Health().Err()
}
