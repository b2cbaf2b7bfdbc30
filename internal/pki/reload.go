package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ReloaderConfig configures a [Reloader].
type ReloaderConfig struct {
	// CAFile is the CA bundle: one or more CA certificates, every one
	// trusted. Required.
	CAFile string
	// CertFile and KeyFile are this node's certificate (which may be
	// followed by intermediates) and private key. Required.
	CertFile, KeyFile string
	// Name, when set, is this node's name: a certificate for another node
	// is refused, at start and on reload.
	Name string
	// Interval is the gap between polls of the three files by [Reloader.Run];
	// changed contents are reloaded. Default 5s; negative: no polling.
	Interval time.Duration
	// Logger receives a line for every reload, good or failed. nil:
	// discard.
	Logger *slog.Logger
	// OnReload, when set, is called after every reload attempt (changed
	// files found by polling, or [Reloader.Reload]) with its error: nil when
	// the new material is in use. For metrics; it must not block.
	OnReload func(err error)
}

// DefaultReloadInterval is the default ReloaderConfig.Interval.
const DefaultReloadInterval = 5 * time.Second

// Reloader holds a node's current certificate and CA pool, loaded from
// files, and hands them to TLS handshakes through [Reloader.TLSConfig].
// [Reloader.Reload] reloads at once (the node calls it on SIGHUP);
// [Reloader.Run] polls the files. A failed reload keeps the last good
// material. All methods are safe for concurrent use.
type Reloader struct {
	cfg ReloaderConfig
	log *slog.Logger
	cur atomic.Pointer[material] // never nil after NewReloader

	mu sync.Mutex // serializes reloads
	// guarded by mu
	seen []byte // the files' contents at the last attempt, or the read error's text
}

// material is one consistent set of TLS material.
type material struct {
	cert *tls.Certificate
	name string
	pool *x509.CertPool
	cas  []*x509.Certificate
}

// NewReloader loads the files once. It fails, saying why, if they cannot be
// read, do not parse, the key does not match the certificate, the
// certificate is not a node certificate (of cfg.Name, when set) or does
// not chain to a CA of the bundle.
func NewReloader(cfg ReloaderConfig) (*Reloader, error) {
	if cfg.CAFile == "" || cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("pki: CAFile, CertFile and KeyFile are required")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultReloadInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{cfg: cfg, log: cfg.Logger.With("component", "tls")}
	seen, files, err := r.read()
	if err != nil {
		return nil, err
	}
	m, err := r.load(files)
	if err != nil {
		return nil, err
	}
	r.seen = seen
	r.cur.Store(m)
	return r, nil
}

// read returns the three files' contents (CA, certificate, key) and their
// concatenation, which identifies an attempt.
func (r *Reloader) read() (seen []byte, files [3][]byte, err error) {
	for i, path := range []string{r.cfg.CAFile, r.cfg.CertFile, r.cfg.KeyFile} {
		b, err := os.ReadFile(path)
		if err != nil {
			return []byte(err.Error()), files, fmt.Errorf("pki: %w", err)
		}
		files[i] = b
		seen = append(seen, b...)
		seen = append(seen, 0)
	}
	return seen, files, nil
}

// load parses and checks one set of files.
func (r *Reloader) load(files [3][]byte) (*material, error) {
	cas, err := ParseCerts(files[0])
	if err != nil {
		return nil, fmt.Errorf("pki: CA bundle %s: %w", r.cfg.CAFile, err)
	}
	pool := x509.NewCertPool()
	for _, ca := range cas {
		if !ca.IsCA {
			return nil, fmt.Errorf("pki: CA bundle %s: %q is not a CA certificate", r.cfg.CAFile, ca.Subject.CommonName)
		}
		pool.AddCert(ca)
	}
	cert, err := tls.X509KeyPair(files[1], files[2])
	if err != nil {
		return nil, fmt.Errorf("pki: certificate %s and key %s: %w", r.cfg.CertFile, r.cfg.KeyFile, err)
	}
	name, err := NodeName(cert.Leaf)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate %s: %w", r.cfg.CertFile, err)
	}
	if r.cfg.Name != "" && name != r.cfg.Name {
		return nil, fmt.Errorf("pki: certificate %s is for node %q, this node is %q", r.cfg.CertFile, name, r.cfg.Name)
	}
	// The node's own certificate must chain to its bundle: peers with the
	// same bundle would refuse it otherwise (a CA removed too early).
	if err := verifyChain(pool, cert.Leaf, intermediates(cert.Certificate[1:])); err != nil {
		return nil, fmt.Errorf("pki: certificate %s does not chain to the CA bundle %s: %w", r.cfg.CertFile, r.cfg.CAFile, err)
	}
	return &material{cert: &cert, name: name, pool: pool, cas: cas}, nil
}

