package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynamod/dynamod/client"
)

// Causes of the end of a run, told apart with context.Cause.
var (
	errDuration    = errors.New("bench: duration reached")
	errMaxDuration = errors.New("bench: max duration reached")
)

// maxContexts bounds the run's cache of contexts, in keys.
const maxContexts = 1 << 20

// contexts is the last context any worker saw for each key, shared by all
// workers: the load models clients that read a key (or were told its
// context) before they write it, so siblings arise only from truly
// concurrent writes instead of piling up from blind ones. Striped locks keep
// workers from contending.
type contexts struct {
	locks   [64]sync.Mutex
	entries []ctxEntry // direct-mapped: key k lives in slot k % len
}

func newContexts(keys int) *contexts {
	return &contexts{entries: make([]ctxEntry, min(keys, maxContexts))}
}

func (c *contexts) get(key int) string {
	i := key % len(c.entries)
	mu := &c.locks[i%len(c.locks)]
	mu.Lock()
	defer mu.Unlock()
	if e := c.entries[i]; e.key == key {
		return e.vctx
	}
	return ""
}

func (c *contexts) set(key int, vctx string) {
	i := key % len(c.entries)
	mu := &c.locks[i%len(c.locks)]
	mu.Lock()
	c.entries[i] = ctxEntry{key: key, vctx: vctx}
	mu.Unlock()
}

// Run runs the benchmark described by cfg and returns its numbers. Failed
// requests are counted, not fatal; Run fails only on an invalid config. If
// ctx ends first, Run returns the partial result together with ctx's error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Targets = slices.Clone(cfg.Targets)
	for i, t := range cfg.Targets {
		cfg.Targets[i] = strings.TrimRight(t, "/")
	}

	runCtx, cancelRun := context.WithTimeoutCause(ctx, cfg.MaxDuration, errMaxDuration)
	defer cancelRun()

	workers := make([]*worker, cfg.Concurrency)
	ctxs := newContexts(cfg.Keys)
	values := newValues(cfg.ValueSize, cfg.Seed)
	for i := range workers {
		w, err := newWorker(i, &cfg, ctxs, values)
		if err != nil {
			return nil, err
		}
		workers[i] = w
		defer w.conn.close()
	}
	res := &Result{Config: cfg}
	if cfg.Preload {
		res.Preload = preload(runCtx, workers, cfg.Keys, cfg.PreloadTimeout)
	}

	// The warm-up and the measured phase are one stretch of load, as in
	// loadgen: the workers keep their connections and requests in flight
	// across the boundary, and a request counts when it starts at or after
	// measureFrom. measureFrom is taken before the phase's deadline is
	// set, so a run that ends at its deadline has lasted at least Duration.
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	phaseCtx := runCtx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		phaseCtx, cancel = context.WithDeadlineCause(runCtx, measureFrom.Add(cfg.Duration), errDuration)
		defer cancel()
	}
	var issued atomic.Int64 // measured requests started, when Ops bounds the run
	stopProgress := startProgress(cfg.Progress, cfg.ProgressInterval, start, workers)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(phaseCtx, measureFrom, &issued) })
	}
	wg.Wait()
	res.Elapsed = max(time.Since(measureFrom), 0)
	if ended(phaseCtx) {
		// Workers stop when the deadline passes, which can be just
		// before the context's timer records why: wait for it.
		<-phaseCtx.Done()
	}
	stopProgress()

	switch {
	case ctx.Err() != nil:
		res.Stopped = "canceled"
	case cfg.Ops > 0 && issued.Load() > cfg.Ops:
		res.Stopped = "ops"
	case errors.Is(context.Cause(phaseCtx), errDuration):
		res.Stopped = "duration"
	default:
		res.Stopped = "max_duration"
	}
	res.collect(workers)
	return res, ctx.Err()
}

// op kinds, indexes of per-kind arrays.
const (
	opGet = iota
	opPut
	numOps
)

