package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// WithToken sends token as "Authorization: Bearer TOKEN" on every request
// (dynamod token create makes one). A node that needs a token answers 401
// without one ([ErrUnauthorized]) and 403 when it lacks the grant
// ([ErrForbidden]); neither is retried on another node.
func WithToken(token string) Option {
	return func(c *Client) { c.token = token }
}

// WithTLSConfig makes the client's own transport use cfg for https://
// nodes (a CA pool from [LoadCA], a client certificate). It cannot be
// combined with [WithHTTPClient], whose transport is the caller's.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *Client) { c.tlsConf = cfg }
}

// LoadCA reads a PEM file of CA certificates and returns a TLS config
// that trusts them alone, for [WithTLSConfig]: the nodes' certificates
// must chain to one of them.
func LoadCA(file string) (*tls.Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("client: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("client: CA file %s holds no PEM certificate", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// checkAuthOptions validates the token and TLS options.
func (c *Client) checkAuthOptions() error {
	var errs []error
	if strings.ContainsFunc(c.token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		errs = append(errs, errors.New("client: token must not contain spaces or control characters"))
	}
	if c.tlsConf != nil && c.hc != nil {
		errs = append(errs, errors.New("client: WithTLSConfig cannot be combined with WithHTTPClient (configure that client's transport)"))
	}
	return errors.Join(errs...)
}
