package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Profiles accepted by [Config.Profile].
const (
	// ProfileLAN uses memberlist.DefaultLANConfig timings (1s probes, 30s
	// push-pull). The default.
	ProfileLAN = "lan"
	// ProfileLocal uses memberlist.DefaultLocalConfig timings (fast, short
	// timeouts): for tests and single-host clusters.
	ProfileLocal = "local"
)

// Config configures one [Gossip]. Build it from [DefaultConfig]; it must not
// change after [New].
type Config struct {
	// Name is this node's unique name in the cluster. Required.
	Name string

	// BindAddr is the "ip:port" memberlist listens on, TCP and UDP. The host
	// must be an IP literal; the port must not be 0. Default
	// "127.0.0.1:7946". Ignored for listening when Transport is set, but its
	// port still seeds the advertised address.
	BindAddr string

	// AdvertiseAddr is the "host:port" other members use to reach this node's
	// gossip. A hostname is resolved once, in New. "" means BindAddr (or, when
	// BindAddr is 0.0.0.0, a private address memberlist picks).
	AdvertiseAddr string

	// Join lists gossip addresses ("host:port") of existing members to join
	// at start. Empty: start a new cluster or rely on the persisted state.
	Join []string

	// SecretKey, when set, encrypts all gossip (AES; 16, 24 or 32 bytes):
	// it is the primary key, ahead of Keys. Every member must hold it.
	SecretKey []byte

	// Keys is the rest of the keyring (or all of it, without SecretKey):
	// the first key encrypts everything this node sends, every key
	// decrypts. With any key, packets that are not encrypted with one of
	// them are dropped (memberlist's GossipVerifyIncoming and
	// GossipVerifyOutgoing). 16, 24 or 32 bytes each; at most 8 keys.
	Keys [][]byte

	// KeyringPath is the file the keyring in use is written to (0600,
	// atomically) at start and after each change (Gossip.InstallKey,
	// UseKey, RemoveKey), in the key file format (ParseKeys). When it
	// exists at New, its keys replace SecretKey and Keys, so that a
	// rotation survives restarts, and encryption is on even without a
	// configured key. "" = not persisted.
	KeyringPath string

	// RPCAddr and HTTPAddr are this node's node-to-node and client addresses,
	// carried in the cluster state for others to Resolve. Optional
	// "host:port".
	RPCAddr, HTTPAddr string

	// StatePath is the file the cluster state is persisted to (atomically:
	// temp file, fsync, rename, fsync of the directory). "" = not persisted.
	StatePath string

	// RejoinInterval is the mean gap between re-join attempts to known
	// members that are not alive, jittered ±20%. Default 5s; must be > 0.
	// (memberlist alone never re-merges a long partition: memberlist#222.)
	RejoinInterval time.Duration

	// DeadNodeReclaimTime is how long a member must have been dead before
	// memberlist accepts its name at a new address. Default 30s; 0 means
	// never (memberlist's own default); must be >= 0.
	DeadNodeReclaimTime time.Duration

	// Profile selects memberlist timings: ProfileLAN (the default; "" means
	// it too) or ProfileLocal.
	Profile string

	// Transport replaces memberlist's NetTransport, e.g. to inject faults in
	// tests. nil = a NetTransport on BindAddr. The Gossip owns it from New
	// on: Close (or a failed New) shuts it down.
	Transport memberlist.NodeAwareTransport

	// Logger receives the package's and memberlist's logs. nil: discard.
	Logger *slog.Logger

	// Registry registers the metrics. nil: metrics kept but not registered.
	Registry prometheus.Registerer

	// VerifyMember, when set, must prove that the node listening at rpc
	// (its node-to-node address) is the member called name, e.g. by a
	// mutual-TLS handshake whose certificate names it. A member this node
	// has not seen, or a member's new address, is held back from the state
	// until it passes (verify.go). nil: members are admitted on the
	// gossip key alone.
	VerifyMember func(ctx context.Context, name, rpc string) error

	// tune, when set (tests only), adjusts the memberlist config last.
	tune func(*memberlist.Config)
}

