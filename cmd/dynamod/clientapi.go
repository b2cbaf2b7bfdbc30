package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	dhttp "github.com/dynamod/dynamod/http"
	"github.com/dynamod/dynamod/node"
)

// clientAPIFlags are the serve flags of the client API's protection and of
// the admin listener.
type clientAPIFlags struct {
	auth            string
	admin           string
	tlsCert, tlsKey string
	// clientCA: HTTPS clients must present a certificate it signed.
	clientCA string
	// adminAuto: admin was derived from --http (--admin auto), so a port
	// already taken is warned about, not fatal.
	adminAuto bool
}

// adminAuto is --admin's default: 127.0.0.1:7072, or no admin listener
// (with a warning) if that port is taken, so that several nodes on one
// host (a local cluster, the side-by-side benchmark) start without flags;
// the first gets it. (An address derived from --http's port could take a
// port another node on the host is about to bind.)
const adminAuto = "auto"

func (f *clientAPIFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.auth, "client-auth", "auto", "client API bearer tokens: on (always required), off (never; warned about on a non-loopback --http), "+
		"auto (required on a non-loopback --http; on loopback once any token exists). /ping and /ready are always open")
	fs.StringVar(&f.admin, "admin", adminAuto, "admin listener address: /metrics, /debug/pprof (with --pprof) and /admin/tokens, "+
		"all WITHOUT a token (keep it on loopback; warned about otherwise). auto: 127.0.0.1:7072, "+
		"skipped with a warning if that port is taken (a second node on the host); empty disables it")
	fs.StringVar(&f.tlsCert, "http-tls-cert", "", "serve the client API over HTTPS with this certificate (PEM, may be followed by intermediates); with --http-tls-key. Reloaded on SIGHUP")
	fs.StringVar(&f.tlsKey, "http-tls-key", "", "the private key of --http-tls-cert (PEM)")
	fs.StringVar(&f.clientCA, "http-client-ca", "", "with --http-tls-cert: every client request but /ping and /ready must come with a client certificate signed by a CA in this PEM file "+
		"(dynamod certs client makes them), on top of tokens. Reloaded on SIGHUP")
}

// check validates the flags.
func (f clientAPIFlags) check() error {
	if _, err := dhttp.ParseClientAuth(f.auth); err != nil {
		return usagef("--client-auth %q: want on, off or auto", f.auth)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return usagef("--http-tls-cert and --http-tls-key go together: give both (HTTPS on --http) or neither")
	}
	if f.clientCA != "" && f.tlsCert == "" {
		return usagef("--http-client-ca needs --http-tls-cert and --http-tls-key: client certificates travel in TLS")
	}
	if f.admin != "" && f.admin != adminAuto {
		if _, _, err := net.SplitHostPort(f.admin); err != nil {
			return usagef("--admin %q: want host:port, or empty to disable: %v", f.admin, err)
		}
	}
	return nil
}

// resolveAdmin replaces --admin auto by its address.
func (f *clientAPIFlags) resolveAdmin() {
	if f.admin == adminAuto {
		f.admin, f.adminAuto = defaultAdminAddr, true
	}
}

// defaultAdminAddr is where --admin auto listens.
const defaultAdminAddr = "127.0.0.1:7072"

// mode is the handler's authentication mode for a client API bound to
// httpAddr (auto on a non-loopback address requires tokens always).
func (f clientAPIFlags) mode(ctx context.Context, httpAddr string) dhttp.ClientAuth {
	m, _ := dhttp.ParseClientAuth(f.auth) // checked
	return dhttp.ResolveClientAuth(m, node.LoopbackAddr(ctx, httpAddr))
}

// listen wraps the client API's listener in TLS when the flags give a
// certificate. The certificate is reloaded on SIGHUP until ctx ends; a
// failed reload keeps the current one. Connections refused by
// dhttp.LimitListener (beneath the TLS layer) are closed without an answer
// the client can read.
func (f clientAPIFlags) listen(ctx context.Context, ln net.Listener, log *slog.Logger) (net.Listener, error) {
	if f.tlsCert == "" {
		return ln, nil
	}
	c := &certReloader{certFile: f.tlsCert, keyFile: f.tlsKey, caFile: f.clientCA, log: log.With("component", "http-tls")}
	if err := c.reload(); err != nil {
		return nil, err
	}
	go c.onSIGHUP(ctx)
	base := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.get,
		// HTTP/1.1 only: the handler's per-request deadlines and the
		// connection limit are per connection.
		NextProtos: []string{"http/1.1"},
	}
	if c.caFile != "" {
		// Verified if given, so that /ping and /ready answer health
		// checks without one; the handler refuses the rest
		// (dhttp.Config.RequireClientCert).
		base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cfg := base.Clone()
			cfg.GetConfigForClient = nil
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
			cfg.ClientCAs = c.pool.Load()
			return cfg, nil
		}
	}
	return tls.NewListener(ln, base), nil
}

// certReloader serves the client API's current certificate.
type certReloader struct {
	certFile, keyFile string
	caFile            string // client CA; "" for none
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
	pool              atomic.Pointer[x509.CertPool]
	mu                sync.Mutex // serializes reloads
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

// reload loads the files; on error the current certificate stays.
func (c *certReloader) reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("client API TLS (--http-tls-cert %s, --http-tls-key %s): %w", c.certFile, c.keyFile, err)
	}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return fmt.Errorf("client API TLS (--http-client-ca): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("client API TLS (--http-client-ca %s): no PEM certificate in it", c.caFile)
		}
		c.pool.Store(pool)
	}
	c.cur.Store(&cert)
	c.log.Info("client API certificate loaded", "cert", c.certFile, "expires", cert.Leaf.NotAfter)
	return nil
}

func (c *certReloader) onSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := c.reload(); err != nil {
				c.log.Error("client API certificate reload failed; keeping the current one", "err", err)
			}
		}
	}
}

// startAdmin serves the admin listener on f.admin (nothing when empty)
// and returns its shutdown. A port already in use is an error that says
// how to pick another, or with --admin auto a warning.
func (f clientAPIFlags) startAdmin(n *node.Node, hcfg dhttp.Config, log *slog.Logger) (func(context.Context) error, error) {
	if f.admin == "" {
		return func(context.Context) error { return nil }, nil
	}
	ln, err := net.Listen("tcp", f.admin)
	if err != nil && f.adminAuto {
		log.Warn("no admin listener: its automatic address is taken; give --admin an address of its own", "admin", f.admin, "err", err)
		return func(context.Context) error { return nil }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w (each node on one host needs its own --admin; --admin '' disables it)", err)
	}
	srv := dhttp.NewServer(dhttp.NewAdminHandler(n, hcfg), hcfg)
	go func() {
		if err := srv.Serve(dhttp.JSONErrors(ln)); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
			log.Error("admin listener failed", "err", err)
		}
	}()
	log.Info("admin listener serving", "admin", ln.Addr().String(), "pprof", hcfg.EnablePprof)
	return func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if errors.Is(err, nethttp.ErrServerClosed) {
			return nil
		}
		return err
	}, nil
}
