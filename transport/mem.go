package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynamod/dynamod/internal/lifetime"
)

// MemNetwork is an in-process network of named nodes with fault injection,
// for multi-node tests. Nodes [MemNetwork.Join] it with a [Handler] and call
// each other through their [MemEndpoint].
//
// It behaves like the TCP transport seen from outside: every body is copied
// in both directions (nodes share no memory), a request runs its handler in
// a goroutine with a context carrying the caller's deadline (cancellation of
// the caller's ctx does not propagate, as over TCP), and the error kinds are
// the same. After Serve returns, the request body is overwritten: a handler
// that keeps it without copying breaks here as it would over TCP, which
// reuses the buffer.
//
// Faults:
//   - Unreachable (crashed, partitioned away, unknown): a call fails at once
//     with ErrUnreachable, like a refused or reset connection. Calls in
//     flight across a new partition or to/from a crashing node fail at once
//     too, for their callers. A request a crashing node had already sent
//     is still delivered to a live callee, as a real network delivers what
//     a process wrote before it died; [MemNetwork.Drain] waits for such
//     stragglers.
//   - Lost (dropped by a [Link], vetoed by a hook): the caller hears nothing
//     and gets its ctx error when ctx ends, like a lost packet. A lost
//     response means the handler did run.
//   - Delayed by a Link's Delay plus a random jitter. With jitter, messages
//     can overtake each other.
//
// One seed decides every fault: all random draws come from one math/rand/v2
// source, drawn under the network's lock in message order, so the same seed
// and the same message sequence give the same drops and delays.
//
// All methods are safe for concurrent use. Close ends every delivery
// goroutine.
type MemNetwork struct {
	done    chan struct{}  // closed by Close
	bg      lifetime.Group // delivery goroutines
	hookMu  sync.Mutex     // serializes hook calls, so hooks need no locking of their own
	start   time.Time
	timeout atomic.Int64 // default call timeout, ns
	logger  atomic.Pointer[slog.Logger]

	mu sync.Mutex
	// guarded by mu
	rng      *rand.Rand
	closed   bool
	nodes    map[string]*memNode // current incarnation by name
	group    map[string]int      // partition group by node name; nil: no partition
	links    map[[2]string]Link  // by {from, to}
	hooks    []func(*Msg) bool
	inflight map[*memCall]struct{}
	// delivering holds the ids of the calls whose delivery goroutine
	// runs (request, handler, response), for Drain.
	delivering map[uint64]struct{}
	lastID     uint64 // of the last call
	stats      map[statKey]int
	logLimit   int
	log        []LogEntry // ring buffer of the last logLimit entries
	logNext    int        // next slot of the ring buffer to write
}

// Link describes the faults of one direction of the path between two nodes.
// The zero Link is a perfect link.
type Link struct {
	// Drop is the probability, 0 to 1, that a message is lost.
	Drop float64
	// Delay is added to every message.
	Delay time.Duration
	// Jitter adds a uniformly random extra delay in [0, Jitter).
	Jitter time.Duration
}

// Msg is a message as hooks see it. It is the network's private copy: a
// hook may rewrite Body (and Err on a response); changes to the other fields
// are ignored.
type Msg struct {
	From, To string
	Kind     uint8
	Body     []byte
	Response bool
	// Err is a response's handler error text, "" on success.
	Err string
}

// LogEntry records what happened to one message.
type LogEntry struct {
	At       time.Duration // since NewMemNetwork
	From, To string
	Kind     uint8
	Response bool
	Size     int
	Fate     string // "sent", "delayed 20ms", "dropped", "vetoed", "unreachable", "late", "failed"
}

func (e LogEntry) String() string {
	dir := "request"
	if e.Response {
		dir = "response"
	}
	return fmt.Sprintf("%10v %s->%s %s kind=%d size=%d %s", e.At.Round(time.Microsecond), e.From, e.To, dir, e.Kind, e.Size, e.Fate)
}

