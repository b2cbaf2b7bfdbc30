package gossip

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func testKey(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

func TestParseKeys(t *testing.T) {
	k1, k2 := testKey(1, 32), testKey(2, 16)
	cases := []struct {
		name, in string
		want     [][]byte
		err      string
	}{
		{"one key, as dynamod certs writes it", b64(k1) + "\n", [][]byte{k1}, ""},
		{"primary first, comments, blanks, CRLF", "# rotated\n\n" + b64(k2) + "\r\n  " + b64(k1) + "  \n", [][]byte{k2, k1}, ""},
		{"unpadded", strings.TrimRight(b64(k2), "="), [][]byte{k2}, ""},
		{"duplicate counts once", b64(k1) + "\n" + b64(k1), [][]byte{k1}, ""},
		{"empty", "\n# nothing\n", nil, "no key"},
		{"not base64", "not a key!", nil, "line 1: gossip: bad key: not base64"},
		{"wrong length", b64(k1) + "\n" + b64(testKey(3, 20)), nil, "line 2: gossip: bad key: a key is 16, 24 or 32 bytes, got 20"},
		{"too many", func() string {
			var s string
			for i := range maxKeys + 1 {
				s += b64(testKey(byte(i+1), 16)) + "\n"
			}
			return s
		}(), nil, "9 keys, at most 8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKeys([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrBadKey) {
					t.Fatalf("err = %v, want ErrBadKey with %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.EqualFunc(got, tc.want, bytes.Equal) {
				t.Fatalf("got %d keys, %v; want %d", len(got), err, len(tc.want))
			}
			back, err := ParseKeys(FormatKeys(got))
			if err != nil || !slices.EqualFunc(back, got, bytes.Equal) {
				t.Errorf("FormatKeys does not round-trip: %v", err)
			}
		})
	}
	if fp := Fingerprint(k1); len(fp) != 8 || fp == Fingerprint(k2) || strings.Contains(b64(k1), fp) {
		t.Errorf("Fingerprint = %q", fp)
	}
}

// startKeyed starts nodes with the given keys, each joining the first.
func (c *cluster) startKeyed(keys [][]byte, names ...string) []*Gossip {
	c.t.Helper()
	var out []*Gossip
	for i, name := range names {
		cfg := c.config(name)
		cfg.Keys = keys
		cfg.KeyringPath = filepath.Join(c.dir, name+".keyring")
		if i > 0 {
			cfg.Join = []string{gossipAddr(out[0])}
		}
		out = append(out, c.start(cfg))
	}
	waitFor(c.t, settle, "all alive", allSee(func(g *Gossip) error { return seesAlive(g, names...) }, out...))
	return out
}

func dropped(t testing.TB, g *Gossip, reason string) float64 {
	return value(t, g.metrics.droppedPackets.WithLabelValues(reason))
}

func rejected(t testing.TB, g *Gossip, reason rejectReason) float64 {
	return value(t, g.metrics.rejectedEntries.WithLabelValues(string(reason)))
}

func TestGossip_wrongKeyCannotJoin(t *testing.T) {
	c := newCluster(t)
	gs := c.startKeyed([][]byte{testKey(1, 32)}, "a", "b")
	cfg := c.config("x")
	cfg.Keys = [][]byte{testKey(2, 32)}
	cfg.Join = []string{gossipAddr(gs[0])}
	if _, err := New(cfg); !errors.Is(err, ErrJoin) {
		t.Fatalf("join with another key = %v, want ErrJoin", err)
	}
	// The key checked at b, not at x: without one, x cannot join either.
	cfg = c.config("y")
	cfg.Join = []string{gossipAddr(gs[1])}
	if _, err := New(cfg); !errors.Is(err, ErrJoin) {
		t.Fatalf("join without a key = %v, want ErrJoin", err)
	}
	waitFor(t, settle, "a counted x's stream", func() error {
		if n := dropped(t, gs[0], dropUndecryptable); n < 1 {
			return fmt.Errorf("dropped{undecryptable} = %v", n)
		}
		return nil
	})
	waitFor(t, settle, "b counted y's plain stream", func() error {
		if n := dropped(t, gs[1], dropPlaintext); n < 1 {
			return fmt.Errorf("dropped{plaintext} = %v", n)
		}
		return nil
	})
	for _, g := range gs {
		if err := seesAlive(g, "a", "b"); err != nil {
			t.Error(err)
		}
	}
}

