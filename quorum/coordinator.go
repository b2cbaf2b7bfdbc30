package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynamod/dynamod/internal/lifetime"
	"github.com/dynamod/dynamod/pbs"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Members is the coordinator's view of the cluster.
type Members interface {
	// Ring returns the target ring (immutable): the members that own
	// partitions once transfers are done. Safe for concurrent use.
	Ring() *ring.Ring
	// Owners returns where partition p is served for an n_val of n while
	// members change (ownership.View.Place): walk is used like a ring walk
	// (its first serving entries serve p, fewer than min(n, members) while
	// a new owner has no holder to stand in for it), pending are target
	// primaries still receiving p, which get every write but whose answers
	// do not count. In a steady cluster walk is Ring().Walk(p), serving is
	// min(n, members) and pending is nil. The slices are shared: callers
	// must not modify them. It must not block.
	Owners(p, n int) (walk []string, serving int, pending []string)
	// Alive reports whether a member answers, as far as this node knows.
	// It must not block; the local node is always alive.
	Alive(name string) bool
}

// Transport sends a request to a peer and returns its reply. Implemented by
// transport.TCP and transport.MemEndpoint. Call blocks until the reply, an
// error, or ctx's end; it is safe for concurrent use; the caller keeps body.
type Transport interface {
	Call(ctx context.Context, to string, kind uint8, body []byte) ([]byte, error)
}

// AsyncTransport is a Transport that can also send without waiting:
// Go calls done with the reply, or the error, exactly once, possibly on a
// goroutine that receives the replies of many calls (transport.TCP's
// connection read loop), so done must not block; body must not change
// until done runs. The coordinator fans requests out with it when its
// transport has it (see Coordinator.send).
type AsyncTransport interface {
	Go(ctx context.Context, to string, kind uint8, body []byte, done func([]byte, error))
}

// Buckets gives bucket properties, defaults applied. It must not block.
type Buckets interface {
	Props(bucket string) Props
}

// ChangeFunc observes every change of a local object (client write, replica
// merge, repair, handoff, reap): old is the state before (zero if none), new
// after (zero after a physical delete). Anti-entropy keeps its trees with
// it. It is called with the key's lock held and must not block.
type ChangeFunc func(k storage.Key, old, new versioning.Clock)

// Config configures a Coordinator.
type Config struct {
	// Self is this node's member name. Required.
	Self string
	// ReplicaTimeout bounds work that outlives a client request: the
	// replication tail after W acks, read repair, handoff calls. Default 5s.
	ReplicaTimeout time.Duration
	// HandoffInterval is the mean gap between hint delivery rounds,
	// jittered ±20%. Default 5s.
	HandoffInterval time.Duration
	// HintedHandoff enables delivery of hints. Default true; false leaves
	// hints stored (anti-entropy then repairs).
	HintedHandoff bool
	// SpeculativeRead is how long a read waits for the R replicas it
	// asked before it asks the other targets too (Cassandra's
	// speculative retry). 0: adaptive, the SpeculativeQuantile of recent
	// replica reads between MinSpeculativeRead and
	// DefaultSpeculativeRead (speculate.go).
	SpeculativeRead time.Duration
	// DigestRead is the encoded object size (storage.ObjectSize) from
	// which a read that found the key on this node sends the other
	// replicas it asks the digest of its copy (versioning.Digest) instead
	// of asking for theirs: a replica whose copy has the same digest
	// answers without shipping it. Below it, a read fetches every asked
	// copy (a digest costs hashing the values on both nodes, about what
	// sending a small copy costs). 0: DefaultDigestRead; negative: never.
	DigestRead int
	// Now gives wall-clock time for last-modified stamps. Default time.Now.
	Now func() time.Time
	// Seed seeds the random draws of the coordinator's timers (the
	// hand-off loop's jitter), so that a seeded test replays them; 0 draws
	// a random seed.
	Seed uint64
	// OnChange, if set, observes local object changes.
	OnChange ChangeFunc
	// Resolvers, if set, resolves siblings on reads for buckets whose
	// resolver property asks for it.
	Resolvers Resolvers
	// PBS bounds the staleness samples (Coordinator.Latencies). Zero
	// fields take pbs.DefaultConfig's.
	PBS      pbs.Config
	Logger   *slog.Logger          // nil: discard
	Registry prometheus.Registerer // nil: metrics kept but not registered
}

