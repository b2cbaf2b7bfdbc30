// Package transfer moves partitions between members when the member set
// changes (docs/design.md, "Membership changes"). Each node runs one
// [Manager]. A node that owns partitions it does not hold yet (package
// ownership: it joined, or the ring moved a partition to it) pulls each of
// them, page by page, from a member that holds it, merging every object
// into its own store; once it holds them all it checks each against its
// source (a Merkle exchange when anti-entropy runs, else a second pull) and
// settles: from then on it serves them. A node that holds partitions it no
// longer owns releases each once every new owner holds it. A leaving node
// is done when every partition it held is held by its new owners.
//
// Pulls are throttled (partitions at once, bytes per second, both per
// node) and resumable: the partitions done and the cursor of each one in
// progress are kept in the node's metadata, so a restart of either side
// goes on where it stopped. Objects are merged with Sync, so a page that
// arrives twice changes nothing, and handoff bypasses the sibling and size
// limits of client writes.
package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynamod/dynamod/internal/ratelimit"
	"github.com/dynamod/dynamod/internal/wire"
	"github.com/dynamod/dynamod/ownership"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// KindPage is the node-to-node message kind of a page request. The node
// routes every kind >= KindBase here.
const (
	KindBase     uint8 = 64
	KindPage           = KindBase
	KindProgress       = KindBase + 1 // this node's inbound transfers, as JSON
)

// Local is this node's replica store (quorum.Coordinator implements it).
type Local interface {
	// ScanLocal calls fn for every object with lo <= Hash <= hi, in hash
	// order. fn's error stops the scan and is returned.
	ScanLocal(lo, hi uint64, fn func(k storage.Key, c versioning.Clock) error) error
	// MergeLocal syncs c into the local state of k, bypassing limits.
	MergeLocal(k storage.Key, c versioning.Clock) error
	// ReleaseLocal drops the local copy of k unless this node is one of
	// its replicas or owes it to another node; it reports whether it did.
	ReleaseLocal(k storage.Key) (bool, error)
}

// Members is this node's view of the cluster.
type Members interface {
	// View returns the current ownership view. It must not block.
	View() *ownership.View
	// Alive reports whether a member answers. It must not block.
	Alive(name string) bool
	// Settle publishes what this node holds: the target's member set and
	// the extra partitions it still holds beyond that ring's share.
	Settle(members []string, extra ownership.Set) error
	// Leaving reports whether this node is leaving the cluster.
	Leaving() bool
}

// Transport reaches peers (transport.TCP, transport.MemEndpoint).
type Transport interface {
	Call(ctx context.Context, to string, kind uint8, body []byte) ([]byte, error)
}

// Meta keeps the resume state (storage.Store implements it).
type Meta interface {
	GetMeta(name string) ([]byte, error)
	PutMeta(name string, v []byte) error
}

// Config configures a Manager.
type Config struct {
	// Self is this node's member name. Required.
	Self string
	// N is the replica count transfers are made for: every partition of
	// which this node is among the first N of the target walk. Default 3.
	N int
	// Concurrency bounds the partitions this node pulls at once and the
	// pages it serves at once. Default 2.
	Concurrency int
	// BytesPerSecond bounds the bytes this node pulls per second; 0 means
	// unlimited.
	BytesPerSecond int
	// PageBytes is the size a page is cut at (a larger object still
	// travels, alone). Default 1 MiB.
	PageBytes int
	// Interval is how often the manager checks for work when nothing
	// changed. Default 1s.
	Interval time.Duration
	// ReleaseDelay is how long a partition must have been releasable (every
	// new owner holds it) before this node drops its copy, so that nodes
	// whose view lags stop asking it first. Default 10s.
	ReleaseDelay time.Duration
	// CallTimeout bounds one page request. Default 10s.
	CallTimeout time.Duration
	// Verify, if set, checks partition p against peer after it was pulled
	// and repairs both (an anti-entropy exchange). nil: p is pulled a
	// second time instead.
	Verify func(ctx context.Context, p int, peer string) error
	// OnLeft is called once when this node is leaving and every partition
	// it held is held by its new owners.
	OnLeft func()
	// Range returns the inclusive hash range of partition p, and Partition
	// the partition of a hash. Required.
	Range     func(p int) (lo, hi uint64)
	Partition func(hash uint64) int
	Logger    *slog.Logger
	Registry  prometheus.Registerer
}