// forgedRemoval is a memberlist user message (type byte 8, then the
// delegate's bytes) carrying a cluster-state entry that removes member at
// version ver, written by origin.
func forgedRemoval(member, origin, gossipAddr string, ver uint64) []byte {
	w := wireState{V: stateVersion, From: origin, Members: map[string]memberEntry{
		member: {Ver: ver, Origin: origin, Gossip: gossipAddr, Status: Removed},
	}}
	return append([]byte{8}, encodeState(w)...)
}

func sendUDP(t *testing.T, addr string, msg []byte) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
}

// ringIntact checks that g still has a and b in its ring with a sane clock.
func ringIntact(g *Gossip) error {
	g.mu.Lock()
	clock := g.state.clock
	g.mu.Unlock()
	if got := g.RingMembers(); !slices.Equal(got, []string{"a", "b"}) || clock > 1<<20 {
		return fmt.Errorf("%s: ring %v, clock %d", g.LocalName(), got, clock)
	}
	return nil
}

// TestGossip_forgedDatagram sends the attack of issue 11, one plaintext
// UDP datagram removing b at version 2^53, to an encrypted node (dropped
// and counted before it is read) and to a node without a key (refused by
// validation), and the same removal at an ordinary version from an unknown
// origin.
func TestGossip_forgedDatagram(t *testing.T) {
	t.Run("encrypted", func(t *testing.T) {
		c := newCluster(t)
		gs := c.startKeyed([][]byte{testKey(1, 32)}, "a", "b")
		a := gs[0]
		sendUDP(t, gossipAddr(a), forgedRemoval("b", "evil", gossipAddr(gs[1]), 1<<53))
		waitFor(t, settle, "the datagram counted", func() error {
			if n := dropped(t, a, dropPlaintext); n != 1 {
				return fmt.Errorf("dropped{plaintext} = %v", n)
			}
			return nil
		})
		// A plain TCP stream (push-pull or reliable message) is dropped
		// the same way.
		conn, err := net.Dial("tcp", gossipAddr(a))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(forgedRemoval("b", "evil", gossipAddr(gs[1]), 1<<53))
		waitFor(t, settle, "the stream counted", func() error {
			if n := dropped(t, a, dropPlaintext); n != 2 {
				return fmt.Errorf("dropped{plaintext} = %v", n)
			}
			return nil
		})
		conn.Close()
		for _, g := range gs {
			if err := ringIntact(g); err != nil {
				t.Error(err)
			}
			for _, r := range rejectReasons {
				if n := rejected(t, g, r); n != 0 {
					t.Errorf("%s: the forgery reached validation: rejected{%s} = %v", g.LocalName(), r, n)
				}
			}
		}
	})
	t.Run("plaintext", func(t *testing.T) {
		c := newCluster(t)
		gs := c.startN("a", "b")
		a := gs[0]
		sendUDP(t, gossipAddr(a), forgedRemoval("b", "evil", gossipAddr(gs[1]), 1<<53))
		waitFor(t, settle, "the jump refused", func() error {
			if n := rejected(t, a, rejectVersionJump); n != 1 {
				return fmt.Errorf("rejected{version_jump} = %v", n)
			}
			return nil
		})
		a.mu.Lock()
		ver := a.state.clock + 1
		a.mu.Unlock()
		sendUDP(t, gossipAddr(a), forgedRemoval("b", "evil", gossipAddr(gs[1]), ver))
		waitFor(t, settle, "the unknown origin refused", func() error {
			if n := rejected(t, a, rejectUnknownOrigin); n != 1 {
				return fmt.Errorf("rejected{unknown_origin} = %v", n)
			}
			return nil
		})
		for _, g := range gs {
			if err := ringIntact(g); err != nil {
				t.Error(err)
			}
		}
		if n := dropped(t, a, dropPlaintext); n != 0 {
			t.Errorf("dropped{plaintext} = %v without a key", n)
		}
	})
}

// deathLog counts "member dead" records of the gossip logger.
type deathLog struct {
	slog.Handler
	mu     *sync.Mutex
	deaths *[]string
}

