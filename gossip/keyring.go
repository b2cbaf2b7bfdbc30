package gossip

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/hashicorp/memberlist"
)

// Errors of the keyring operations.
var (
	// ErrNoEncryption: the node runs without gossip encryption, so it has
	// no keyring to change. Encryption is turned on at start (a key, or a
	// persisted keyring), never on a running node: its peers would drop
	// its packets until each of them had done the same.
	ErrNoEncryption = errors.New("gossip: encryption is off on this node")
	// ErrKeyNotInstalled: UseKey of a key that is not in the keyring.
	ErrKeyNotInstalled = errors.New("gossip: key is not installed")
	// ErrPrimaryKey: RemoveKey of the key that encrypts (the primary).
	ErrPrimaryKey = errors.New("gossip: the primary key cannot be removed")
	// ErrBadKey: a key that is not 16, 24 or 32 bytes, or a key file that
	// does not parse.
	ErrBadKey = errors.New("gossip: bad key")
)

// maxKeys bounds a keyring: a rotation needs two keys, a few spare are
// harmless, and every key is tried on every packet that fails the others.
const maxKeys = 8

// CheckKey reports whether key can encrypt gossip (AES-128, -192 or -256).
func CheckKey(key []byte) error {
	switch len(key) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: a key is 16, 24 or 32 bytes, got %d", ErrBadKey, len(key))
}

// DecodeKey decodes one base64 key (standard alphabet, padded or not) and
// checks its length.
func DecodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrBadKey)
	}
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// ParseKeys parses a key file: one base64 key a line, the first the
// primary; blank lines and lines starting with # are skipped. It is the
// format of `dynamod certs gossip-key` and of the persisted keyring. A key
// given twice counts once. Errors never quote a key.
func ParseKeys(b []byte) ([][]byte, error) {
	var keys [][]byte
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		key, err := DecodeKey(string(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) }) {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrBadKey)
	}
	if len(keys) > maxKeys {
		return nil, fmt.Errorf("%w: %d keys, at most %d", ErrBadKey, len(keys), maxKeys)
	}
	return keys, nil
}

// ReadKeyFile reads and parses a key file (see [ParseKeys]).
func ReadKeyFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossip: read key file: %w", err)
	}
	keys, err := ParseKeys(b)
	if err != nil {
		return nil, fmt.Errorf("gossip: key file %s: %w", path, err)
	}
	return keys, nil
}

// FormatKeys encodes keys in the key file format, primary first.
func FormatKeys(keys [][]byte) []byte {
	var b []byte
	for _, k := range keys {
		b = base64.StdEncoding.AppendEncode(b, k)
		b = append(b, '\n')
	}
	return b
}

// Fingerprint names a key without revealing it: the first 8 hex digits of
// its SHA-256.
func Fingerprint(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// KeyringStatus is what a node's keyring holds, by fingerprint.
type KeyringStatus struct {
	// Primary encrypts everything this node sends; "" when encryption is
	// off.
	Primary string
	// Keys are every installed key, primary first; each decrypts.
	Keys []string
}

// keyring is a Gossip's encryption keys: memberlist's Keyring, which
// memberlist reads on every packet, and the file it is persisted to.
type keyring struct {
	path string // "" = not persisted
	ml   *memberlist.Keyring

	// mu serializes changes, so that the file and memberlist's keyring
	// change in the same order. It is never held with Gossip.mu.
	mu sync.Mutex
}

// configKeys returns the keys of cfg, primary first, without duplicates.
func (c Config) configKeys() [][]byte {
	var keys [][]byte
	for _, k := range append([][]byte{c.SecretKey}, c.Keys...) {
		if len(k) > 0 && !slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) }) {
			keys = append(keys, slices.Clone(k))
		}
	}
	return keys
}

// openKeyring builds the keyring New gives memberlist: the persisted one
// at cfg.KeyringPath if that file exists (a rotation survives restarts,
// whatever key the node is started with), else cfg's keys, which are then
// persisted. It returns nil when there is no key at all: no encryption.
func openKeyring(cfg Config, log *slog.Logger) (*keyring, error) {
	keys := cfg.configKeys()
	if cfg.KeyringPath != "" {
		b, err := os.ReadFile(cfg.KeyringPath)
		switch {
		case err == nil:
			persisted, err := ParseKeys(b)
			if err != nil {
				return nil, fmt.Errorf("gossip: keyring file %s (remove it to start from the configured key): %w", cfg.KeyringPath, err)
			}
			if len(keys) > 0 && !containsKey(persisted, keys[0]) {
				log.Warn("the persisted gossip keyring wins over the configured key, which it does not hold; install the key with dynamod gossip-key, or remove the file to start from the configured key",
					"path", cfg.KeyringPath, "configured", Fingerprint(keys[0]), "primary", Fingerprint(persisted[0]))
			}
			keys = persisted
		case errors.Is(err, fs.ErrNotExist):
			if len(keys) > 0 {
				if err := writeFileAtomic(cfg.KeyringPath, FormatKeys(keys)); err != nil {
					return nil, fmt.Errorf("gossip: persist keyring: %w", err)
				}
			}
		default:
			return nil, fmt.Errorf("gossip: read keyring: %w", err)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	ml, err := memberlist.NewKeyring(keys[1:], keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossip: keyring: %w", err)
	}
	return &keyring{path: cfg.KeyringPath, ml: ml}, nil
}

func containsKey(keys [][]byte, key []byte) bool {
	return slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) })
}

// keys returns a copy of the installed keys, primary first. memberlist's
// GetKeys hands out its own slice.
func (k *keyring) keys() [][]byte {
	var out [][]byte
	for _, key := range k.ml.GetKeys() {
		out = append(out, slices.Clone(key))
	}
	return out
}