// DefaultConfig returns a Config with every default set; only Name must be
// filled in.
func DefaultConfig() Config {
	return Config{
		BindAddr:            "127.0.0.1:7946",
		RejoinInterval:      5 * time.Second,
		DeadNodeReclaimTime: 30 * time.Second,
		Profile:             ProfileLAN,
	}
}

// maxNameLen bounds node and bucket names, ours and those from peers.
const maxNameLen = 255

// Validate reports every invalid field, by name.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("gossip: "+format, args...))
	}
	if c.Name == "" {
		bad("Name is required")
	} else if len(c.Name) > maxNameLen || !utf8.ValidString(c.Name) {
		bad("Name must be valid UTF-8 of at most %d bytes", maxNameLen)
	}
	if err := checkBindAddr(c.BindAddr); err != nil {
		bad("BindAddr %q: %w", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		if _, err := splitPort(c.AdvertiseAddr); err != nil {
			bad("AdvertiseAddr %q: %w", c.AdvertiseAddr, err)
		}
	}
	for i, j := range c.Join {
		if _, err := splitPort(j); err != nil {
			bad("Join[%d] %q: %w", i, j, err)
		}
	}
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		bad("SecretKey must be 16, 24 or 32 bytes, got %d", len(c.SecretKey))
	}
	for i, k := range c.Keys {
		if CheckKey(k) != nil {
			bad("Keys[%d] must be 16, 24 or 32 bytes, got %d", i, len(k))
		}
	}
	if n := len(c.configKeys()); n > maxKeys {
		bad("Keys: %d keys, at most %d", n, maxKeys)
	}
	if c.RPCAddr != "" {
		if _, err := splitPort(c.RPCAddr); err != nil {
			bad("RPCAddr %q: %w", c.RPCAddr, err)
		}
	}
	if c.HTTPAddr != "" {
		if _, err := splitPort(c.HTTPAddr); err != nil {
			bad("HTTPAddr %q: %w", c.HTTPAddr, err)
		}
	}
	if c.RejoinInterval <= 0 {
		bad("RejoinInterval must be > 0, got %v", c.RejoinInterval)
	}
	if c.DeadNodeReclaimTime < 0 {
		bad("DeadNodeReclaimTime must be >= 0, got %v", c.DeadNodeReclaimTime)
	}
	switch c.Profile {
	case "", ProfileLAN, ProfileLocal:
	default:
		bad("Profile must be %q or %q, got %q", ProfileLAN, ProfileLocal, c.Profile)
	}
	return errors.Join(errs...)
}

// splitPort checks "host:port" with a non-empty host and a port in 1..65535.
func splitPort(hostport string) (port int, err error) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0, err
	}
	if host == "" {
		return 0, errors.New("missing host")
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("port must be 1..65535, got %q", p)
	}
	return port, nil
}

func checkBindAddr(addr string) error {
	if _, err := splitPort(addr); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if net.ParseIP(host) == nil {
		return errors.New("host must be an IP literal")
	}
	return nil
}

// memberlistConfig derives memberlist's config from the profile. Only the
// fields this package owns are overridden; delegates, transport and logger
// are set by New.
func (c Config) memberlistConfig() *memberlist.Config {
	var mc *memberlist.Config
	if c.Profile == ProfileLocal {
		mc = memberlist.DefaultLocalConfig()
	} else {
		mc = memberlist.DefaultLANConfig()
		// The cluster state rides on push-pull as well as broadcasts. A
		// broadcast sent while several nodes join at once can reach too
		// few of them, and the LAN default (30 s) then left a member out
		// of some nodes' rings for up to 44 s in the compose tests. The
		// state is small, so a full exchange every 5 s is cheap.
		mc.PushPullInterval = 5 * time.Second
	}
	mc.Name = c.Name
	mc.DeadNodeReclaimTime = c.DeadNodeReclaimTime
	// The keyring (keyring.go) is set by New: it may come from a file.
	return mc
}
