package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/gossip"
	dhttp "github.com/dynamod/dynamod/http"
	"github.com/dynamod/dynamod/node"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transport"
)

// keyedMembers is a static membership with a keyring that follows
// gossip.Gossip's rules (install appends, use moves to the front, the
// primary cannot be removed).
type keyedMembers struct {
	*node.Static
	mu   sync.Mutex
	keys [][]byte
}

var _ node.GossipKeyring = (*keyedMembers)(nil)

func (m *keyedMembers) Keyring() (string, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var fps []string
	for _, k := range m.keys {
		fps = append(fps, gossip.Fingerprint(k))
	}
	return fps[0], fps
}

func (m *keyedMembers) has(key []byte) bool {
	return slices.ContainsFunc(m.keys, func(k []byte) bool { return bytes.Equal(k, key) })
}

func (m *keyedMembers) InstallKey(key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.has(key) {
		m.keys = append(m.keys, slices.Clone(key))
	}
	return nil
}

func (m *keyedMembers) UseKey(key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.has(key) {
		return gossip.ErrKeyNotInstalled
	}
	rest := slices.DeleteFunc(m.keys, func(k []byte) bool { return bytes.Equal(k, key) })
	m.keys = append([][]byte{slices.Clone(key)}, rest...)
	return nil
}

func (m *keyedMembers) RemoveKey(key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if bytes.Equal(m.keys[0], key) {
		return gossip.ErrPrimaryKey
	}
	m.keys = slices.DeleteFunc(m.keys, func(k []byte) bool { return bytes.Equal(k, key) })
	return nil
}

// keyCluster is three nodes on a memory network, each with a keyring
// holding k1.
type keyCluster struct {
	net     *transport.MemNetwork
	nodes   map[string]*node.Node
	members map[string]*keyedMembers
}

func startKeyCluster(t *testing.T, k1 []byte) *keyCluster {
	t.Helper()
	names := []string{"n1", "n2", "n3"}
	kc := &keyCluster{net: transport.NewMemNetwork(1), nodes: map[string]*node.Node{}, members: map[string]*keyedMembers{}}
	t.Cleanup(func() { _ = kc.net.Close() })
	for _, name := range names {
		m := &keyedMembers{Static: node.NewStatic(names...), keys: [][]byte{k1}}
		cfg := node.DefaultConfig()
		cfg.Name = name
		cfg.Ring.Partitions, cfg.Ring.Tokens = 16, 8
		cfg.AntiEntropyOff = true
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
		var n *node.Node
		ready := make(chan struct{})
		ep := kc.net.Join(name, transport.HandlerFunc(func(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
			<-ready
			return n.Serve(ctx, from, kind, body)
		}))
		n, err := node.New(cfg, node.Parts{Engine: storage.NewMemory(), Members: m, Transport: ep})
		if err != nil {
			t.Fatal(err)
		}
		close(ready)
		t.Cleanup(func() { _ = n.Close() })
		kc.nodes[name], kc.members[name] = n, m
	}
	return kc
}

// keyrings renders every node's keyring, e.g. "n1=[a* b] n2=...", the
// primary starred.
func (kc *keyCluster) keyrings() string {
	var s string
	for _, name := range []string{"n1", "n2", "n3"} {
		p, ks := kc.members[name].Keyring()
		var parts []string
		for _, k := range ks {
			if k == p {
				k += "*"
			}
			parts = append(parts, k)
		}
		s += fmt.Sprintf("%s=%v ", name, parts)
	}
	return s
}

type keyDoc struct {
	Op      string `json:"op"`
	Key     string `json:"key"`
	OK      bool   `json:"ok"`
	Refused string `json:"refused"`
	Nodes   []struct {
		Node, Primary, Error string
		Keys                 []string
	} `json:"nodes"`
	Keys []struct {
		Key       string `json:"key"`
		Installed int    `json:"installed_on"`
		Primary   int    `json:"primary_on"`
	} `json:"keys"`
}

func decodeDoc(t *testing.T, raw json.RawMessage) keyDoc {
	t.Helper()
	var d keyDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("document %s: %v", raw, err)
	}
	return d
}