// memNode is one incarnation of a node.
type memNode struct {
	name   string
	h      Handler
	ctx    context.Context // parent of its handlers' contexts; ends when it crashes
	cancel context.CancelFunc
	// crashed is guarded by the network's mu.
	crashed bool
}

// memCall is a call in flight. Whoever removes it from inflight sends its
// one result.
type memCall struct {
	id       uint64 // for logs, unique in the network
	from, to *memNode
	kind     uint8
	ch       chan callResult // capacity 1
}

type statKey struct {
	response bool
	kind     uint8
	fate     string
}

// NewMemNetwork returns an empty network whose faults are drawn from seed.
// Calls without a ctx deadline time out after 10s (see SetCallTimeout); the
// message log is off (see SetLogLimit).
func NewMemNetwork(seed uint64) *MemNetwork {
	n := &MemNetwork{
		done:       make(chan struct{}),
		start:      time.Now(),
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes:      make(map[string]*memNode),
		links:      make(map[[2]string]Link),
		inflight:   make(map[*memCall]struct{}),
		delivering: make(map[uint64]struct{}),
		stats:      make(map[statKey]int),
	}
	n.timeout.Store(int64(10 * time.Second))
	return n
}

// SetCallTimeout sets the timeout of calls whose ctx has no deadline.
func (n *MemNetwork) SetCallTimeout(d time.Duration) {
	if d > 0 {
		n.timeout.Store(int64(d))
	}
}

// SetLogger sets where the network logs recovered handler panics (default
// slog.Default()).
func (n *MemNetwork) SetLogger(l *slog.Logger) {
	if l != nil {
		n.logger.Store(l)
	}
}

// SetLogLimit keeps a log of the last limit messages (0 turns it off and
// clears it), for failure dumps; see Log.
func (n *MemNetwork) SetLogLimit(limit int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.logLimit = max(limit, 0)
	n.log, n.logNext = nil, 0
}

// Join adds a node that serves h and returns its endpoint. Joining a name
// again replaces the node: a running incarnation is crashed first, so this
// is how a test restarts a node after Crash. The old endpoint stays dead.
func (n *MemNetwork) Join(name string, h Handler) *MemEndpoint {
	ctx, cancel := context.WithCancel(context.Background())
	nd := &memNode{name: name, h: h, ctx: ctx, cancel: cancel}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		nd.crashed = true
		cancel()
	}
	if old := n.nodes[name]; old != nil && !old.crashed {
		n.crashLocked(old)
	}
	n.nodes[name] = nd
	return &MemEndpoint{n: n, node: nd}
}

// Crash stops a node: its handlers' contexts are canceled, its calls in
// flight (as caller or callee) fail with ErrUnreachable, and later calls to
// or from it fail the same way until the name joins again.
func (n *MemNetwork) Crash(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nd := n.nodes[name]; nd != nil && !nd.crashed {
		n.crashLocked(nd)
	}
}

func (n *MemNetwork) crashLocked(nd *memNode) {
	nd.crashed = true
	nd.cancel()
	err := unreachable(nd.name, errors.New("node crashed"))
	for c := range n.inflight {
		if c.from == nd || c.to == nd {
			n.failLocked(c, err)
		}
	}
}

// Partition splits the network: nodes in different groups cannot reach each
// other (calls fail with ErrUnreachable, and calls in flight between them
// fail at once). Nodes named in no group, including ones that join later,
// form one more group of their own. A name listed twice belongs to its last
// group. Partition replaces any earlier partition; link faults stay.
func (n *MemNetwork) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = make(map[string]int)
	for i, g := range groups {
		for _, name := range g {
			n.group[name] = i
		}
	}
	for c := range n.inflight {
		if !n.connectedLocked(c.from.name, c.to.name) {
			n.failLocked(c, unreachable(c.to.name, errors.New("partitioned")))
		}
	}
}

// Heal removes the partition and every link fault.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = nil
	clear(n.links)
}

