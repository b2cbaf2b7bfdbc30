package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Organizational units that mark what a certificate may be.
const (
	// NodeOU marks a node certificate: [NodeName] accepts only these.
	NodeOU = "dynamod-node"
	// ClientOU marks a client certificate.
	ClientOU = "dynamod-client"
	// caOU marks the cluster CA.
	caOU = "dynamod-ca"
)

// Default validities.
const (
	// CAValidity is how long a new CA is valid: ten years.
	CAValidity = 10 * 365 * 24 * time.Hour
	// LeafValidity is how long a node or client certificate is valid:
	// 825 days.
	LeafValidity = 825 * 24 * time.Hour
	// maxNameLen is the longest node or client name (as node names).
	maxNameLen = 255
	// backdate is how far before now a certificate becomes valid, for
	// clocks a little behind.
	backdate = time.Hour
)

// Errors a caller may act on.
var (
	// ErrNotNode: a certificate is not a node certificate of this PKI.
	ErrNotNode = errors.New("pki: not a node certificate")
	// ErrBadPEM: a file holds no PEM block of the expected type, or one
	// that does not parse.
	ErrBadPEM = errors.New("pki: bad PEM")
)

// CA is a cluster CA: its certificate and the key that signs leaves.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Issued is a certificate and its private key, PEM-encoded.
type Issued struct {
	CertPEM []byte // one CERTIFICATE block
	KeyPEM  []byte // one PRIVATE KEY block (PKCS #8)
}

// NewCA creates a self-signed ECDSA P-256 CA valid from an hour ago for
// validity (0: [CAValidity]). Its CommonName carries a random suffix, so
// two CAs can be told apart in a bundle.
func NewCA(validity time.Duration) (*CA, Issued, error) {
	if validity == 0 {
		validity = CAValidity
	}
	if validity < 0 {
		return nil, Issued{}, fmt.Errorf("pki: CA validity must be > 0, got %v", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, Issued{}, fmt.Errorf("pki: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, Issued{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         "dynamod cluster CA " + hex.EncodeToString(serial.Bytes()[:4]),
			OrganizationalUnit: []string{caOU},
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, Issued{}, fmt.Errorf("pki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, Issued{}, fmt.Errorf("pki: parse new CA: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, Issued{}, err
	}
	return &CA{Cert: cert, Key: key}, Issued{CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// ParseCA parses a CA from its PEM certificate and key. certPEM may be a
// bundle (during a CA rotation): the CA is the certificate the key belongs
// to. It fails unless that certificate exists and is a CA.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	certs, err := ParseCerts(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, fmt.Errorf("pki: CA key of type %T", key)
	}
	for _, cert := range certs {
		if !pub.Equal(cert.PublicKey) {
			continue
		}
		if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			return nil, fmt.Errorf("pki: %q is not a CA certificate", cert.Subject.CommonName)
		}
		return &CA{Cert: cert, Key: key}, nil
	}
	return nil, errors.New("pki: the CA key belongs to no certificate of the CA file")
}

// IssueNode issues a node certificate for name, valid from an hour ago for
// validity (0: [LeafValidity]). hosts are the host names and IP addresses
// peers and operators may reach the node at; each becomes a DNS or an IP
// SAN, and so does name when it is a host name. The transport does not
// check them (it checks the node name), but other TLS clients may.
func (ca *CA) IssueNode(name string, hosts []string, validity time.Duration) (Issued, error) {
	if err := checkName(name); err != nil {
		return Issued{}, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, OrganizationalUnit: []string{NodeOU}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if isHostName(name) {
		tmpl.DNSNames = append(tmpl.DNSNames, name)
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch ip := net.ParseIP(h); {
		case h == "":
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		case isHostName(h):
			if !slices.Contains(tmpl.DNSNames, h) {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		default:
			return Issued{}, fmt.Errorf("pki: host %q is neither an IP address nor a host name", h)
		}
	}
	return ca.issue(tmpl, validity)
}

// IssueClient issues a client certificate for name: client usage only,
// marked [ClientOU], so it can never act as a node.
func (ca *CA) IssueClient(name string, validity time.Duration) (Issued, error) {
	if err := checkName(name); err != nil {
		return Issued{}, err
	}
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: name, OrganizationalUnit: []string{ClientOU}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, validity)
}

func (ca *CA) issue(tmpl *x509.Certificate, validity time.Duration) (Issued, error) {
	if validity == 0 {
		validity = LeafValidity
	}
	if validity < 0 {
		return Issued{}, fmt.Errorf("pki: validity must be > 0, got %v", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Issued{}, fmt.Errorf("pki: key: %w", err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return Issued{}, err
	}
	now := time.Now()
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		// A leaf outliving its CA would fail verification anyway.
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return Issued{}, fmt.Errorf("pki: issue %q: %w", tmpl.Subject.CommonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Issued{}, err
	}
	return Issued{CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// NodeName returns the node name a certificate stands for: its CommonName,
// provided it is a node certificate (organizational unit [NodeOU], not
// [ClientOU], not a CA, both the server and the client extended key
// usages). It does not verify the chain: call it on a verified
// certificate. The error wraps [ErrNotNode].
func NodeName(cert *x509.Certificate) (string, error) {
	ou := cert.Subject.OrganizationalUnit
	name := cert.Subject.CommonName
	switch {
	case slices.Contains(ou, ClientOU):
		return "", fmt.Errorf("%w: %q is a client certificate", ErrNotNode, name)
	case !slices.Contains(ou, NodeOU):
		return "", fmt.Errorf("%w: %q lacks the organizational unit %s", ErrNotNode, name, NodeOU)
	case cert.IsCA:
		return "", fmt.Errorf("%w: %q is a CA", ErrNotNode, name)
	case !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		!slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth):
		return "", fmt.Errorf("%w: %q lacks the server or client usage", ErrNotNode, name)
	}
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotNode, err)
	}
	return name, nil
}

// checkName accepts what node names may be: valid UTF-8 of 1 to 255 bytes.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("pki: name must be valid UTF-8 of 1 to %d bytes, got %q", maxNameLen, name)
	}
	return nil
}

// isHostName reports whether s can be a DNS SAN: letters, digits, '-',
// '_' and '.' only, at most 253 bytes, no empty label.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial: %w", err)
	}
	// At least 4 bytes, so the CA's CommonName suffix exists.
	return s.SetBit(s, 126, 1), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCerts parses every CERTIFICATE block of data; other blocks are
// skipped. No certificate, or one that does not parse, is an error
// wrapping [ErrBadPEM].
func ParseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %w", ErrBadPEM, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no CERTIFICATE block", ErrBadPEM)
	}
	return certs, nil
}

// ParseKey parses the first private key block of data (PKCS #8, or SEC 1
// "EC PRIVATE KEY").
func ParseKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%w: no PRIVATE KEY block", ErrBadPEM)
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: private key: %w", ErrBadPEM, err)
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("%w: private key of type %T cannot sign", ErrBadPEM, k)
			}
			return s, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: private key: %w", ErrBadPEM, err)
			}
			return k, nil
		}
	}
}