// TestGossipKeys_fanOut rotates the key of three nodes through one of
// them: each operation reaches every alive member over the node-to-node
// transport, a use or remove that would cut a node off is refused before
// anything changes, a node that does not answer is reported and the rest
// apply, and bad input is refused before any node is asked.
func TestGossipKeys_fanOut(t *testing.T) {
	k1, k2, k3 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 16)
	f1, f2, f3 := gossip.Fingerprint(k1), gossip.Fingerprint(k2), gossip.Fingerprint(k3)
	kc := startKeyCluster(t, k1)
	n1 := kc.nodes["n1"]
	ctx := t.Context()
	want := func(what, keyrings string) {
		t.Helper()
		if got := kc.keyrings(); got != keyrings {
			t.Fatalf("%s: keyrings %s, want %s", what, got, keyrings)
		}
	}
	run := func(op string, key []byte) (keyDoc, error) {
		t.Helper()
		raw, err := n1.GossipKeys(ctx, op, key)
		if raw == nil {
			return keyDoc{}, err
		}
		return decodeDoc(t, raw), err
	}
	all := func(ks ...string) string {
		return fmt.Sprintf("n1=%v n2=%v n3=%v ", ks, ks, ks)
	}

	d, err := run("install", k2)
	if err != nil || !d.OK || d.Key != f2 || len(d.Nodes) != 3 {
		t.Fatalf("install: %+v, %v", d, err)
	}
	want("install", all(f1+"*", f2))
	if len(d.Keys) != 2 || d.Keys[0].Key != f1 || d.Keys[0].Primary != 3 || d.Keys[1].Installed != 3 || d.Keys[1].Primary != 0 {
		t.Errorf("install: key counts %+v", d.Keys)
	}

	// A key only n2 has cannot be used: n1 and n3 would drop n2's packets.
	if err := kc.members["n2"].InstallKey(k3); err != nil {
		t.Fatal(err)
	}
	d, err = run("use", k3)
	if !errors.Is(err, dhttp.ErrConflict) || d.Refused == "" || d.OK {
		t.Fatalf("use of a key not installed everywhere: %+v, %v", d, err)
	}
	if err := kc.members["n2"].RemoveKey(k3); err != nil {
		t.Fatal(err)
	}
	want("refused use", all(f1+"*", f2))

	if d, err = run("use", k2); err != nil || !d.OK {
		t.Fatalf("use: %+v, %v", d, err)
	}
	want("use", all(f2+"*", f1))
	if d, err = run("remove", k2); !errors.Is(err, dhttp.ErrConflict) || d.Refused == "" {
		t.Fatalf("remove of the primary: %+v, %v", d, err)
	}
	if d, err = run("remove", k1); err != nil || !d.OK {
		t.Fatalf("remove: %+v, %v", d, err)
	}
	want("remove", all(f2+"*"))

	// n3 answers nothing: n1 and n2 install, n3 is reported, and the
	// same command once n3 is back finishes the job.
	kc.net.Partition([]string{"n1", "n2"}, []string{"n3"})
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	raw, err := n1.GossipKeys(short, "install", k3)
	cancel()
	d = decodeDoc(t, raw)
	if !errors.Is(err, dhttp.ErrConflict) || d.OK || d.Nodes[2].Node != "n3" || d.Nodes[2].Error == "" {
		t.Fatalf("install with n3 cut off: %+v, %v", d, err)
	}
	want("partial install", fmt.Sprintf("n1=%v n2=%v n3=%v ", []string{f2 + "*", f3}, []string{f2 + "*", f3}, []string{f2 + "*"}))
	kc.net.Heal()
	if d, err = run("install", k3); err != nil || !d.OK {
		t.Fatalf("install again: %+v, %v", d, err)
	}
	want("install again", all(f2+"*", f3))

	// A member that is down is not asked.
	for _, m := range kc.members {
		m.SetAlive(func(name string) bool { return name != "n3" })
	}
	if d, err = run("list", nil); err != nil || len(d.Nodes) != 2 || d.Key != "" {
		t.Fatalf("list without n3: %+v, %v", d, err)
	}

	for _, bad := range []struct {
		op  string
		key []byte
	}{{"rotate", k1}, {"install", nil}, {"list", k1}, {"install", []byte("short")}} {
		if _, err := n1.GossipKeys(ctx, bad.op, bad.key); !errors.Is(err, quorum.ErrBadRequest) {
			t.Errorf("%s with %d bytes: %v, want ErrBadRequest", bad.op, len(bad.key), err)
		}
	}
	want("after bad input", all(f2+"*", f3))
}

// TestGossipKeys_serveMalformed: a peer's malformed keyring request is
// answered with an error and changes nothing.
func TestGossipKeys_serveMalformed(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 16)
	kc := startKeyCluster(t, k1)
	n := kc.nodes["n2"]
	for _, body := range [][]byte{nil, {0}, {9}, {1, 5}, {2, 1, 2, 3}, append([]byte{4}, k1...)} {
		b, err := n.Serve(t.Context(), "n1", node.KindKeyring, body)
		if err != nil {
			t.Fatalf("%v: transport error %v", body, err)
		}
		var r struct{ Error string }
		if json.Unmarshal(b, &r) != nil || r.Error == "" {
			t.Errorf("%v: answer %s, want an error", body, b)
		}
	}
	f := gossip.Fingerprint(k1)
	if got := kc.keyrings(); got != fmt.Sprintf("n1=[%s*] n2=[%s*] n3=[%s*] ", f, f, f) {
		t.Errorf("keyrings %s", got)
	}
}