// Defaults.
func (c *Config) defaults() {
	if c.N <= 0 {
		c.N = 3
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	if c.PageBytes <= 0 {
		c.PageBytes = 1 << 20
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.ReleaseDelay <= 0 {
		c.ReleaseDelay = 10 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Progress is one inbound transfer as /cluster shows it.
type Progress struct {
	Partition int    `json:"partition"`
	From      string `json:"from"`
	To        string `json:"to"`
	Keys      int64  `json:"keys"`
	Bytes     int64  `json:"bytes"`
	// State is "waiting" (not started, or its source is busy or down),
	// "receiving", "verifying" or "done" (waiting for the others).
	State string `json:"state"`
}

// Manager runs this node's transfers. Safe for concurrent use.
type Manager struct {
	cfg     Config
	local   Local
	members Members
	tr      Transport
	meta    Meta
	log     *slog.Logger
	m       *metrics
	limit   *ratelimit.Limiter
	notify  chan struct{}
	serving chan struct{} // semaphore of pages being served

	// mu guards the fields below.
	mu sync.Mutex
	// st is the resume state for the target in st.Target.
	st resume
	// progress of this node's inbound transfers, by partition.
	progress map[int]*Progress
	// releasable records since when each extra partition was releasable.
	releasable map[int]time.Time
	lastSweep  time.Time
	left       bool
}

// resume is what survives a restart: the target the work is for, the
// partitions received (and verified) for it, and the cursor of each one
// in progress.
type resume struct {
	Target   []string         `json:"target"`
	Done     []int            `json:"done"`
	Verified []int            `json:"verified"`
	Cursor   map[int]uint64   `json:"cursor"`
	Source   map[int]string   `json:"source"`
	Stats    map[int][2]int64 `json:"stats"`
}

const metaKey = "transfer"

// New returns a manager; Run starts it.
func New(cfg Config, local Local, members Members, tr Transport, meta Meta) (*Manager, error) {
	if cfg.Self == "" || cfg.Range == nil || cfg.Partition == nil {
		return nil, errors.New("transfer: Self, Range and Partition must be set")
	}
	cfg.defaults()
	m := &Manager{
		cfg: cfg, local: local, members: members, tr: tr, meta: meta,
		log:    cfg.Logger.With("component", "transfer", "node", cfg.Self),
		m:      newMetrics(cfg.Registry),
		limit:  ratelimit.New(cfg.BytesPerSecond),
		notify: make(chan struct{}, 1), serving: make(chan struct{}, cfg.Concurrency),
		progress: map[int]*Progress{}, releasable: map[int]time.Time{},
	}
	if b, err := meta.GetMeta(metaKey); err == nil {
		if err := json.Unmarshal(b, &m.st); err != nil {
			m.log.Warn("ignoring unreadable transfer state", "err", err)
			m.st = resume{}
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("transfer: load state: %w", err)
	}
	return m, nil
}

// N returns the replica count transfers are made for.
func (m *Manager) N() int { return m.cfg.N }

// Notify tells the manager the view changed. It does not block.
func (m *Manager) Notify() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// Progress lists this node's inbound transfers that are not finished,
// by partition.
func (m *Manager) Progress() []Progress {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Progress, 0, len(m.progress))
	for _, p := range m.progress {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Progress) int { return a.Partition - b.Partition })
	return out
}

// PeerProgress asks peer for its inbound transfers (its Progress).
func (m *Manager) PeerProgress(ctx context.Context, peer string) ([]Progress, error) {
	b, err := m.tr.Call(ctx, peer, KindProgress, nil)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || b[0] != stOK {
		_, err := decodePageReply(b) // the error reply
		return nil, err
	}
	var out []Progress
	if err := json.Unmarshal(b[1:], &out); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	return out, nil
}

// Run works until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		m.step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.notify:
		}
	}
}

