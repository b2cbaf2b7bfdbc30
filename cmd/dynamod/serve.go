package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dynamod/dynamod/gossip"
	dhttp "github.com/dynamod/dynamod/http"
	"github.com/dynamod/dynamod/internal/sched"
	"github.com/dynamod/dynamod/node"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/ui"
)

// serveFlags are the flags of dynamod serve.
type serveFlags struct {
	name, data, httpAddr, rpcAddr, gossipAddr, advertise, join, gossipKey string
	gossipKeyFile                                                         string
	logLevel                                                              string
	partitions, tokens                                                    int
	hintedHandoff, pprof, antiEntropy                                     bool
	handoffInterval, requestTimeout, aeInterval, tombstoneGrace           time.Duration
	aeRate, transferConcurrency, transferRate                             int
	releaseDelay                                                          time.Duration
	maxConnections, digestRead                                            int
	sched                                                                 string
	maxInflightBytes                                                      int64
	webhookAllow                                                          string
	insecure                                                              bool
	nodeTLS                                                               nodeTLSFlags   // node-to-node mutual TLS (nodetls.go)
	client                                                                clientAPIFlags // tokens, HTTPS, admin listener (clientapi.go)
	storage                                                               storageFlags   // goleveldb sizes (storageflags.go)
}

func serve(args []string, stderr io.Writer) error {
	host, _ := os.Hostname()
	var f serveFlags
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&f.name, "name", host, "unique node name")
	fs.StringVar(&f.data, "data", "./dynamod-data", "data directory")
	fs.StringVar(&f.httpAddr, "http", "127.0.0.1:7070", "client HTTP API address")
	fs.StringVar(&f.rpcAddr, "rpc", "127.0.0.1:7071", "node-to-node address")
	fs.StringVar(&f.gossipAddr, "gossip", "127.0.0.1:7946", "gossip (memberlist) address")
	fs.StringVar(&f.advertise, "advertise", "", "host other nodes reach this one at (default: the bind hosts)")
	fs.StringVar(&f.join, "join", "", "gossip addresses of existing members, comma-separated")
	fs.StringVar(&f.gossipKey, "gossip-key", "", "base64 key (16, 24 or 32 bytes) encrypting gossip; shows in the process list, prefer --gossip-key-file. A keyring persisted in DATA/gossip-keyring wins over it")
	fs.StringVar(&f.gossipKeyFile, "gossip-key-file", "", "file of base64 gossip keys, one a line, the first encrypting (as dynamod certs gossip-key writes it); after --gossip-key if both. A keyring persisted in DATA/gossip-keyring wins over it (dynamod gossip-key changes that one)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&f.partitions, "partitions", 1024, "partitions (power of two; fixed at cluster creation)")
	fs.IntVar(&f.tokens, "tokens", 256, "ring tokens per member")
	fs.BoolVar(&f.hintedHandoff, "hinted-handoff", true, "deliver hints to recovered primaries")
	fs.BoolVar(&f.pprof, "pprof", false, "serve /debug/pprof on the admin listener (--admin)")
	fs.BoolVar(&f.antiEntropy, "anti-entropy", true, "exchange Merkle trees with co-replicas to repair divergence")
	fs.DurationVar(&f.aeInterval, "ae-interval", 10*time.Second, "mean gap between anti-entropy exchange rounds")
	fs.IntVar(&f.aeRate, "ae-rate", 8<<20, "anti-entropy repair traffic limit in bytes/s (0: unlimited)")
	fs.DurationVar(&f.tombstoneGrace, "tombstone-grace", 24*time.Hour, "keep tombstones at least this long before reaping")
	fs.DurationVar(&f.handoffInterval, "handoff-interval", 5*time.Second, "mean gap between hint deliveries")
	fs.DurationVar(&f.requestTimeout, "request-timeout", 10*time.Second, "default client request timeout")
	fs.IntVar(&f.transferConcurrency, "transfer-concurrency", 2, "partitions this node receives (and pages it serves) at once on membership changes")
	fs.IntVar(&f.transferRate, "transfer-rate", 32<<20, "partition transfer traffic limit in bytes/s received by this node (0: unlimited)")
	fs.DurationVar(&f.releaseDelay, "release-delay", 10*time.Second, "keep a handed-off partition this long after every new owner holds it")
	fs.IntVar(&f.maxConnections, "max-connections", dhttp.DefaultConfig().MaxConnections, "client HTTP connections open at once; past it new ones are answered 503")
	fs.Int64Var(&f.maxInflightBytes, "max-inflight-bytes", dhttp.DefaultConfig().MaxInflightBytes, "client request body bytes held at once; past it requests are answered 503")
	fs.IntVar(&f.digestRead, "digest-read", node.DefaultConfig().Quorum.DigestRead, "reads of a copy this large (encoded bytes) or larger ask the other replicas for a digest match instead of their copies; 0: never")
	fs.StringVar(&f.sched, "sched", "batch", "CPU scheduling of the node's threads (Linux): batch moves them from SCHED_OTHER to SCHED_BATCH, so a woken thread does not preempt a running one (fewer context switches; the nice value is kept); inherit leaves the policy the process was started with")
	fs.BoolVar(&f.insecure, "insecure", false, "start even though the rpc or gossip address is reachable from other hosts and there is no gossip key or node TLS (warned about in the log and /cluster)")
	fs.StringVar(&f.webhookAllow, "webhook-allow", "", "hosts webhook resolvers may call, comma-separated: host, host:port, IP, IP:port or CIDR (default: none)")
	f.nodeTLS.register(fs)
	f.client.register(fs)
	f.storage.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := f.client.check(); err != nil {
		return err
	}
	if err := f.storage.check(); err != nil {
		return err
	}
	f.client.resolveAdmin()
	f.applyTLSDir()
	if err := f.nodeTLS.check(); err != nil {
		return err
	}
	if f.digestRead < 0 {
		return usagef("--digest-read must be 0 (never) or a size in bytes, got %d", f.digestRead)
	}
	if f.sched != "batch" && f.sched != "inherit" {
		return usagef("--sched must be batch or inherit, got %q", f.sched)
	}
	if f.maxConnections < 1 {
		return usagef("--max-connections must be at least 1, got %d", f.maxConnections)
	}
	if maxBody := dhttp.DefaultConfig().MaxBodyBytes; f.maxInflightBytes < maxBody {
		return usagef("--max-inflight-bytes must be at least the largest body, %d, got %d", maxBody, f.maxInflightBytes)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runNode(ctx, f, log)
}

// schedBatch moves the process's threads to SCHED_BATCH (internal/sched).
// A node whose threads cannot all be moved runs on as they are.
func schedBatch(log *slog.Logger) {
	n, err := sched.Move(sched.Other, sched.Batch)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		log.Debug("--sched batch: not on this system; threads keep their policy")
	case err != nil:
		log.Warn("--sched batch: some or all threads stay under the policy they were started with", "moved", n, "err", err)
	default:
		log.Debug("threads moved to SCHED_BATCH", "threads", n)
	}
}

