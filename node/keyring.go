package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/dynamod/dynamod/gossip"
	dhttp "github.com/dynamod/dynamod/http"
	"github.com/dynamod/dynamod/quorum"
)

// KindKeyring is the node-to-node message kind of a gossip keyring
// operation. The kinds in use: quorum 1..7, anti-entropy 32..38, transfer
// 64..65, and this one, which Node.Serve routes before the ranges.
//
// Request: one op byte (keyOpList, keyOpInstall, keyOpUse, keyOpRemove),
// then the raw key (none for a list). Answer: a keyResult in JSON.
const KindKeyring uint8 = 96

// Keyring operations, the first byte of a KindKeyring request.
const (
	keyOpList byte = 1 + iota
	keyOpInstall
	keyOpUse
	keyOpRemove
)

var keyOps = map[string]byte{"list": keyOpList, "install": keyOpInstall, "use": keyOpUse, "remove": keyOpRemove}

// GossipKeyring is the optional capability of a Membership whose gossip is
// encrypted with a keyring (the gossip adapter has it; Static does not).
// Keys are raw bytes; only fingerprints come back.
type GossipKeyring interface {
	// Keyring returns the fingerprints of the installed keys, primary
	// first; none when encryption is off.
	Keyring() (primary string, keys []string)
	InstallKey(key []byte) error
	UseKey(key []byte) error
	RemoveKey(key []byte) error
}

var _ GossipKeyring = gossipMembership{}

func (m gossipMembership) Keyring() (string, []string) {
	st := m.g.Keyring()
	return st.Primary, st.Keys
}
func (m gossipMembership) InstallKey(key []byte) error { return m.g.InstallKey(key) }
func (m gossipMembership) UseKey(key []byte) error     { return m.g.UseKey(key) }
func (m gossipMembership) RemoveKey(key []byte) error  { return m.g.RemoveKey(key) }

