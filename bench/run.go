package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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

// jsonAccept asks for siblings as JSON, whose body names the context when
// the header does not.
const jsonAccept = "application/json, */*;q=0.1"

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
	for i := range workers {
		w, err := newWorker(i, &cfg, ctxs)
		if err != nil {
			return nil, err
		}
		workers[i] = w
		defer w.conn.close()
	}
	res := &Result{Config: cfg}
	if cfg.Preload {
		res.Preload = preload(runCtx, workers, cfg.Keys)
	}

	if cfg.Warmup > 0 && runCtx.Err() == nil {
		warmCtx, cancel := context.WithTimeout(runCtx, cfg.Warmup)
		var issued atomic.Int64 // Ops bounds the measured phase only
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Go(func() { w.run(warmCtx, &issued) })
		}
		wg.Wait()
		cancel()
		for _, w := range workers {
			w.reset()
		}
	}

	// start is taken before the phase's deadline is set, so a run that
	// ends at its deadline has lasted at least Duration.
	start := time.Now()
	phaseCtx := runCtx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		phaseCtx, cancel = context.WithTimeoutCause(runCtx, cfg.Duration, errDuration)
		defer cancel()
	}
	var issued atomic.Int64 // requests started, when Ops bounds the run
	stopProgress := startProgress(cfg.Progress, cfg.ProgressInterval, start, workers)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(phaseCtx, &issued) })
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
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
	base     string // the target's path + "/kv/" + bucket + "/"
	getQuery string // "" or "?r=..."
	putQuery string
	auth     string // "" or the Authorization header line
	value    []byte
	seq      uint64    // PUTs so far, stamped into the value
	ctxs     *contexts // shared by every worker
	urlBuf   []byte
	hdrs     []string

	hist     [numOps]Histogram
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

func newWorker(id int, cfg *Config, ctxs *contexts) (*worker, error) {
	conn, prefix, err := newRawConn(cfg.Targets[id%len(cfg.Targets)], cfg.TLS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	w := &worker{
		cfg:     cfg,
		conn:    conn,
		rng:     rand.New(rand.NewPCG(cfg.Seed, uint64(id))),
		base:    prefix + "/kv/" + url.PathEscape(cfg.Bucket) + "/",
		value:   make([]byte, cfg.ValueSize),
		ctxs:    ctxs,
		classes: make(map[string]int64),
	}
	if cfg.Token != "" {
		w.auth = "Authorization: Bearer " + cfg.Token + "\r\n"
	}
	if cfg.R != "" {
		w.getQuery = "?r=" + url.QueryEscape(cfg.R)
	}
	if cfg.W != "" {
		w.putQuery = "?w=" + url.QueryEscape(cfg.W)
	}
	for i := range w.value {
		w.value[i] = byte('a' + w.rng.IntN(26))
	}
	return w, nil
}

// run issues requests until ctx ends or, with Ops, the run's count is used
// up.
func (w *worker) run(ctx context.Context, issued *atomic.Int64) {
	for !ended(ctx) {
		if w.cfg.Ops > 0 && issued.Add(1) > w.cfg.Ops {
			return
		}
		key := w.rng.IntN(w.cfg.Keys)
		op := opPut
		if w.rng.Float64() < w.cfg.ReadRatio {
			op = opGet
		}
		start := time.Now()
		var o outcome
		if op == opGet {
			o = w.get(ctx, key)
		} else {
			o = w.put(ctx, key, false)
		}
		lat := time.Since(start)
		if o.class != "" && ended(ctx) {
			return // cut short by the end of the run: not an answer
		}
		w.hist[op].Record(lat)
		w.done.Add(1)
		switch {
		case o.class != "":
			w.errs[op]++
			w.classes[o.class]++
			w.failed.Add(1)
		case o.status == http.StatusNotFound:
			w.notFound++
		case o.status == http.StatusMultipleChoices:
			w.siblings++
		}
	}
}

// reset forgets the numbers of the requests made so far (the warm-up's).
// The contexts learnt are kept.
func (w *worker) reset() {
	w.hist = [numOps]Histogram{}
	w.errs = [numOps]int64{}
	w.notFound, w.siblings = 0, 0
	clear(w.classes)
	w.done.Store(0)
	w.failed.Store(0)
}

// outcome is the result of one request: the status, and the error class
// if it failed.
type outcome struct {
	status int
	class  string
}

func (w *worker) url(key int, query string) string {
	b := append(w.urlBuf[:0], w.base...)
	b = append(b, 'k')
	b = strconv.AppendInt(b, int64(key), 10)
	b = append(b, query...)
	w.urlBuf = b
	return string(b)
}

// get reads a key and keeps the context it answers with.
func (w *worker) get(ctx context.Context, key int) outcome {
	w.hdrs = append(w.hdrs[:0], "Accept: "+jsonAccept+"\r\n")
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
			if json.Unmarshal(resp.body, &doc) == nil {
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

// put writes a key with the context of the run's last read of it, if there
// was one, so the write supersedes what that read saw.
//
// With returnBody (the preload) it asks for the stored object, whose context
// covers exactly what the answer shows, and keeps that context.
func (w *worker) put(ctx context.Context, key int, returnBody bool) outcome {
	w.seq++
	if len(w.value) >= 8 {
		binary.LittleEndian.PutUint64(w.value, w.seq)
	}
	query := w.putQuery
	if returnBody {
		query = "?returnbody=true"
		if w.putQuery != "" {
			query = w.putQuery + "&returnbody=true"
		}
	}
	w.hdrs = append(w.hdrs[:0], "Content-Type: application/octet-stream\r\n")
	if w.auth != "" {
		w.hdrs = append(w.hdrs, w.auth)
	}
	if vctx := w.ctxs.get(key); vctx != "" {
		w.hdrs = append(w.hdrs, client.ContextHeader+": "+vctx+"\r\n")
	}
	resp, err := w.conn.do(ctx, http.MethodPut, w.url(key, query), w.hdrs, w.value)
	if err != nil {
		return outcome{class: transportClass(err)}
	}
	o := outcome{status: resp.status}
	if resp.status/100 == 2 || (returnBody && resp.status == http.StatusMultipleChoices) {
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

// preload writes every key once, the workers sharing the keys.
func preload(ctx context.Context, workers []*worker, keys int) *PreloadStats {
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
				o := w.put(ctx, int(k), true)
				if o.class != "" && ended(ctx) {
					return
				}
				ops.Add(1)
				if o.class != "" {
					errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return &PreloadStats{Ops: ops.Load(), Errors: errs.Load(), Elapsed: time.Since(start)}
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
}