// step does one round: receive what this node needs, settle, release, and
// finish a leave.
func (m *Manager) step(ctx context.Context) {
	v := m.members.View()
	self := m.cfg.Self
	target := v.Target().Members()
	switch {
	case slices.Contains(target, self) && !v.SettledAt(self):
		m.receive(ctx, v)
	case m.members.Leaving():
		if !slices.Contains(target, self) {
			// Only a view that already has this node out of the target
			// can tell whether its partitions are handed off.
			m.finishLeave(v)
		}
		return
	default:
		m.mu.Lock()
		m.progress = map[int]*Progress{}
		m.mu.Unlock()
	}
	m.release(v)
}

// receive pulls every partition this node needs under v's target, then
// verifies them and settles.
func (m *Manager) receive(ctx context.Context, v *ownership.View) {
	target := v.Target().Members()
	needs := v.Needs(m.cfg.Self, m.cfg.N)
	m.mu.Lock()
	if !slices.Equal(m.st.Target, target) {
		// Keep only the work still needed: a partition received for an
		// earlier target stays received, since this node got its writes
		// as a pending owner all along (the verification catches a gap).
		keep := func(p int) bool { return !slices.Contains(needs, p) }
		m.st.Done = slices.DeleteFunc(m.st.Done, keep)
		m.st.Verified = nil
		for p := range m.st.Cursor {
			if keep(p) {
				delete(m.st.Cursor, p)
			}
		}
		m.st.Target = target
	}
	if m.st.Cursor == nil {
		m.st.Cursor, m.st.Source, m.st.Stats = map[int]uint64{}, map[int]string{}, map[int][2]int64{}
	}
	m.progress = map[int]*Progress{}
	var todo []int
	for _, p := range needs {
		pr := &Progress{Partition: p, To: m.cfg.Self, State: "waiting"}
		if s, ok := m.st.Stats[p]; ok {
			pr.Keys, pr.Bytes = s[0], s[1]
		}
		switch {
		case slices.Contains(m.st.Verified, p):
			pr.State = "done"
		case slices.Contains(m.st.Done, p):
			pr.State = "done"
			todo = append(todo, p)
		default:
			todo = append(todo, p)
		}
		m.progress[p] = pr
	}
	m.mu.Unlock()

	// Pull what is not received yet, Concurrency runs at once.
	sem := make(chan struct{}, m.cfg.Concurrency)
	var wg sync.WaitGroup
	failed := false
	var fmu sync.Mutex
	m.mu.Lock()
	undone := slices.DeleteFunc(slices.Clone(todo), func(p int) bool { return slices.Contains(m.st.Done, p) })
	m.mu.Unlock()
	for _, run := range m.runs(v, undone) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := m.pullAny(ctx, v, run, false); err != nil {
				fmu.Lock()
				failed = true
				fmu.Unlock()
				m.log.Debug("partitions not received yet", "first", run[0], "partitions", len(run), "err", err)
			}
		})
	}
	wg.Wait()
	if failed || ctx.Err() != nil {
		m.save()
		return
	}
	// Verify each against a holder: writes coordinated by nodes whose view
	// did not list this node as pending yet may have missed it.
	for _, p := range todo {
		if ctx.Err() != nil {
			return
		}
		if err := m.verify(ctx, v, p); err != nil {
			m.log.Debug("partition not verified yet", "partition", p, "err", err)
			m.save()
			return
		}
	}
	next := v.Settle(m.cfg.Self, m.cfg.N)
	if err := m.members.Settle(target, next.Extra); err != nil {
		m.log.Warn("cannot settle", "err", err)
		return
	}
	m.m.settles.Inc()
	m.log.Info("received every partition; serving them", "partitions", len(needs), "members", len(target), "extra", next.Extra.Len())
	m.mu.Lock()
	m.progress = map[int]*Progress{}
	m.st = resume{Target: target}
	m.mu.Unlock()
	m.save()
}

