package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/dynamod/dynamod/internal/pki"
	"github.com/dynamod/dynamod/transport"
)

// nodeTLSFlags are the node-to-node (rpc port) mutual TLS flags of
// dynamod serve.
type nodeTLSFlags struct {
	ca, cert, key string
	// dir is --tls-dir: defaults for the three files (and the gossip key
	// file, see serveFlags.applyTLSDir).
	dir string
}

func (f *nodeTLSFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ca, "tls-ca", "", "node-to-node mutual TLS: the cluster CA bundle (PEM; every CA in it is trusted); with --tls-cert and --tls-key. Reloaded on SIGHUP and when the files change (dynamod certs makes them)")
	fs.StringVar(&f.cert, "tls-cert", "", "node-to-node mutual TLS: this node's certificate, issued for --name by 'dynamod certs node'")
	fs.StringVar(&f.key, "tls-key", "", "node-to-node mutual TLS: this node's private key")
	fs.StringVar(&f.dir, "tls-dir", "", "a directory made by 'dynamod certs init': --tls-ca DIR/ca.crt, --tls-cert DIR/node-NAME.crt, --tls-key DIR/node-NAME.key "+
		"and --gossip-key-file DIR/gossip.key, each unless given")
}

// enabled reports whether node-to-node TLS is on (all three flags given).
func (f nodeTLSFlags) enabled() bool { return f.ca != "" && f.cert != "" && f.key != "" }

// check refuses some of the three flags without the others.
func (f nodeTLSFlags) check() error {
	n := 0
	for _, v := range []string{f.ca, f.cert, f.key} {
		if v != "" {
			n++
		}
	}
	if n != 0 && n != 3 {
		return usagef("--tls-ca, --tls-cert and --tls-key go together: give all three (node-to-node mutual TLS) or none")
	}
	return nil
}

// nodeTLS is the node's loaded TLS material; nil when the flags are off.
type nodeTLS struct {
	r   *pki.Reloader
	log *slog.Logger
	// set by start, before anything can reload
	ok, failed prometheus.Counter
}

// loadNodeTLS loads the node-to-node TLS material of the flags (nil when
// they are off). A file that cannot be read or does not parse, a key that
// does not match, or a certificate that is not a node certificate for
// name chaining to the bundle is an error saying which.
func loadNodeTLS(f nodeTLSFlags, name string, log *slog.Logger) (*nodeTLS, error) {
	if !f.enabled() {
		return nil, nil
	}
	n := &nodeTLS{log: log}
	r, err := pki.NewReloader(pki.ReloaderConfig{
		CAFile: f.ca, CertFile: f.cert, KeyFile: f.key,
		Name:     name,
		Logger:   log,
		OnReload: n.count,
	})
	if err != nil {
		return nil, fmt.Errorf("node TLS: %w", err)
	}
	n.r = r
	log.Info("node-to-node mutual TLS on", "node_cert", f.cert, "ca", f.ca, "cas", len(r.CAs()),
		"node_cert_expires", r.Certificate().Leaf.NotAfter)
	return n, nil
}

func (n *nodeTLS) count(err error) {
	if err != nil {
		n.failed.Inc()
	} else {
		n.ok.Inc()
	}
}

// start sets tcfg to serve and dial mutual TLS with the material, the
// peer's node name taken from its certificate (pki.NodeName), and until
// ctx ends or stop is called reloads the material on SIGHUP and when the
// files change (polled every 5 s), counting reloads in
// dynamod_tls_reloads_total{result} on reg. On a nil n it does nothing.
func (n *nodeTLS) start(ctx context.Context, tcfg *transport.Config, reg prometheus.Registerer) (stop func()) {
	if n == nil {
		return func() {}
	}
	reloads := promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
		Name: "dynamod_tls_reloads_total",
		Help: "Reloads of the node-to-node TLS certificate and CA bundle (SIGHUP or changed files), by result (ok; error: the previous material stays in use).",
	}, []string{"result"})
	n.ok, n.failed = reloads.WithLabelValues("ok"), reloads.WithLabelValues("error")
	tcfg.TLS = n.r.TLSConfig()
	tcfg.PeerName = pki.NodeName

	ctx, cancel := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var wg sync.WaitGroup
	wg.Go(func() { n.r.Run(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = n.r.Reload() // logged and counted
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(hup)
			cancel()
			wg.Wait()
		})
	}
}

// applyTLSDir fills the node TLS and gossip key file flags not given from
// --tls-dir, with the file names dynamod certs init writes.
func (f *serveFlags) applyTLSDir() {
	d := f.nodeTLS.dir
	if d == "" {
		return
	}
	for _, p := range []struct {
		v    *string
		name string
	}{
		{&f.nodeTLS.ca, "ca.crt"},
		{&f.nodeTLS.cert, "node-" + f.name + ".crt"},
		{&f.nodeTLS.key, "node-" + f.name + ".key"},
		{&f.gossipKeyFile, "gossip.key"},
	} {
		if *p.v == "" {
			*p.v = filepath.Join(d, p.name)
		}
	}
}