// keyResult is one node's answer: its keyring after the operation, or why
// it failed.
type keyResult struct {
	Node    string   `json:"node"`
	Primary string   `json:"primary,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// keyCount says how many nodes hold a key, and use it as their primary.
type keyCount struct {
	Key       string `json:"key"`
	Installed int    `json:"installed_on"`
	Primary   int    `json:"primary_on"`
}

// keyringDoc is the answer of GossipKeys.
type keyringDoc struct {
	Op string `json:"op"`
	// Key is the fingerprint of the key operated on; "" for a list.
	Key string `json:"key,omitempty"`
	// OK: every alive member answered and did what was asked.
	OK bool `json:"ok"`
	// Nodes are the alive members asked, by name.
	Nodes []keyResult `json:"nodes"`
	// Keys counts, per key fingerprint, the nodes holding it.
	Keys []keyCount `json:"keys"`
	// Refused says why nothing was changed (use, remove), when so.
	Refused string `json:"refused,omitempty"`
}

// GossipKeys implements http.Backend: it runs a gossip keyring operation
// ("list", "install", "use" or "remove"; key is nil for a list) on every
// member that is alive, this node included, at once, and returns what
// each holds afterwards. A use is refused, changing nothing, unless every
// alive member has the key installed, and a remove unless none uses it as
// its primary: a node whose primary its peers cannot decrypt, or that
// cannot decrypt theirs, drops out of the cluster. When a node fails or is
// refused, the error wraps http.ErrConflict and the document says which;
// every operation is idempotent, so running it again finishes the job.
// Members that are down miss the change: they get it by the same command
// once back (their persisted keyring still holds the old key).
func (n *Node) GossipKeys(ctx context.Context, op string, key []byte) (json.RawMessage, error) {
	code, ok := keyOps[op]
	if !ok {
		return nil, fmt.Errorf("%w: unknown gossip key operation %q (list, install, use, remove)", quorum.ErrBadRequest, op)
	}
	if (code == keyOpList) != (key == nil) {
		return nil, fmt.Errorf("%w: %s takes %s", quorum.ErrBadRequest, op, map[bool]string{true: "no key", false: "a key"}[code == keyOpList])
	}
	if key != nil {
		if err := gossip.CheckKey(key); err != nil {
			return nil, fmt.Errorf("%w: %w", quorum.ErrBadRequest, err)
		}
	}
	if _, ok := n.members.(GossipKeyring); !ok {
		return nil, fmt.Errorf("%w: %w: this node's membership has no gossip keyring", quorum.ErrBadRequest, ErrNotSupported)
	}
	var targets []string
	for _, m := range n.members.Members() {
		if !gone(m.Status) && (m.Name == n.cfg.Name || m.Liveness == "alive") {
			targets = append(targets, m.Name)
		}
	}
	if !slices.Contains(targets, n.cfg.Name) {
		targets = append(targets, n.cfg.Name)
	}
	slices.Sort(targets)
	doc := keyringDoc{Op: op}
	if key != nil {
		doc.Key = gossip.Fingerprint(key)
	}
	if code == keyOpUse || code == keyOpRemove {
		before := n.keyringFanOut(ctx, targets, keyOpList, nil)
		if why := refuseKeyChange(code, doc.Key, before); why != "" {
			doc.Nodes, doc.Keys, doc.Refused = before, countKeys(before), why
			return doc.encode(), fmt.Errorf("%w: gossip key %s: %s", dhttp.ErrConflict, op, why)
		}
	}
	doc.Nodes = n.keyringFanOut(ctx, targets, code, key)
	doc.Keys = countKeys(doc.Nodes)
	var failed []string
	for _, r := range doc.Nodes {
		if r.Error != "" {
			failed = append(failed, r.Node+": "+r.Error)
		}
	}
	doc.OK = len(failed) == 0
	if !doc.OK {
		n.log.Warn("gossip key change incomplete", "op", op, "key", doc.Key, "failed", len(failed), "nodes", len(targets))
		return doc.encode(), fmt.Errorf("%w: gossip key %s failed on %d of %d nodes: %s", dhttp.ErrConflict, op, len(failed), len(targets), strings.Join(failed, "; "))
	}
	if code != keyOpList {
		n.log.Info("gossip key changed cluster-wide", "op", op, "key", doc.Key, "nodes", len(targets))
	}
	return doc.encode(), nil
}

func (d keyringDoc) encode() json.RawMessage {
	b, _ := json.Marshal(d) // strings and ints only
	return b
}

// refuseKeyChange says why a use or remove of key (a fingerprint) must not
// go ahead, given every target's keyring: "" to go ahead.
func refuseKeyChange(code byte, key string, before []keyResult) string {
	var unknown, lacking, using []string
	for _, r := range before {
		switch {
		case r.Error != "":
			unknown = append(unknown, r.Node)
		case !slices.Contains(r.Keys, key):
			lacking = append(lacking, r.Node)
		case r.Primary == key:
			using = append(using, r.Node)
		}
	}
	switch {
	case len(unknown) > 0:
		return "cannot read the keyring of " + strings.Join(unknown, ", ")
	case code == keyOpUse && len(lacking) > 0:
		return "the key is not installed on " + strings.Join(lacking, ", ") + "; install it first"
	case code == keyOpRemove && len(using) > 0:
		return "the key is the primary of " + strings.Join(using, ", ") + "; use another key first"
	}
	return ""
}

func countKeys(rs []keyResult) []keyCount {
	by := map[string]*keyCount{}
	var order []string
	for _, r := range rs {
		for _, k := range r.Keys {
			c, ok := by[k]
			if !ok {
				c = &keyCount{Key: k}
				by[k] = c
				order = append(order, k)
			}
			c.Installed++
			if k == r.Primary {
				c.Primary++
			}
		}
	}
	out := make([]keyCount, 0, len(order))
	for _, k := range order {
		out = append(out, *by[k])
	}
	// Most used first: the primary, then the others.
	slices.SortStableFunc(out, func(a, b keyCount) int {
		if a.Primary != b.Primary {
			return b.Primary - a.Primary
		}
		return b.Installed - a.Installed
	})
	return out
}

// keyringFanOut runs one operation on every target in parallel: this node
// directly, the others over the transport.
func (n *Node) keyringFanOut(ctx context.Context, targets []string, code byte, key []byte) []keyResult {
	out := make([]keyResult, len(targets))
	var wg sync.WaitGroup
	for i, name := range targets {
		wg.Go(func() {
			if name == n.cfg.Name {
				out[i] = n.applyKeyring(code, key)
			} else {
				out[i] = n.callKeyring(ctx, name, code, key)
			}
			out[i].Node = name
		})
	}
	wg.Wait()
	return out
}

func (n *Node) callKeyring(ctx context.Context, to string, code byte, key []byte) keyResult {
	if n.tr == nil {
		return keyResult{Error: "no transport to reach it"}
	}
	b, err := n.tr.Call(ctx, to, KindKeyring, append([]byte{code}, key...))
	if err != nil {
		return keyResult{Error: err.Error()}
	}
	var r keyResult
	if err := json.Unmarshal(b, &r); err != nil {
		return keyResult{Error: "bad answer: " + err.Error()}
	}
	return r
}

// serveKeyring answers a peer's KindKeyring request. It never fails at the
// transport level: errors travel in the answer.
func (n *Node) serveKeyring(from string, body []byte) []byte {
	var r keyResult
	switch {
	case len(body) == 0 || body[0] < keyOpList || body[0] > keyOpRemove:
		r.Error = "malformed keyring request"
	case body[0] == keyOpList && len(body) > 1:
		r.Error = "malformed keyring request: a list carries no key"
	case body[0] != keyOpList && gossip.CheckKey(body[1:]) != nil:
		r.Error = "malformed keyring request: bad key length"
	default:
		r = n.applyKeyring(body[0], body[1:])
		if body[0] != keyOpList && r.Error == "" {
			n.log.Info("gossip keyring changed by a peer", "peer", from, "key", gossip.Fingerprint(body[1:]))
		}
	}
	b, _ := json.Marshal(r)
	return b
}

// applyKeyring runs one operation on this node's keyring and reports the
// keyring after it.
func (n *Node) applyKeyring(code byte, key []byte) keyResult {
	kr, ok := n.members.(GossipKeyring)
	if !ok {
		return keyResult{Error: ErrNotSupported.Error()}
	}
	var err error
	switch code {
	case keyOpInstall:
		err = kr.InstallKey(key)
	case keyOpUse:
		err = kr.UseKey(key)
	case keyOpRemove:
		err = kr.RemoveKey(key)
	}
	var r keyResult
	r.Primary, r.Keys = kr.Keyring()
	if err != nil {
		r.Error = n.keyError(err)
	}
	return r
}

// keyError is the text of a keyring error for the operator who asked,
// maybe through another node: the sentinel's message, never a path or a
// key. Anything else is logged here.
func (n *Node) keyError(err error) string {
	for _, s := range []error{gossip.ErrNoEncryption, gossip.ErrKeyNotInstalled, gossip.ErrPrimaryKey, gossip.ErrBadKey, gossip.ErrClosed} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	n.log.Error("gossip keyring change failed", "err", err)
	return "keyring change failed (see the node's log)"
}