// DefaultSpeculativeRead is the adaptive speculation delay's ceiling and
// its value until enough replica reads are measured: well above a replica
// read's p99 on a busy node (a few ms), well below a client's patience.
const DefaultSpeculativeRead = 50 * time.Millisecond

// DefaultDigestRead is Config.DigestRead's default: reads of copies whose
// encoding has at least this many bytes ask the other replicas for a
// digest match (docs/benchmarks.md, "Digest reads").
const DefaultDigestRead = 4 << 10

// DefaultConfig returns the production defaults; Self must still be set.
func DefaultConfig() Config {
	return Config{ReplicaTimeout: 5 * time.Second, HandoffInterval: 5 * time.Second, HintedHandoff: true,
		DigestRead: DefaultDigestRead}
}

// Validate reports every bad field.
func (c Config) Validate() error {
	var errs []error
	if c.Self == "" {
		errs = append(errs, errors.New("quorum: Self must be set"))
	}
	if c.ReplicaTimeout <= 0 {
		errs = append(errs, fmt.Errorf("quorum: ReplicaTimeout must be > 0, got %v", c.ReplicaTimeout))
	}
	if c.HandoffInterval <= 0 {
		errs = append(errs, fmt.Errorf("quorum: HandoffInterval must be > 0, got %v", c.HandoffInterval))
	}
	if err := c.PBS.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("quorum: PBS: %w", err))
	}
	return errors.Join(errs...)
}

// Coordinator runs GET/PUT/DELETE for clients on this node, serves replica
// requests from peers, and delivers hints. Safe for concurrent use.
type Coordinator struct {
	cfg     Config
	store   *storage.Store
	members Members
	tr      Transport
	buckets Buckets
	actors  *actorSource
	log     *slog.Logger
	m       *metrics

	// bg runs every goroutine the coordinator starts (peer calls,
	// replication tails, read repair); Close stops and waits for it.
	bg lifetime.Group
	// life ends at Close; stop ends it.
	life context.Context
	stop context.CancelFunc
	// reads counts reads, for read_repair_chance (fullRead).
	reads atomic.Uint64
	// pbs keeps the replica calls' one-way latencies (pbs.go); stampers
	// are the peers that stamp their replies.
	pbs      *pbs.Samples
	stampers peerSet
	// noDigest are the peers that refused a read with a digest (an
	// earlier version); reads ask them for their copy.
	noDigest peerSet
	// spec keeps replica read round trips for the adaptive speculation
	// delay (speculate.go).
	spec speculation
	// bgShared is the background context operations share (bgContext);
	// bgMu serializes replacing it.
	bgShared atomic.Pointer[sharedBG]
	bgMu     sync.Mutex
}

// New builds a coordinator. It loads (or creates) the node's actor lease
// from store.
func New(cfg Config, store *storage.Store, members Members, tr Transport, buckets Buckets) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	actors, err := newActorSource(store)
	if err != nil {
		return nil, err
	}
	life, stop := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg: cfg, store: store, members: members, tr: tr, buckets: buckets, actors: actors,
		log: log.With("component", "quorum", "node", cfg.Self), m: newMetrics(cfg.Registry),
		life: life, stop: stop, pbs: pbs.NewSamples(cfg.PBS),
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dynamod_quorum_speculative_read_delay_seconds",
			Help: "How long a read waits for the replicas it asked before it asks the others (adaptive unless fixed).",
		}, func() float64 { return c.SpeculativeDelay().Seconds() }))
	}
	return c, nil
}

// Close stops background work and waits for it. Idempotent.
func (c *Coordinator) Close() error {
	c.bg.Stop() // no new work, so none starts on a canceled life
	c.stop()
	c.bg.Close()
	return nil
}

// send sends a request to the node named to and gives its reply, or the
// error, to done, exactly once, without waiting for it: over an
// AsyncTransport done runs on whichever goroutine receives the reply and
// must not block (a fan-out then costs no goroutine per call); over any
// other Transport a pooled goroutine waits for the reply. Close waits
// for every done either way.
func (c *Coordinator) send(ctx context.Context, to string, kind uint8, body []byte, done func([]byte, error)) {
	at, async := c.tr.(AsyncTransport)
	if !async {
		if !c.bg.GoPooled(func() { done(c.tr.Call(ctx, to, kind, body)) }) {
			done(nil, errClosed)
		}
		return
	}
	if !c.bg.Hold() {
		done(nil, errClosed)
		return
	}
	at.Go(ctx, to, kind, body, func(b []byte, err error) {
		defer c.bg.Release()
		done(b, err)
	})
}