// digestRead maps --digest-read (0: never) to quorum.Config.DigestRead
// (0: the default, negative: never).
func digestRead(flag int) int {
	if flag == 0 {
		return -1
	}
	return flag
}

// advertised replaces the host of a bind address with the advertised host.
func advertised(bind, host string) string {
	if host == "" {
		return bind
	}
	_, port, err := net.SplitHostPort(bind)
	if err != nil {
		return bind
	}
	return net.JoinHostPort(host, port)
}

func runNode(ctx context.Context, f serveFlags, log *slog.Logger) error {
	cfg := node.DefaultConfig()
	cfg.Name = f.name
	cfg.Ring.Partitions = f.partitions
	cfg.Ring.Tokens = f.tokens
	cfg.Quorum.HintedHandoff = f.hintedHandoff
	cfg.Quorum.HandoffInterval = f.handoffInterval
	cfg.Quorum.DigestRead = digestRead(f.digestRead)
	cfg.RequestTimeout = f.requestTimeout
	cfg.AntiEntropyOff = !f.antiEntropy
	cfg.AntiEntropy.Interval = f.aeInterval
	cfg.AntiEntropy.MaxBytesPerSecond = f.aeRate
	cfg.AntiEntropy.TombstoneGrace = f.tombstoneGrace
	cfg.Transfer.Concurrency = f.transferConcurrency
	cfg.Transfer.BytesPerSecond = f.transferRate
	cfg.Transfer.ReleaseDelay = f.releaseDelay
	cfg.Logger = log
	if f.webhookAllow != "" {
		cfg.WebhookAllow = strings.Split(f.webhookAllow, ",")
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	warnings, err := exposure(f).Check(ctx)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	cfg.Warnings = warnings
	ntls, err := loadNodeTLS(f.nodeTLS, f.name, log)
	if err != nil {
		return err
	}
	keys, err := gossipKeys(f, log) // gossipkeyflags.go
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.data, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	statePath := filepath.Join(f.data, "cluster-state.json")
	if st, found, err := gossip.PersistedStatus(statePath, f.name); err == nil && found && st.Gone() {
		// Its data is out of date: merged back into the cluster, values
		// deleted since (and their tombstones reaped) would come back.
		return fmt.Errorf("node %s is %v: it left the cluster for good and its data is out of date; remove the data directory %s to join again as a new node", f.name, st, f.data)
	}
	if f.sched == "batch" {
		schedBatch(log) // before the engine and the node start their goroutines
	}
	eng, err := storage.OpenLevelDB(filepath.Join(f.data, "db"), f.storage.options())
	if err != nil {
		return err
	}

	// The transport needs the node as its handler, and the node needs the
	// transport: a forwarding handler breaks the cycle.
	var n *node.Node
	ready := make(chan struct{})
	handler := transport.HandlerFunc(func(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
		select {
		case <-ready:
		default: // still starting: wait (asking for Done makes the request's timer)
			select {
			case <-ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return n.Serve(ctx, from, kind, body)
	})

	gcfg := gossip.DefaultConfig()
	gcfg.Name = f.name
	gcfg.BindAddr = f.gossipAddr
	gcfg.AdvertiseAddr = advertised(f.gossipAddr, f.advertise)
	gcfg.RPCAddr = advertised(f.rpcAddr, f.advertise)
	gcfg.HTTPAddr = advertised(f.httpAddr, f.advertise)
	gcfg.Keys, gcfg.KeyringPath = keys, keyringPath(f.data)
	gcfg.StatePath = statePath
	gcfg.Logger = log
	if f.join != "" {
		gcfg.Join = strings.Split(f.join, ",")
	}

	tcfg := transport.DefaultConfig()
	tcfg.Name = f.name
	tcfg.BindAddr = f.rpcAddr
	tcfg.Logger = log
	var g *gossip.Gossip
	tcfg.Resolve = func(name string) (string, bool) { return g.Resolve(name) }
	reg := newRegistry()
	tcfg.Registry = reg
	stopTLS := ntls.start(ctx, &tcfg, reg) // sets tcfg.TLS; reloads until runNode returns
	defer stopTLS()
	gcfg.Registry = reg
	tr, err := transport.Listen(tcfg, handler)
	if err != nil {
		_ = eng.Close()
		return err
	}
	if ntls != nil {
		// A new member enters the rings once its certificate is checked.
		gcfg.VerifyMember = tr.Verify
	}
	g, err = gossip.New(gcfg)
	if err != nil {
		_ = tr.Close()
		_ = eng.Close()
		return err
	}
	cfg.Registry = reg
	n, err = node.New(cfg, node.Parts{
		Engine: eng, BlobDir: filepath.Join(f.data, "blobs"), ObjectCacheBytes: f.storage.objectCacheBytes(), Members: node.GossipMembership(g), Transport: tr,
		Closers: []func() error{func() error {
			// A leave that times out (peers down) is not a failed shutdown.
			if err := g.Leave(2 * time.Second); err != nil {
				log.Warn("gossip leave incomplete", "err", err)
			}
			return nil
		}, g.Close, tr.Close},
	})
	if err != nil {
		_ = g.Close()
		_ = tr.Close()
		return err
	}
	close(ready)

	hcfg := dhttp.DefaultConfig()
	hcfg.Logger = log
	hcfg.Registry = reg
	hcfg.Gatherer = reg
	hcfg.EnablePprof = f.pprof
	hcfg.MaxConnections = f.maxConnections
	hcfg.MaxInflightBytes = f.maxInflightBytes
	hcfg.ClientAuth, hcfg.Tokens = f.client.mode(ctx, f.httpAddr), n
	hcfg.RequireClientCert = f.client.clientCA != ""
	hcfg.UI = ui.Handler()
	hcfg.Observe = n.ObserveRequest
	srv := dhttp.NewServer(dhttp.NewHandler(n, hcfg), hcfg)
	srv.Addr = f.httpAddr
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		_ = n.Close()
		return fmt.Errorf("listen %s: %w", f.httpAddr, err)
	}
	ln = dhttp.LimitListener(ln, hcfg)
	tln, err := f.client.listen(ctx, ln, log)
	if err != nil {
		_ = ln.Close()
		_ = n.Close()
		return err
	}
	ln = dhttp.JSONErrors(tln) // above TLS: net/http's own answers become JSON
	stopAdmin, err := f.client.startAdmin(n, hcfg, log)
	if err != nil {
		_ = ln.Close()
		_ = n.Close()
		return err
	}
	log.Info("dynamod serving", "node", f.name, "http", ln.Addr().String(), "rpc", tr.Addr(), "gossip", f.gossipAddr, "data", f.data)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-n.Left():
		log.Info("left the cluster; shutting down")
	case err = <-errc:
		log.Error("http server failed", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	serr := srv.Shutdown(sctx)
	if errors.Is(serr, nethttp.ErrServerClosed) {
		serr = nil
	}
	serr = errors.Join(serr, stopAdmin(sctx))
	return errors.Join(err, serr, n.Close())
}