func (h deathLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "member dead" {
		h.mu.Lock()
		*h.deaths = append(*h.deaths, r.Message)
		h.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h deathLog) WithAttrs(as []slog.Attr) slog.Handler {
	return deathLog{Handler: h.Handler.WithAttrs(as), mu: h.mu, deaths: h.deaths}
}

func (h deathLog) WithGroup(name string) slog.Handler {
	return deathLog{Handler: h.Handler.WithGroup(name), mu: h.mu, deaths: h.deaths}
}

// TestGossip_keyRotation rotates the key of a three-node cluster, install,
// use, remove, one node at a time, while they gossip: nobody is declared
// dead, every step's bucket update reaches every node, and afterwards the
// old key cannot join while the new one can.
func TestGossip_keyRotation(t *testing.T) {
	c := newCluster(t)
	// Broadcasts go to a few random members a few times; push-pull, an
	// encrypted TCP exchange, repairs what they miss, so keep it short.
	c.tune = func(mc *memberlist.Config) {
		fastTimings(mc)
		mc.PushPullInterval = 300 * time.Millisecond
	}
	var mu sync.Mutex
	var deaths []string
	oldKey, newKey := testKey(1, 32), testKey(2, 32)
	names := []string{"a", "b", "c"}
	var gs []*Gossip
	for i, name := range names {
		cfg := c.config(name)
		cfg.Logger = slog.New(deathLog{Handler: cfg.Logger.Handler(), mu: &mu, deaths: &deaths})
		cfg.SecretKey = oldKey
		cfg.KeyringPath = filepath.Join(c.dir, name+".keyring")
		if i > 0 {
			cfg.Join = []string{gossipAddr(gs[0])}
		}
		gs = append(gs, c.start(cfg))
	}
	waitFor(t, settle, "all alive", allSee(func(g *Gossip) error { return seesAlive(g, names...) }, gs...))

	step := 0
	spread := func(what string) {
		t.Helper()
		step++
		props := fmt.Sprintf(`{"step":%d}`, step)
		if err := gs[step%3].SetBucketProps("rot", []byte(props)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, settle, what+": update spread", allSee(func(g *Gossip) error {
			if err := hasProps(g, "rot", props); err != nil {
				return err
			}
			return seesAlive(g, names...)
		}, gs...))
	}
	spread("before")
	for _, g := range gs {
		if err := g.InstallKey(newKey); err != nil {
			t.Fatalf("install on %s: %v", g.LocalName(), err)
		}
		spread("install on " + g.LocalName())
	}
	for _, g := range gs {
		if err := g.UseKey(newKey); err != nil {
			t.Fatalf("use on %s: %v", g.LocalName(), err)
		}
		spread("use on " + g.LocalName())
	}
	for _, g := range gs {
		if err := g.RemoveKey(oldKey); err != nil {
			t.Fatalf("remove on %s: %v", g.LocalName(), err)
		}
		spread("remove on " + g.LocalName())
	}
	for _, g := range gs {
		if st := g.Keyring(); st.Primary != Fingerprint(newKey) || !slices.Equal(st.Keys, []string{Fingerprint(newKey)}) {
			t.Errorf("%s: keyring %+v", g.LocalName(), st)
		}
	}
	mu.Lock()
	if len(deaths) > 0 {
		t.Errorf("%d members declared dead during the rotation", len(deaths))
	}
	mu.Unlock()

	cfg := c.config("old")
	cfg.SecretKey = oldKey
	cfg.Join = []string{gossipAddr(gs[1])}
	if _, err := New(cfg); !errors.Is(err, ErrJoin) {
		t.Fatalf("join with the removed key = %v, want ErrJoin", err)
	}
	cfg = c.config("d")
	cfg.SecretKey = newKey
	cfg.Join = []string{gossipAddr(gs[2])}
	d := c.start(cfg)
	waitFor(t, settle, "d joined with the new key", allSee(func(g *Gossip) error {
		return seesAlive(g, "a", "b", "c", "d")
	}, append(gs, d)...))
}

func TestGossip_keyringOperations(t *testing.T) {
	c := newCluster(t)
	p, k2, k3, k4 := testKey(1, 16), testKey(2, 24), testKey(3, 32), testKey(4, 32)
	cfg := c.config("a")
	cfg.Keys = [][]byte{p}
	cfg.KeyringPath = filepath.Join(c.dir, "a.keyring")
	a := c.start(cfg)

	if err := a.UseKey(k2); !errors.Is(err, ErrKeyNotInstalled) {
		t.Errorf("use of a key not installed = %v", err)
	}
	if err := a.RemoveKey(p); !errors.Is(err, ErrPrimaryKey) {
		t.Errorf("remove of the primary = %v", err)
	}
	if err := a.InstallKey(testKey(9, 20)); !errors.Is(err, ErrBadKey) {
		t.Errorf("install of a 20-byte key = %v", err)
	}
	for _, k := range [][]byte{k2, k3, k4, k3} {
		if err := a.InstallKey(k); err != nil {
			t.Fatal(err)
		}
	}
	fps := func(ks ...[]byte) []string {
		var out []string
		for _, k := range ks {
			out = append(out, Fingerprint(k))
		}
		return out
	}
	check := func(what string, want ...[]byte) {
		t.Helper()
		if st := a.Keyring(); st.Primary != Fingerprint(want[0]) || !slices.Equal(st.Keys, fps(want...)) {
			t.Errorf("%s: keyring %v, want %v", what, st.Keys, fps(want...))
		}
		if got, err := ReadKeyFile(cfg.KeyringPath); err != nil || !slices.EqualFunc(got, want, bytes.Equal) {
			t.Errorf("%s: file holds %d keys, %v; want %v", what, len(got), err, fps(want...))
		}
	}
	check("installed", p, k2, k3, k4)
	// A key in the middle: memberlist's own RemoveKey would shift the
	// keys in place (removeLast).
	if err := a.RemoveKey(k3); err != nil {
		t.Fatal(err)
	}
	check("removed from the middle", p, k2, k4)
	// The caller's slice is the caller's: a request body the transport
	// reuses once the handler returns (a rotation once made memberlist
	// encrypt with whatever the next request's bytes were).
	use := slices.Clone(k4)
	if err := a.UseKey(use); err != nil {
		t.Fatal(err)
	}
	clear(use)
	check("used", k4, p, k2)
	if err := a.RemoveKey(k3); err != nil {
		t.Errorf("remove of a key not installed = %v, want nothing done", err)
	}
	check("nothing removed", k4, p, k2)
	if fi, err := os.Stat(cfg.KeyringPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("keyring file: %v, %v", fi.Mode(), err)
	}

	cfg = c.config("plain")
	plain := c.start(cfg)
	if err := plain.InstallKey(k2); !errors.Is(err, ErrNoEncryption) {
		t.Errorf("install without encryption = %v", err)
	}
	if st := plain.Keyring(); st.Primary != "" || len(st.Keys) != 0 {
		t.Errorf("keyring without encryption = %+v", st)
	}
}

// TestGossip_keyringSurvivesRestart restarts a node after a rotation with
// its original key: the persisted keyring wins, so it keeps the new key
// and rejoins; a keyring file that does not parse stops New.
func TestGossip_keyringSurvivesRestart(t *testing.T) {
	c := newCluster(t)
	oldKey, newKey := testKey(1, 32), testKey(2, 32)
	gs := c.startKeyed([][]byte{oldKey}, "a", "b")
	for _, g := range gs {
		if err := g.InstallKey(newKey); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range gs {
		if err := g.UseKey(newKey); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range gs {
		if err := g.RemoveKey(oldKey); err != nil {
			t.Fatal(err)
		}
	}
	c.crash("b")
	cfg := c.config("b")
	cfg.Keys = [][]byte{oldKey} // the flag it was first started with
	cfg.KeyringPath = filepath.Join(c.dir, "b.keyring")
	cfg.StatePath = filepath.Join(c.dir, "b.state")
	cfg.Join = []string{gossipAddr(gs[0])}
	b := c.start(cfg)
	if st := b.Keyring(); !slices.Equal(st.Keys, []string{Fingerprint(newKey)}) {
		t.Errorf("restarted keyring %+v, want the new key alone", st)
	}
	waitFor(t, settle, "b back", allSee(func(g *Gossip) error { return seesAlive(g, "a", "b") }, gs[0], b))

	bad := filepath.Join(c.dir, "bad.keyring")
	if err := os.WriteFile(bad, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = c.config("x")
	cfg.KeyringPath = bad
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "bad.keyring") || !errors.Is(err, ErrBadKey) {
		t.Errorf("New with a bad keyring file = %v", err)
	}
	// Without a file, a configured key is written to one.
	cfg = c.config("y")
	cfg.SecretKey = oldKey
	cfg.KeyringPath = filepath.Join(c.dir, "y.keyring")
	c.start(cfg)
	if got, err := ReadKeyFile(cfg.KeyringPath); err != nil || len(got) != 1 || !bytes.Equal(got[0], oldKey) {
		t.Errorf("y's keyring file: %d keys, %v", len(got), err)
	}
}