var opNames = [numOps]string{"get", "put"}

// worker issues one request at a time. Everything in it but the two atomic
// counters belongs to its goroutine.
type worker struct {
	cfg      *Config
	conn     *rawConn
	rng      *rand.Rand
	base     string    // the target's path + "/kv/" + bucket + "/"
	getQuery string    // "" or "?r=..."
	putQuery string    // "" or "?w=...&dw=..."
	auth     string    // "" or the Authorization header line
	values   [][]byte  // shared by every worker, read-only
	ctxs     *contexts // shared by every worker
	urlBuf   []byte
	hdrs     []string

	hist     [numOps]Histogram
	windows  []window // with Config.Window: the measured requests by window
	errs     [numOps]int64
	notFound int64
	siblings int64
	classes  map[string]int64

	// done and failed count completed and failed requests for the
	// progress line, which reads them from another goroutine.
	done, failed atomic.Int64
}

// ctxEntry is the last context seen for a key.
type ctxEntry struct {
	key  int
	vctx string
}

func newWorker(id int, cfg *Config, ctxs *contexts, values [][]byte) (*worker, error) {
	conn, prefix, err := newRawConn(cfg.Targets[id%len(cfg.Targets)], cfg.TLS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	w := &worker{
		cfg:     cfg,
		conn:    conn,
		rng:     workerRand(cfg.Seed, id),
		base:    prefix + "/kv/" + url.PathEscape(cfg.Bucket) + "/",
		values:  values,
		ctxs:    ctxs,
		classes: make(map[string]int64),
	}
	if cfg.Token != "" {
		w.auth = "Authorization: Bearer " + cfg.Token + "\r\n"
	}
	w.getQuery = query("r", cfg.R)
	w.putQuery = query("w", cfg.W, "dw", cfg.DW)
	return w, nil
}

// query returns "?name=value&..." for the pairs whose value is set, or "".
func query(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			continue
		}
		if b.Len() == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(pairs[i] + "=" + url.QueryEscape(pairs[i+1]))
	}
	return b.String()
}

// transportPause is how long a worker waits after a transport error before
// it dials again (loadgen's 10 ms), so that a dead node is not spun on.
const transportPause = 10 * time.Millisecond

// run issues requests until ctx ends or, with Ops, the run's count of
// measured requests is used up. Requests that start before measureFrom are
// the warm-up: sent, their contexts kept, their numbers not recorded.
//
// Per request it draws the key, then the operation, then (for a PUT) the
// value, in loadgen's order, and measures from before the draws to the end
// of the answer, as loadgen does.
func (w *worker) run(ctx context.Context, measureFrom time.Time, issued *atomic.Int64) {
	for !ended(ctx) {
		start := time.Now()
		measured := !start.Before(measureFrom)
		if measured && w.cfg.Ops > 0 && issued.Add(1) > w.cfg.Ops {
			return
		}
		key := w.rng.IntN(w.cfg.Keys)
		op := opPut
		if w.rng.Float64() < w.cfg.ReadRatio {
			op = opGet
		}
		var o outcome
		if op == opGet {
			o = w.get(ctx, key)
		} else {
			o = w.put(ctx, key, w.values[w.rng.IntN(len(w.values))])
		}
		lat := time.Since(start)
		if o.class != "" && ended(ctx) {
			return // cut short by the end of the run: not an answer
		}
		w.done.Add(1)
		if o.class != "" {
			w.failed.Add(1)
			if o.class == "conn" || o.class == "timeout" {
				pause(ctx, transportPause)
			}
		}
		if !measured {
			continue
		}
		w.hist[op].Record(lat)
		if w.cfg.Window > 0 {
			w.recordWindow(start.Sub(measureFrom), lat, o.class != "")
		}
		switch {
		case o.class != "":
			w.errs[op]++
			w.classes[o.class]++
		case o.status == http.StatusNotFound:
			w.notFound++
		case o.status == http.StatusMultipleChoices:
			w.siblings++
		}
	}
}