// SetLink sets the faults of both directions between a and b.
func (n *MemNetwork) SetLink(a, b string, l Link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.setLinkLocked(a, b, l)
	n.setLinkLocked(b, a, l)
}

// SetLinkOneWay sets the faults of messages from one node to another
// (requests and responses alike).
func (n *MemNetwork) SetLinkOneWay(from, to string, l Link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.setLinkLocked(from, to, l)
}

func (n *MemNetwork) setLinkLocked(from, to string, l Link) {
	l.Drop = min(max(l.Drop, 0), 1)
	l.Delay = max(l.Delay, 0)
	l.Jitter = max(l.Jitter, 0)
	if l == (Link{}) {
		delete(n.links, [2]string{from, to})
		return
	}
	n.links[[2]string{from, to}] = l
}

// Hook adds f, called for every request and response that leaves a
// reachable node, in the order added, before link faults. f may rewrite
// m.Body; returning false drops the message. Hooks are called one at a time
// (never concurrently) without the network's lock held, so a hook may call
// other MemNetwork methods, but not Hook or Close.
func (n *MemNetwork) Hook(f func(m *Msg) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hooks = append(n.hooks, f)
}

// Stats returns message counts. Keys are "request.K" (calls made with kind
// K, reachable or not), "request.K.F" and "response.K.F" where the fate F
// is:
//
//	unreachable  refused: crashed, partitioned or unknown node (requests only)
//	vetoed       dropped by a hook
//	dropped      dropped by a link fault
//	delivered    a request reached its handler; a response reached its caller
//	late         a response whose caller had already given up or failed
//	panicked     a request whose handler panicked (recovered; the caller
//	             gets a *RemoteError, and the request also counts as
//	             delivered)
func (n *MemNetwork) Stats() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]int, len(n.stats))
	for k, v := range n.stats {
		dir := "request"
		if k.response {
			dir = "response"
		}
		key := dir + "." + strconv.Itoa(int(k.kind))
		if k.fate != "" {
			key += "." + k.fate
		}
		out[key] = v
	}
	return out
}

// Log returns the logged messages, oldest first (see SetLogLimit).
func (n *MemNetwork) Log() []LogEntry {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.log) < n.logLimit {
		return slices.Clone(n.log)
	}
	return append(slices.Clone(n.log[n.logNext:]), n.log[:n.logNext]...)
}

// Close fails every call in flight with ErrClosed, cancels every handler's
// context and waits for the delivery goroutines (so handlers must honour
// their ctx). Later calls fail with ErrClosed. Idempotent.
func (n *MemNetwork) Close() error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.done)
		for _, nd := range n.nodes {
			nd.cancel()
		}
		for c := range n.inflight {
			n.failLocked(c, ErrClosed)
		}
	}
	n.mu.Unlock()
	n.bg.Close()
	return nil
}

// MemEndpoint is one node's access to a MemNetwork.
type MemEndpoint struct {
	n    *MemNetwork
	node *memNode
}

var _ Caller = (*MemEndpoint)(nil)

// Name returns the node's name.
func (e *MemEndpoint) Name() string { return e.node.name }

// Call sends a request from this node; see [Caller] and [MemNetwork] for
// how faults show.
func (e *MemEndpoint) Call(ctx context.Context, to string, kind uint8, body []byte) ([]byte, error) {
	n := e.n
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(n.timeout.Load()))
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(to, err)
	}
	deadline, _ := ctx.Deadline()
	c, err := n.send(e.node, to, kind)
	if err != nil {
		return nil, err
	}
	m := &Msg{From: e.node.name, To: to, Kind: kind, Body: clonePacked(body)}
	if deliver, delay := n.decide(c, m); deliver {
		n.goLocked(c, func() { n.deliver(c, m, delay, deadline) })
	}
	select {
	case r := <-c.ch:
		return r.body, r.err
	case <-ctx.Done():
		n.forget(c)
		return nil, ctxError(to, ctx.Err())
	}
}