// Reload reloads the files now, whether they changed or not, logs the
// outcome and returns it: nil when the new material is in use; on an
// error the last good material stays in use.
func (r *Reloader) Reload() error {
	return r.reload("signal", true)
}

// Run polls the files every Interval until ctx ends, reloading them when
// their contents change. It returns at once when polling is off.
func (r *Reloader) Run(ctx context.Context) {
	if r.cfg.Interval < 0 {
		return
	}
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = r.reload("file change", false) // logged
		}
	}
}

// reload reads the files and, when force is set or they differ from the
// last attempt, loads them. A failed attempt is reported once, not at every
// poll: the next attempt waits for the files to change again.
func (r *Reloader) reload(trigger string, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen, files, err := r.read()
	if !force && bytes.Equal(seen, r.seen) {
		return nil
	}
	r.seen = seen
	var m *material
	if err == nil {
		m, err = r.load(files)
	}
	if err != nil {
		old := r.cur.Load()
		r.log.Warn("tls reload failed; keeping the current certificate and CAs", "trigger", trigger,
			"node_cert_expires", old.cert.Leaf.NotAfter, "err", err)
	} else {
		r.cur.Store(m)
		r.log.Info("tls material reloaded", "trigger", trigger, "node", m.name,
			"node_cert_expires", m.cert.Leaf.NotAfter, "cas", len(m.cas))
	}
	if r.cfg.OnReload != nil {
		r.cfg.OnReload(err)
	}
	return err
}

// NodeName returns the node name of the current certificate.
func (r *Reloader) NodeName() string { return r.cur.Load().name }

// Certificate returns the current node certificate (do not modify it).
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load().cert }

// CAs returns the CA certificates of the current bundle.
func (r *Reloader) CAs() []*x509.Certificate { return r.cur.Load().cas }

// TLSConfig returns a config for both ends of node-to-node connections:
// TLS 1.3, this node's current certificate offered as server and as
// client, a client certificate required, and every peer (server or client)
// verified by [Reloader.VerifyPeer] against the current CA pool. Host
// names are not checked (InsecureSkipVerify only turns off the standard
// verification, which VerifyConnection replaces): a node is identified by
// the node name in its certificate, which the transport compares with the
// node it meant to reach.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cur.Load().cert, nil
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.cur.Load().cert, nil
		},
		ClientAuth:         tls.RequireAnyClientCert,
		InsecureSkipVerify: true, // replaced by VerifyConnection, against the current pool
		VerifyConnection:   r.VerifyPeer,
	}
}

// VerifyPeer checks the certificate a peer presented in a handshake: it
// must chain to a CA of the current bundle, for both server and client
// use, and be a node certificate ([NodeName]). It does not check host
// names.
func (r *Reloader) VerifyPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("pki: the peer presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	if err := verifyChain(r.cur.Load().pool, leaf, intermediates(nil, cs.PeerCertificates[1:]...)); err != nil {
		return fmt.Errorf("pki: peer certificate %q: %w", leaf.Subject.CommonName, err)
	}
	if _, err := NodeName(leaf); err != nil {
		return err
	}
	return nil
}

// verifyChain verifies leaf against roots for both server and client use.
func verifyChain(roots *x509.CertPool, leaf *x509.Certificate, inter *x509.CertPool) error {
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{u}})
		if err != nil {
			return err
		}
	}
	return nil
}

// intermediates makes a pool of the DER certificates ders and the parsed
// certificates certs; those that do not parse are left out (verification
// then fails if they were needed).
func intermediates(ders [][]byte, certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, der := range ders {
		if c, err := x509.ParseCertificate(der); err == nil {
			p.AddCert(c)
		}
	}
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