// MaxWindows bounds the windows a run with Config.Window keeps.
const MaxWindows = 10000

// window is one worker's requests that started in one window.
type window struct {
	lats []time.Duration
	errs int64
}

// recordWindow adds a request that started at from the measured phase's
// start and took lat to its window.
func (w *worker) recordWindow(at, lat time.Duration, failed bool) {
	i := int(at / w.cfg.Window)
	if i >= MaxWindows {
		return
	}
	if i >= len(w.windows) {
		w.windows = append(w.windows, make([]window, i+1-len(w.windows))...)
	}
	w.windows[i].lats = append(w.windows[i].lats, lat)
	if failed {
		w.windows[i].errs++
	}
}

// pause waits for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// outcome is the result of one request: the status, and the error class
// if it failed.
type outcome struct {
	status int
	class  string
}

func (w *worker) url(key int, query string) string {
	b := append(w.urlBuf[:0], w.base...)
	b = appendKey(b, key)
	b = append(b, query...)
	w.urlBuf = b
	return string(b)
}

// get reads a key and keeps the context it answers with. Like loadgen it
// sends no Accept header, so siblings come in the server's default form;
// the context is in the header of every answer of dynamod's, and only a
// server that names it in a JSON body alone needs the fallback below.
func (w *worker) get(ctx context.Context, key int) outcome {
	w.hdrs = w.hdrs[:0]
	if w.auth != "" {
		w.hdrs = append(w.hdrs, w.auth)
	}
	resp, err := w.conn.do(ctx, http.MethodGet, w.url(key, w.getQuery), w.hdrs, nil)
	if err != nil {
		return outcome{class: transportClass(err)}
	}
	o := outcome{status: resp.status}
	switch resp.status {
	case http.StatusOK, http.StatusNotFound, http.StatusMultipleChoices:
		vctx := resp.vctx
		if vctx == "" && resp.status == http.StatusMultipleChoices {
			var doc struct {
				Context string `json:"context"`
			}
			if len(resp.body) > 0 && resp.body[0] == '{' && json.Unmarshal(resp.body, &doc) == nil {
				vctx = doc.Context
			}
		}
		if vctx != "" {
			w.ctxs.set(key, vctx)
		}
	default:
		o.class = statusClass(resp.status)
	}
	return o
}

// put writes value to a key with the context of the run's last read of it,
// if there was one, so the write supersedes what that read saw, and keeps
// the context the answer names (dynamod names it when the write left one
// value).
func (w *worker) put(ctx context.Context, key int, value []byte) outcome {
	w.hdrs = append(w.hdrs[:0], "Content-Type: application/octet-stream\r\n")
	if w.auth != "" {
		w.hdrs = append(w.hdrs, w.auth)
	}
	if vctx := w.ctxs.get(key); vctx != "" {
		w.hdrs = append(w.hdrs, client.ContextHeader+": "+vctx+"\r\n")
	}
	resp, err := w.conn.do(ctx, http.MethodPut, w.url(key, w.putQuery), w.hdrs, value)
	if err != nil {
		return outcome{class: transportClass(err)}
	}
	o := outcome{status: resp.status}
	if resp.status/100 == 2 {
		// A server that names the new context saves the next write from
		// becoming a sibling of this one.
		if resp.vctx != "" {
			w.ctxs.set(key, resp.vctx)
		}
	} else {
		o.class = statusClass(resp.status)
	}
	return o
}

func statusClass(status int) string { return fmt.Sprintf("%dxx", status/100) }

func transportClass(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "conn"
}