// send checks that the call can start and registers it.
func (n *MemNetwork) send(from *memNode, to string, kind uint8) (*memCall, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	n.stats[statKey{kind: kind}]++
	var why string
	dst := n.nodes[to]
	switch {
	case from.crashed:
		why = "calling node crashed"
	case dst == nil:
		why = "unknown node"
	case dst.crashed:
		why = "node crashed"
	case !n.connectedLocked(from.name, to):
		why = "partitioned"
	}
	if why != "" {
		n.recordLocked(from.name, to, kind, false, 0, "unreachable")
		return nil, unreachable(to, errors.New(why))
	}
	n.lastID++
	c := &memCall{id: n.lastID, from: from, to: dst, kind: kind, ch: make(chan callResult, 1)}
	n.inflight[c] = struct{}{}
	return c, nil
}

// decide runs the hooks and the link faults on a message of call c and
// reports whether and after what delay it is delivered. A lost message
// leaves c in flight: its caller waits for its ctx.
func (n *MemNetwork) decide(c *memCall, m *Msg) (deliver bool, delay time.Duration) {
	pass := n.runHooks(m)
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, live := n.inflight[c]; !live {
		if m.Response {
			n.recordLocked(m.From, m.To, m.Kind, true, len(m.Body), "late")
		}
		return false, 0
	}
	if !pass {
		n.recordLocked(m.From, m.To, m.Kind, m.Response, len(m.Body), "vetoed")
		return false, 0
	}
	if l, ok := n.links[[2]string{m.From, m.To}]; ok {
		if l.Drop > 0 && n.rng.Float64() < l.Drop {
			n.recordLocked(m.From, m.To, m.Kind, m.Response, len(m.Body), "dropped")
			return false, 0
		}
		delay = l.Delay
		if l.Jitter > 0 {
			delay += time.Duration(n.rng.Int64N(int64(l.Jitter)))
		}
	}
	if n.logLimit > 0 {
		fate := "sent"
		if delay > 0 {
			fate = "delayed " + delay.String()
		}
		n.logLocked(m.From, m.To, m.Kind, m.Response, len(m.Body), fate)
	}
	return true, delay
}

// goLocked starts a delivery goroutine for c, unless c is no longer in
// flight: a call its caller gave up on, or one failed by a crash, a
// partition or Close, is not delivered (its handler must not run). The
// check needs n.mu, so it stays here; the group refuses on its own once
// Close has begun, but a live c implies a network not yet closed.
func (n *MemNetwork) goLocked(c *memCall, f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, live := n.inflight[c]; !live {
		return
	}
	n.delivering[c.id] = struct{}{}
	started := n.bg.Go(func() {
		defer func() {
			n.mu.Lock()
			delete(n.delivering, c.id)
			n.mu.Unlock()
		}()
		f()
	})
	if !started {
		delete(n.delivering, c.id)
	}
}

