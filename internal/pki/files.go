package pki

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File permissions.
const (
	// KeyPerm is the mode of private key and gossip key files.
	KeyPerm os.FileMode = 0o600
	// CertPerm is the mode of certificate files.
	CertPerm os.FileMode = 0o644
)

// GossipKeyLen is the length of a gossip key [NewGossipKey] makes (AES-256).
const GossipKeyLen = 32

// WriteFile writes data to path with exactly mode perm (whatever the
// umask). It writes a temporary file in the same directory and moves it
// into place, so a reader (a [Reloader] polling) never sees half a file.
// Unless force is set it refuses to replace an existing file: the error
// wraps [os.ErrExist].
func WriteFile(path string, data []byte, perm os.FileMode, force bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // after a rename or link it no longer exists, or is a second name
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if force {
		err = os.Rename(name, path)
	} else {
		// A link fails when path exists: no window in which a check
		// passes and another writer creates the file.
		err = os.Link(name, path)
	}
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("pki: %s exists (not overwritten): %w", path, os.ErrExist)
		}
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}

// NewGossipKey returns a fresh random gossip key of [GossipKeyLen] bytes,
// base64-encoded (standard alphabet, with padding) and ending in a newline,
// as written to a gossip key file.
func NewGossipKey() ([]byte, error) {
	key := make([]byte, GossipKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("pki: gossip key: %w", err)
	}
	return append(base64.StdEncoding.AppendEncode(nil, key), '\n'), nil
}

// LoadCA reads a CA from its certificate and key files.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA key: %w", err)
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA %s: %w", certFile, err)
	}
	return ca, nil
}