// preload writes every key once, as loadgen's prefill does: a plain PUT
// of value k mod the pool for key k, every worker taking the next unwritten
// key, bounded by timeout (0: only by ctx). Failed writes are counted, not
// retried; the run goes on after a preload cut short.
func preload(ctx context.Context, workers []*worker, keys int, timeout time.Duration) *PreloadStats {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var next, ops, errs atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for !ended(ctx) {
				k := next.Add(1) - 1
				if k >= int64(keys) {
					return
				}
				o := w.put(ctx, int(k), w.values[int(k)%len(w.values)])
				if o.class != "" && ended(ctx) {
					return
				}
				ops.Add(1)
				if o.class != "" {
					errs.Add(1)
					if o.class == "conn" || o.class == "timeout" {
						pause(ctx, transportPause)
					}
				}
			}
		})
	}
	wg.Wait()
	p := &PreloadStats{Keys: int64(keys), Ops: ops.Load(), Errors: errs.Load(), Elapsed: time.Since(start)}
	p.Complete = p.Ops == p.Keys && p.Errors == 0
	return p
}

// startProgress writes a progress line to out every interval until the
// returned function is called; that function waits for the writer to stop.
func startProgress(out io.Writer, every time.Duration, start time.Time, workers []*worker) (stop func()) {
	if out == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var lastOps int64
		last := start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				var ops, failed int64
				for _, w := range workers {
					ops += w.done.Load()
					failed += w.failed.Load()
				}
				rate := float64(ops-lastOps) / now.Sub(last).Seconds()
				fmt.Fprintf(out, "%7.1fs  %10d ops  %10.1f ops/s  %d errors\n",
					now.Sub(start).Seconds(), ops, rate, failed)
				lastOps, last = ops, now
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// collect merges the workers' numbers into r.
func (r *Result) collect(workers []*worker) {
	var hists [numOps]Histogram
	var errs [numOps]int64
	r.ErrorsByClass = make(map[string]int64)
	for _, w := range workers {
		for op := range numOps {
			hists[op].Merge(&w.hist[op])
			errs[op] += w.errs[op]
		}
		r.NotFound += w.notFound
		r.Siblings += w.siblings
		for c, n := range w.classes {
			r.ErrorsByClass[c] += n
		}
	}
	all := &Histogram{}
	r.ByOp = make(map[string]OpStats, numOps)
	var totalErrs int64
	for op := range numOps {
		nf := int64(0)
		if op == opGet {
			nf = r.NotFound
		}
		r.ByOp[opNames[op]] = statsOf(&hists[op], errs[op], nf, r.Elapsed)
		all.Merge(&hists[op])
		totalErrs += errs[op]
	}
	r.OpStats = statsOf(all, totalErrs, r.NotFound, r.Elapsed)
	r.Latency = all
	if r.Config.Window > 0 {
		r.Windows = windowStats(workers, r.Config.Window, r.Elapsed)
	}
}

// windowStats merges the workers' windows of length d; the last one is
// cut short where the measured phase of length elapsed ended.
func windowStats(workers []*worker, d, elapsed time.Duration) []WindowStats {
	n := 0
	for _, w := range workers {
		n = max(n, len(w.windows))
	}
	out := make([]WindowStats, n)
	var lats []time.Duration
	for i := range out {
		ws := &out[i]
		ws.Start = time.Duration(i) * d
		lats = lats[:0]
		for _, w := range workers {
			if i < len(w.windows) {
				lats = append(lats, w.windows[i].lats...)
				ws.Errors += w.windows[i].errs
			}
		}
		ws.Ops = int64(len(lats))
		if length := min(d, elapsed-ws.Start); length > 0 {
			ws.Throughput = float64(ws.Ops) / length.Seconds()
		}
		if len(lats) == 0 {
			continue
		}
		slices.Sort(lats)
		rank := func(q float64) time.Duration { // nearest rank
			return lats[max(int(math.Ceil(q*float64(len(lats))))-1, 0)]
		}
		ws.P50, ws.P99, ws.Max = rank(0.5), rank(0.99), lats[len(lats)-1]
	}
	return out
}