// change persists want, then applies it to memberlist with apply. want must
// be the order memberlist's operation leaves, which change checks. k.mu must
// be held.
func (k *keyring) change(want [][]byte, apply func() error) error {
	if k.path != "" {
		if err := writeFileAtomic(k.path, FormatKeys(want)); err != nil {
			return fmt.Errorf("gossip: persist keyring: %w", err)
		}
	}
	if err := apply(); err != nil {
		return fmt.Errorf("gossip: keyring: %w", err)
	}
	if got := k.keys(); k.path != "" && !slices.EqualFunc(got, want, bytes.Equal) {
		// Not expected: memberlist ordered the keys differently. The file
		// must say what memberlist uses.
		if err := writeFileAtomic(k.path, FormatKeys(got)); err != nil {
			return fmt.Errorf("gossip: persist keyring: %w", err)
		}
	}
	return nil
}

// Keyring returns the fingerprints of this node's gossip keys; an empty
// status when encryption is off.
func (g *Gossip) Keyring() KeyringStatus {
	if g.keys == nil {
		return KeyringStatus{}
	}
	g.keys.mu.Lock()
	defer g.keys.mu.Unlock()
	var st KeyringStatus
	for _, key := range g.keys.keys() {
		st.Keys = append(st.Keys, Fingerprint(key))
	}
	if len(st.Keys) > 0 {
		st.Primary = st.Keys[0]
	}
	return st
}

// InstallKey adds key to the keyring: this node decrypts with it from now
// on, but still encrypts with its primary. Installing an installed key does
// nothing. The keyring file is written before the key is used.
func (g *Gossip) InstallKey(key []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	k, err := g.keyringFor("install")
	if err != nil {
		return err
	}
	defer k.mu.Unlock()
	cur := k.keys()
	if containsKey(cur, key) {
		return nil
	}
	if len(cur) >= maxKeys {
		return fmt.Errorf("%w: the keyring holds %d keys already; remove one first", ErrBadKey, len(cur))
	}
	key = slices.Clone(key)
	if err := k.change(append(cur, key), func() error { return k.ml.AddKey(key) }); err != nil {
		return err
	}
	g.log.Info("gossip key installed", "key", Fingerprint(key))
	return nil
}

// UseKey makes an installed key the primary: this node encrypts with it
// from now on. Every member must have installed it first, or they drop
// this node's packets. ErrKeyNotInstalled if it is not installed here.
func (g *Gossip) UseKey(key []byte) error {
	k, err := g.keyringFor("use")
	if err != nil {
		return err
	}
	defer k.mu.Unlock()
	cur := k.keys()
	if !containsKey(cur, key) {
		return fmt.Errorf("gossip: use key %s: %w", Fingerprint(key), ErrKeyNotInstalled)
	}
	if bytes.Equal(cur[0], key) {
		return nil
	}
	// memberlist keeps the slice UseKey is given as its primary: it must
	// not be the caller's (a request body the transport reuses).
	key = slices.Clone(key)
	want := append([][]byte{key}, slices.DeleteFunc(cur, func(x []byte) bool { return bytes.Equal(x, key) })...)
	if err := k.change(want, func() error { return k.ml.UseKey(key) }); err != nil {
		return err
	}
	g.log.Info("gossip primary key changed", "key", Fingerprint(key))
	return nil
}

// RemoveKey takes a key out of the keyring: packets encrypted with it are
// dropped from now on. Removing a key that is not installed does nothing;
// the primary is refused (ErrPrimaryKey).
func (g *Gossip) RemoveKey(key []byte) error {
	k, err := g.keyringFor("remove")
	if err != nil {
		return err
	}
	defer k.mu.Unlock()
	cur := k.keys()
	if bytes.Equal(cur[0], key) {
		return fmt.Errorf("gossip: remove key %s: %w", Fingerprint(key), ErrPrimaryKey)
	}
	if !containsKey(cur, key) {
		return nil
	}
	want := slices.DeleteFunc(slices.Clone(cur), func(x []byte) bool { return bytes.Equal(x, key) })
	if err := k.change(want, func() error { return k.removeLast(want, key) }); err != nil {
		return err
	}
	g.log.Info("gossip key removed", "key", Fingerprint(key))
	return nil
}

// removeLast removes key from memberlist's keyring, leaving the others in
// the order of rest (primary first). memberlist's RemoveKey shifts the keys
// after the removed one in place, under a packet being decrypted with the
// slice GetKeys handed out (a data race), unless the removed key is the
// last: then nothing moves. UseKey moves a key to the front of a fresh
// slice and keeps the others' order, so using the other keys from the last
// to the first (the primary) leaves key last. Between those calls another
// installed key is the primary for an instant; with the two keys of a
// rotation key is last already and nothing moves.
func (k *keyring) removeLast(rest [][]byte, key []byte) error {
	cur := k.ml.GetKeys()
	if !bytes.Equal(cur[len(cur)-1], key) {
		for i := len(rest) - 1; i >= 0; i-- {
			if err := k.ml.UseKey(rest[i]); err != nil {
				return err
			}
		}
	}
	return k.ml.RemoveKey(key)
}

// keyringFor returns g's keyring locked, or ErrNoEncryption.
func (g *Gossip) keyringFor(op string) (*keyring, error) {
	if g.keys == nil {
		return nil, fmt.Errorf("gossip: %s key: %w", op, ErrNoEncryption)
	}
	if g.isClosed() {
		return nil, ErrClosed
	}
	g.keys.mu.Lock()
	return g.keys, nil
}