// errClosed is what work refused after Close reports.
var errClosed = errors.New("quorum: coordinator closed")

// placement is where a key lives right now.
type placement struct {
	key  storage.Key
	walk []string // preference order (Members.Owners)
	n    int      // replicas: min(n_val, owners)
	// targets serve the key; pending receive its writes without counting.
	targets []target
	pending []target
	// unhinted are down primaries with no fallback left.
	unhinted []string
}

func (c *Coordinator) place(bucket, key string, nval int) placement {
	h := ring.Hash(bucket, key)
	r := c.members.Ring()
	walk, n, pending := c.members.Owners(r.Partition(h), nval)
	p := placement{key: storage.Key{Hash: h, Bucket: bucket, Key: key}, walk: walk, n: n}
	p.targets, p.unhinted = sloppyTargets(walk, n, c.alive)
	for _, m := range pending {
		if c.alive(m) && !p.isTarget(m) {
			p.pending = append(p.pending, target{node: m, pending: true})
		}
	}
	return p
}

func (c *Coordinator) alive(node string) bool {
	return node == c.cfg.Self || c.members.Alive(node)
}

// resolveQuorum resolves a per-request quorum against the bucket: it must
// fit n_val (else ErrBadRequest); the count is then capped at the replicas
// that exist (an under-replicated cluster), and at least min.
func resolveQuorum(name string, q, def Quorum, nval, n, minimum int) (int, error) {
	c, err := q.Resolve(nval, def)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrBadRequest, name, err)
	}
	return max(min(c, n), minimum), nil
}

func unavailable(op string, t *tally, reason string) *UnavailableError {
	return &UnavailableError{
		Op: op, Want: t.need, Got: t.ok, WantPrimary: t.needPrimary, GotPrimary: t.okPrimary,
		WantDurable: t.needDurable, GotDurable: t.okDurable, Reason: reason,
	}
}

// reasonStorage is the Reason of the UnavailableError a node answers when
// its storage refused a write (storage.ErrWriteFailed: a full disk, an I/O
// error; the node's /ready says which, see storage.Store.Health). Nothing
// was written there, so another target can take the write.
const reasonStorage = "storage refuses writes"

// storageRefused returns the UnavailableError for a write that this node's
// storage refused, with t's counts if t is not nil, or nil if err is not
// such a refusal. Only the reason reaches the client or peer: the cause,
// with its file names, is in the node's log and /ready.
func storageRefused(op string, t *tally, err error) *UnavailableError {
	if !errors.Is(err, storage.ErrWriteFailed) {
		return nil
	}
	if t == nil {
		return &UnavailableError{Op: op, Want: 1, Reason: reasonStorage}
	}
	return unavailable(op, t, reasonStorage)
}

// ctxErrReason names why a wait ended early.
func ctxErrReason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "canceled"
}

// bgContext is the context for work that outlives a request: bounded by
// ReplicaTimeout (less at most bgShare) and ended by Close. Operations
// started within bgShare of each other share one: a context with its own
// timer per operation, registered with and removed from the coordinator's
// life, was measurable per request, and the work it bounds (the replies
// and acks after the answer, a read repair) only needs a bound, not its
// own. It has no cancel of its own: it ends at its deadline or at Close,
// and every user waits for what it started anyway.
func (c *Coordinator) bgContext() context.Context {
	now := time.Now()
	if b := c.bgShared.Load(); b != nil && now.Before(b.until) {
		return b.ctx
	}
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if b := c.bgShared.Load(); b != nil && now.Before(b.until) {
		return b.ctx
	}
	b := &sharedBG{until: now.Add(bgShare)}
	b.ctx, b.cancel = context.WithTimeout(c.life, c.cfg.ReplicaTimeout)
	c.bgShared.Store(b)
	return b.ctx
}

// bgShare is how long operations keep sharing one background context.
const bgShare = 100 * time.Millisecond

// sharedBG is a background context shared by the operations of one
// bgShare interval. cancel runs at its deadline (its timer) or at Close
// (through the coordinator's life); it is kept so nothing leaks it.
type sharedBG struct {
	ctx    context.Context
	cancel context.CancelFunc
	until  time.Time
}