// Drain waits until every message of the calls made before it was called
// has been delivered or lost: each request's handler has run (or the
// request was dropped) and its response has arrived or been dropped. It
// returns ctx's error if ctx ends first. Calls made meanwhile are not
// waited for. A test calls it before it reads state that a message still
// on its way could change, e.g. after a crash: the crashed node's
// requests in flight still reach live nodes.
func (n *MemNetwork) Drain(ctx context.Context) error {
	n.mu.Lock()
	upto := n.lastID
	n.mu.Unlock()
	for {
		n.mu.Lock()
		busy := false
		for id := range n.delivering {
			if id <= upto {
				busy = true
				break
			}
		}
		n.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// deliver carries a request to its handler and the response back.
func (n *MemNetwork) deliver(c *memCall, m *Msg, delay time.Duration, deadline time.Time) {
	if !n.wait(delay, c.to.ctx.Done()) {
		return
	}
	n.mu.Lock()
	if c.to.crashed || n.closed {
		n.mu.Unlock()
		return
	}
	n.stats[statKey{kind: m.Kind, fate: "delivered"}]++
	n.mu.Unlock()

	hctx, cancel := context.WithDeadline(c.to.ctx, deadline)
	resp, err := n.serve(hctx, c, m)
	cancel()
	rm := &Msg{From: m.To, To: m.From, Kind: m.Kind, Response: true}
	if err != nil {
		rm.Err = err.Error()
	} else {
		rm.Body = clonePacked(resp)
	}
	// The body was valid only during Serve, and TCP reuses the buffer: make
	// a handler that kept it fail loudly in tests.
	for i := range m.Body {
		m.Body[i] = 0xdb
	}

	deliver, delay := n.decide(c, rm)
	if !deliver || !n.wait(delay, nil) {
		return
	}
	res := callResult{body: rm.Body}
	if rm.Err != "" {
		res = callResult{err: &RemoteError{Msg: rm.Err}}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, live := n.inflight[c]; !live {
		n.recordLocked(rm.From, rm.To, rm.Kind, true, len(rm.Body), "late")
		return
	}
	n.stats[statKey{response: true, kind: rm.Kind, fate: "delivered"}]++
	delete(n.inflight, c)
	c.ch <- res
}

// serve runs the handler of c's callee on request m, recovering a panic as
// TCP does: logged with the request's identity, counted in Stats as fate
// "panicked", answered as an error.
func (n *MemNetwork) serve(ctx context.Context, c *memCall, m *Msg) (resp []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			n.mu.Lock()
			n.recordLocked(m.From, m.To, m.Kind, false, len(m.Body), "panicked")
			n.mu.Unlock()
			log := n.logger.Load()
			if log == nil {
				log = slog.Default()
			}
			log.Error("handler panicked", "component", "transport", "peer", m.From, "node", m.To,
				"kind", m.Kind, "request_id", c.id, "body_bytes", len(m.Body), "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, panicError(m.Kind, p)
		}
	}()
	return c.to.h.Serve(ctx, m.From, m.Kind, m.Body)
}

// wait sleeps for d unless the network closes or abort is closed first.
func (n *MemNetwork) wait(d time.Duration, abort <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.done:
		return false
	case <-abort:
		return false
	}
}

func (n *MemNetwork) runHooks(m *Msg) bool {
	n.mu.Lock()
	hooks := n.hooks
	n.mu.Unlock()
	if len(hooks) == 0 {
		return true
	}
	n.hookMu.Lock()
	defer n.hookMu.Unlock()
	for _, f := range hooks {
		if !f(m) {
			return false
		}
	}
	return true
}

// forget drops a call whose caller gave up.
func (n *MemNetwork) forget(c *memCall) {
	n.mu.Lock()
	delete(n.inflight, c)
	n.mu.Unlock()
}

func (n *MemNetwork) failLocked(c *memCall, err error) {
	delete(n.inflight, c)
	c.ch <- callResult{err: err}
	n.logLocked(c.from.name, c.to.name, c.kind, false, 0, "failed: "+err.Error())
}

func (n *MemNetwork) connectedLocked(a, b string) bool {
	if n.group == nil {
		return true
	}
	ga, ok := n.group[a]
	if !ok {
		ga = -1
	}
	gb, ok := n.group[b]
	if !ok {
		gb = -1
	}
	return ga == gb
}

// recordLocked counts a message's fate and logs it.
func (n *MemNetwork) recordLocked(from, to string, kind uint8, response bool, size int, fate string) {
	n.stats[statKey{response: response, kind: kind, fate: fate}]++
	n.logLocked(from, to, kind, response, size, fate)
}

func (n *MemNetwork) logLocked(from, to string, kind uint8, response bool, size int, fate string) {
	if n.logLimit == 0 {
		return
	}
	e := LogEntry{At: time.Since(n.start), From: from, To: to, Kind: kind, Response: response, Size: size, Fate: fate}
	if len(n.log) < n.logLimit {
		n.log = append(n.log, e)
		return
	}
	n.log[n.logNext] = e
	n.logNext = (n.logNext + 1) % n.logLimit
}

// clonePacked copies b; an empty slice becomes nil, as over TCP.
func clonePacked(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}