// maxRun bounds the partitions one pull stream covers, so that a large
// transfer still spreads over Concurrency streams.
const maxRun = 64

// runs groups partitions (increasing) into runs of consecutive partitions
// with the same sources: one stream of pages covers a run's hash range,
// which makes a transfer of many small or empty partitions a few requests.
func (m *Manager) runs(v *ownership.View, parts []int) [][]int {
	var out [][]int
	var last []string
	for i, p := range parts {
		srcs := v.Sources(p, m.cfg.N, m.cfg.Self)
		if i > 0 && p == parts[i-1]+1 && slices.Equal(srcs, last) && len(out[len(out)-1]) < maxRun {
			out[len(out)-1] = append(out[len(out)-1], p)
			continue
		}
		out = append(out, []int{p})
		last = srcs
	}
	return out
}

// pullAny pulls a run of partitions (which share their sources) from the
// sources in order until one succeeds.
func (m *Manager) pullAny(ctx context.Context, v *ownership.View, run []int, again bool) error {
	srcs := v.Sources(run[0], m.cfg.N, m.cfg.Self)
	if len(srcs) == 0 {
		// Nobody holds them: there is nothing to receive.
		for _, p := range run {
			m.markDone(p, "")
		}
		return nil
	}
	var errs []error
	for _, s := range srcs {
		if !m.members.Alive(s) {
			errs = append(errs, fmt.Errorf("%s is down", s))
			continue
		}
		err := m.pull(ctx, run, s, again)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", s, err))
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// pull receives a run of partitions from src page by page, resuming at
// the saved cursor when src is the saved source. A partition is done as
// soon as the pages have passed its end.
func (m *Manager) pull(ctx context.Context, run []int, src string, again bool) error {
	start := time.Now()
	lo, _ := m.cfg.Range(run[0])
	_, hi := m.cfg.Range(run[len(run)-1])
	m.mu.Lock()
	cursor := lo
	if c, ok := m.st.Cursor[run[0]]; ok && m.st.Source[run[0]] == src && !again && c >= lo && c <= hi {
		cursor = c
	}
	for _, p := range run {
		m.st.Source[p] = src
		pr := m.progress[p]
		if pr == nil {
			pr = &Progress{Partition: p, To: m.cfg.Self}
			m.progress[p] = pr
		}
		pr.From, pr.State = src, "receiving"
	}
	m.mu.Unlock()
	next := 0 // run[next] is the first partition not done yet
	for {
		body := encodePage(pageReq{partition: run[0], from: cursor, to: hi, max: m.cfg.PageBytes})
		cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
		b, err := m.tr.Call(cctx, src, KindPage, body)
		cancel()
		if err == nil {
			var page pageReply
			if page, err = decodePageReply(b); err == nil {
				err = m.merge(ctx, page, len(b))
			}
			if err == nil {
				m.mu.Lock()
				for next < len(run) {
					_, phi := m.cfg.Range(run[next])
					if !page.done && page.next <= phi {
						break
					}
					delete(m.st.Cursor, run[next])
					next++
				}
				if !page.done && next < len(run) {
					m.st.Cursor[run[next]] = page.next
				}
				m.mu.Unlock()
				for _, p := range run[:next] {
					m.markDone(p, src)
				}
				run, next = run[next:], 0
				if page.done || len(run) == 0 {
					break
				}
				cursor = page.next
				m.save()
				continue
			}
		}
		for _, p := range run {
			m.setState(p, "waiting")
		}
		return err
	}
	m.m.durations.Observe(time.Since(start).Seconds())
	return nil
}

// merge merges a page's objects into the local store, after the rate
// limit, and counts them to their partitions.
func (m *Manager) merge(ctx context.Context, page pageReply, size int) error {
	if err := m.limit.Wait(ctx, size); err != nil {
		return err
	}
	for _, o := range page.objects {
		if err := m.local.MergeLocal(o.key, o.clock); err != nil {
			return err
		}
	}
	m.m.keys.Add(float64(len(page.objects)))
	m.m.bytes.Add(float64(size))
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, o := range page.objects {
		p := m.cfg.Partition(o.key.Hash)
		pr := m.progress[p]
		if pr == nil {
			continue
		}
		pr.Keys++
		if i == 0 {
			pr.Bytes += int64(size) // the page's bytes, to its first partition
		}
		m.st.Stats[p] = [2]int64{pr.Keys, pr.Bytes}
	}
	return nil
}

func (m *Manager) setState(p int, s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pr := m.progress[p]; pr != nil {
		pr.State = s
	}
}

func (m *Manager) markDone(p int, src string) {
	m.mu.Lock()
	if !slices.Contains(m.st.Done, p) {
		m.st.Done = append(m.st.Done, p)
	}
	if pr := m.progress[p]; pr != nil {
		pr.State = "done"
		if src != "" {
			pr.From = src
		}
	}
	m.mu.Unlock()
	m.save()
}

// verify checks a received partition against a holder.
func (m *Manager) verify(ctx context.Context, v *ownership.View, p int) error {
	m.mu.Lock()
	if slices.Contains(m.st.Verified, p) {
		m.mu.Unlock()
		return nil
	}
	src := m.st.Source[p]
	m.mu.Unlock()
	srcs := v.Sources(p, m.cfg.N, m.cfg.Self)
	if len(srcs) == 0 {
		return nil
	}
	if src == "" || !slices.Contains(srcs, src) || !m.members.Alive(src) {
		src = srcs[0]
	}
	m.setState(p, "verifying")
	var err error
	if m.cfg.Verify != nil {
		err = m.cfg.Verify(ctx, p, src)
	}
	if m.cfg.Verify == nil || err != nil {
		// No tree to compare (anti-entropy off or not built yet): pull it
		// again; merging what is already here changes nothing.
		err = m.pullAny(ctx, v, []int{p}, true)
	}
	if err != nil {
		m.setState(p, "waiting")
		return err
	}
	m.mu.Lock()
	m.st.Verified = append(m.st.Verified, p)
	if pr := m.progress[p]; pr != nil {
		pr.State = "done"
	}
	m.mu.Unlock()
	return nil
}

// release drops the partitions this settled node has copies of but no
// business holding once they have been so for ReleaseDelay: extra
// partitions every new owner holds (View.Releasable), and strays, partitions
// it neither holds nor owns that have keys here anyway (received for a
// target that changed before it settled, written to it as a pending owner
// by a node whose view lagged). Then it publishes the extras that are left.
func (m *Manager) release(v *ownership.View) {
	self := m.cfg.Self
	if !v.SettledAt(self) {
		return
	}
	extra := v.Extra(self)
	now := time.Now()
	cands := map[int]bool{} // partition → is an extra
	for _, p := range extra.Slice() {
		if v.Releasable(self, p, m.cfg.N) {
			cands[p] = true
		}
	}
	m.mu.Lock()
	sweep := now.Sub(m.lastSweep) >= m.cfg.ReleaseDelay/2
	if sweep {
		m.lastSweep = now
	}
	m.mu.Unlock()
	if sweep {
		for p := range v.Target().Partitions() {
			if !v.Holds(self, p, m.cfg.N) && m.hasLocal(p) {
				cands[p] = false
			}
		}
	}
	var due []int
	m.mu.Lock()
	for p, since := range m.releasable {
		if _, ok := cands[p]; !ok && (extra.Has(p) || sweep) {
			delete(m.releasable, p) // no longer a candidate
			continue
		}
		if now.Sub(since) >= m.cfg.ReleaseDelay {
			due = append(due, p)
		}
	}
	for p := range cands {
		if _, ok := m.releasable[p]; !ok {
			m.releasable[p] = now
		}
	}
	m.mu.Unlock()
	if len(due) == 0 {
		return
	}
	slices.Sort(due)
	left := extra.Clone()
	for _, p := range due {
		n, kept, err := m.dropPartition(p)
		if err != nil {
			m.log.Warn("cannot release partition", "partition", p, "err", err)
			continue
		}
		m.log.Debug("released partition", "partition", p, "keys", n, "kept", kept, "extra", extra.Has(p))
		left = left.Remove(p)
		m.m.released.Inc()
		m.mu.Lock()
		delete(m.releasable, p)
		m.mu.Unlock()
	}
	if left.Len() == extra.Len() {
		return
	}
	if err := m.members.Settle(v.Target().Members(), left); err != nil {
		m.log.Warn("cannot publish released partitions", "err", err)
	}
}

// hasLocal reports whether this node has any key of partition p.
func (m *Manager) hasLocal(p int) bool {
	lo, hi := m.cfg.Range(p)
	found := false
	_ = m.local.ScanLocal(lo, hi, func(storage.Key, versioning.Clock) error {
		found = true
		return errPageFull // stop at the first key
	})
	return found
}

// dropPartition releases every local key of p. Keys still owed to someone
// (hints) stay; hinted handoff drops them after delivery.
func (m *Manager) dropPartition(p int) (dropped, kept int, err error) {
	lo, hi := m.cfg.Range(p)
	var keys []storage.Key
	if err := m.local.ScanLocal(lo, hi, func(k storage.Key, _ versioning.Clock) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return 0, 0, err
	}
	for _, k := range keys {
		ok, err := m.local.ReleaseLocal(k)
		if err != nil {
			return dropped, kept, err
		}
		if ok {
			dropped++
		} else {
			kept++
		}
	}
	return dropped, kept, nil
}

// finishLeave calls OnLeft once every partition this leaving node holds is
// held by its new owners.
func (m *Manager) finishLeave(v *ownership.View) {
	m.mu.Lock()
	if m.left {
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	for p := range v.Target().Partitions() {
		if v.Holds(m.cfg.Self, p, m.cfg.N) && !v.Done(p, m.cfg.N) {
			return
		}
	}
	m.mu.Lock()
	m.left = true
	m.mu.Unlock()
	m.log.Info("every partition handed off; leaving")
	if m.cfg.OnLeft != nil {
		m.cfg.OnLeft()
	}
}

// save persists the resume state.
func (m *Manager) save() {
	m.mu.Lock()
	b, err := json.Marshal(m.st)
	m.mu.Unlock()
	if err == nil {
		err = m.meta.PutMeta(metaKey, b)
	}
	if err != nil {
		m.log.Warn("cannot save transfer state", "err", err)
	}
}

// Serve answers a page request (transport.Handler for kinds >= KindBase).
func (m *Manager) Serve(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
	if kind == KindProgress {
		b, err := json.Marshal(m.Progress())
		if err != nil {
			return encodeErr(err.Error()), nil
		}
		return append([]byte{stOK}, b...), nil
	}
	if kind != KindPage {
		return encodeErr(fmt.Sprintf("unknown transfer kind %d", kind)), nil
	}
	req, err := decodePage(body)
	if err != nil {
		return encodeErr(err.Error()), nil
	}
	select {
	case m.serving <- struct{}{}:
		defer func() { <-m.serving }()
	default:
		return encodeErr(errBusy.Error()), nil
	}
	if req.partition > m.cfg.Partition(math.MaxUint64) {
		return encodeErr("no such partition"), nil
	}
	if lo, _ := m.cfg.Range(req.partition); req.from < lo || req.from > req.to {
		return encodeErr("page range does not start in its partition"), nil
	}
	var (
		out  []object
		size int
		last uint64
		full bool
	)
	err = m.local.ScanLocal(req.from, req.to, func(k storage.Key, c versioning.Clock) error {
		if full && k.Hash != last {
			return errPageFull
		}
		raw := storage.AppendObject(nil, c)
		out = append(out, object{key: k, raw: raw})
		size += 32 + len(k.Bucket) + len(k.Key) + len(raw)
		last = k.Hash
		full = size >= req.max
		return ctx.Err()
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return encodeErr(err.Error()), nil
	}
	rep := pageReply{objects: out, done: true}
	if errors.Is(err, errPageFull) && last < req.to {
		rep.done, rep.next = false, last+1
	}
	m.m.served.Add(float64(len(out)))
	return encodePageReply(rep), nil
}

var (
	errPageFull = errors.New("transfer: page full")
	errBusy     = errors.New("transfer: source busy")
)

// Wire format. A request: partition, from, to, max bytes. A reply: a status
// byte, then (ok) done flag, next cursor and the objects.

type pageReq struct {
	partition int
	from, to  uint64
	max       int
}

// object is one object of a page: encoded (raw) when sent, decoded
// (clock) when received.
type object struct {
	key   storage.Key
	raw   []byte
	clock versioning.Clock
}

type pageReply struct {
	objects []object
	done    bool
	next    uint64
}

const (
	stOK  uint8 = 1
	stErr uint8 = 2
)

var errMalformed = errors.New("transfer: malformed message")

func encodePage(r pageReq) []byte {
	e := wire.Encoder{}
	e.Uvarint(uint64(r.partition))
	e.Fixed64(r.from)
	e.Fixed64(r.to)
	e.Uvarint(uint64(r.max))
	return e.B
}

func decodePage(b []byte) (pageReq, error) {
	d := wire.Decoder{B: b, Malformed: errMalformed}
	p := d.Uvarint()
	r := pageReq{from: d.Fixed64(), to: d.Fixed64()}
	mx := d.Uvarint()
	if err := d.End(); err != nil {
		return pageReq{}, err
	}
	if p >= 1<<16 || mx == 0 || mx > 64<<20 {
		return pageReq{}, fmt.Errorf("%w: partition %d, page of %d bytes", errMalformed, p, mx)
	}
	r.partition, r.max = int(p), int(mx)
	return r, nil
}

func encodeErr(msg string) []byte {
	e := wire.Encoder{}
	e.Byte(stErr)
	e.Str(msg)
	return e.B
}

func encodePageReply(r pageReply) []byte {
	e := wire.Encoder{}
	e.Byte(stOK)
	done := uint8(0)
	if r.done {
		done = 1
	}
	e.Byte(done)
	e.Fixed64(r.next)
	e.Uvarint(uint64(len(r.objects)))
	for _, o := range r.objects {
		e.Fixed64(o.key.Hash)
		e.Str(o.key.Bucket)
		e.Str(o.key.Key)
		e.Bytes(o.raw)
	}
	return e.B
}

func decodePageReply(b []byte) (pageReply, error) {
	d := wire.Decoder{B: b, Malformed: errMalformed}
	switch d.Byte() {
	case stOK:
	case stErr:
		msg := d.Str()
		if d.Err != nil {
			return pageReply{}, d.Err
		}
		if msg == errBusy.Error() {
			return pageReply{}, errBusy
		}
		return pageReply{}, errors.New("transfer: source: " + msg)
	default:
		return pageReply{}, errMalformed
	}
	r := pageReply{done: d.Byte() == 1, next: d.Fixed64()}
	n := d.Uvarint()
	if n > uint64(len(d.B)) { // every object takes more than a byte
		return pageReply{}, errMalformed
	}
	for range n {
		k := storage.Key{Hash: d.Fixed64(), Bucket: d.Str(), Key: d.Str()}
		raw := d.Bytes()
		if d.Err != nil {
			return pageReply{}, d.Err
		}
		c, err := storage.DecodeObject(raw)
		if err != nil {
			return pageReply{}, fmt.Errorf("%w: %w", errMalformed, err)
		}
		r.objects = append(r.objects, object{key: k, clock: c})
	}
	if err := d.End(); err != nil {
		return pageReply{}, err
	}
	return r, nil
}
