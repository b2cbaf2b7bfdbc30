package gossip

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dynamod/dynamod/ownership"
)

// Status is a member's place in the cluster, as recorded in the cluster
// state. It changes only by explicit operator action; liveness is separate.
type Status int

// Statuses. The zero value is invalid. The numbers are not persisted
// (statuses travel and are stored by name).
const (
	// Joined members own partitions and have received them.
	Joined Status = 1 + iota
	// Leaving members own no partitions; they still hold their data and
	// serve it while the new owners receive it.
	Leaving
	// Removed members own and hold nothing: an operator took them out. The
	// entry stays as a tombstone so the removal wins over older state
	// still circulating.
	Removed
	// Joining members own partitions but have not received them all yet.
	Joining
	// Left members handed everything off and left for good; like Removed,
	// the entry stays as a tombstone.
	Left
)

const lastStatus = Left

var statusNames = [...]string{Joined: "joined", Leaving: "leaving", Removed: "removed", Joining: "joining", Left: "left"}

// Owns reports whether a member of status s is in the target ring: it owns
// partitions once transfers are done (Joining or Joined).
func (s Status) Owns() bool { return s == Joining || s == Joined }

// Gone reports whether a member of status s is out of the cluster for good
// (Left or Removed): it holds nothing and is not re-joined.
func (s Status) Gone() bool { return s == Left || s == Removed }

// String returns the status's name or "Status(N)".
func (s Status) String() string {
	if s >= Joined && s <= lastStatus {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// MarshalText encodes s by name; an invalid Status is an error.
func (s Status) MarshalText() ([]byte, error) {
	if s < Joined || s > lastStatus {
		return nil, fmt.Errorf("gossip: invalid status %d", int(s))
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText decodes a status name.
func (s *Status) UnmarshalText(b []byte) error {
	for i := Joined; i <= lastStatus; i++ {
		if string(b) == statusNames[i] {
			*s = i
			return nil
		}
	}
	return fmt.Errorf("gossip: unknown status %q", b)
}

// stateVersion is the version of the cluster-state encoding, on the wire and
// on disk. A different version is rejected as a whole.
const stateVersion = 1

// maxVersion bounds entry versions from peers, so a hostile or broken peer
// cannot push the Lamport clock to overflow (and the numbers stay exact in
// any JSON reader).
const maxVersion = 1 << 53

// maxBucketLen bounds bucket names.
const maxBucketLen = 1024

// maxMembers bounds a settled member set.
const maxMembers = 4096

// memberEntry is one member in the cluster state. Versions are Lamport
// timestamps; (Ver, Origin) identifies the write.
type memberEntry struct {
	Ver    uint64 `json:"ver"`
	Origin string `json:"origin"`
	Gossip string `json:"gossip"`
	RPC    string `json:"rpc,omitempty"`
	HTTP   string `json:"http,omitempty"`
	Status Status `json:"status"`
	// Settled is the member set whose ring this member last finished
	// receiving data for (sorted); nil if it never did. Extra encodes
	// (ownership.Set) the partitions it still holds beyond that ring's
	// share. Together they say what it serves (package ownership).
	Settled []string `json:"settled,omitempty"`
	Extra   string   `json:"extra,omitempty"`
}

// compareMember totally orders member entries: version, then origin, then
// content. A total order makes the per-entry max a join (commutative,
// associative, idempotent) even if two writes ever share (Ver, Origin), e.g.
// after a node lost its state.
func compareMember(a, b memberEntry) int {
	return cmp.Or(
		cmp.Compare(a.Ver, b.Ver),
		strings.Compare(a.Origin, b.Origin),
		cmp.Compare(a.Status, b.Status),
		strings.Compare(a.Gossip, b.Gossip),
		strings.Compare(a.RPC, b.RPC),
		strings.Compare(a.HTTP, b.HTTP),
		slices.Compare(a.Settled, b.Settled),
		strings.Compare(a.Extra, b.Extra),
	)
}

// sameMember reports whether two entries describe the member the same way,
// ignoring who wrote it when.
func sameMember(a, b memberEntry) bool {
	return a.Status == b.Status && a.Gossip == b.Gossip && a.RPC == b.RPC && a.HTTP == b.HTTP &&
		slices.Equal(a.Settled, b.Settled) && a.Extra == b.Extra
}

// bucketEntry is one bucket's properties, or their reset (Deleted).
type bucketEntry struct {
	Ver     uint64          `json:"ver"`
	Origin  string          `json:"origin"`
	Deleted bool            `json:"deleted,omitempty"`
	Props   json.RawMessage `json:"props,omitempty"`
}

func compareBucket(a, b bucketEntry) int {
	c := cmp.Or(
		cmp.Compare(a.Ver, b.Ver),
		strings.Compare(a.Origin, b.Origin),
	)
	if c != 0 {
		return c
	}
	if a.Deleted != b.Deleted {
		if a.Deleted {
			return 1
		}
		return -1
	}
	return bytes.Compare(a.Props, b.Props)
}

// wireState is the encoding of the cluster state, full (push-pull, disk) or
// partial (a broadcast carries the entries that changed). Merging either is
// the same per-entry max.
type wireState struct {
	V       int                    `json:"v"`
	From    string                 `json:"from,omitempty"`
	Members map[string]memberEntry `json:"members,omitempty"`
	Buckets map[string]bucketEntry `json:"buckets,omitempty"`
	Tokens  map[string]tokenEntry  `json:"tokens,omitempty"` // client tokens by id (tokens.go)
}

// clusterState is the CRDT: the latest entry per member and per bucket.
// Not safe for concurrent use; Gossip guards it.
type clusterState struct {
	members map[string]memberEntry
	buckets map[string]bucketEntry
	tokens  map[string]tokenEntry
	clock   uint64 // Lamport clock: >= every version seen
}

func newClusterState() *clusterState {
	return &clusterState{members: map[string]memberEntry{}, buckets: map[string]bucketEntry{}, tokens: map[string]tokenEntry{}}
}

// tick returns a fresh version for a local write.
func (s *clusterState) tick() uint64 {
	s.clock++
	return s.clock
}

func (s *clusterState) observe(ver uint64) {
	s.clock = max(s.clock, ver)
}

// merge applies the per-entry max of s and w to s and returns the entries
// of w that won (the news). w must have passed decodeState's checks (or come
// from this package).
func (s *clusterState) merge(w wireState) (news wireState) {
	news.Members = mergeEntries(s, s.members, w.Members, compareMember, func(e memberEntry) uint64 { return e.Ver })
	news.Buckets = mergeEntries(s, s.buckets, w.Buckets, compareBucket, func(e bucketEntry) uint64 { return e.Ver })
	news.Tokens = mergeEntries(s, s.tokens, w.Tokens, compareToken, func(e tokenEntry) uint64 { return e.Ver })
	return news
}

// mergeEntries applies the per-entry max (by compare) of cur and in to
// cur, observing every version, and returns the entries of in that won
// (nil if none).
func mergeEntries[E any](s *clusterState, cur, in map[string]E, compare func(a, b E) int, ver func(E) uint64) (won map[string]E) {
	for name, e := range in {
		s.observe(ver(e))
		if c, ok := cur[name]; !ok || compare(c, e) < 0 {
			cur[name] = e
			if won == nil {
				won = map[string]E{}
			}
			won[name] = e
		}
	}
	return won
}

// wire returns the full state for encoding. The maps are shared with s: the
// caller encodes them before releasing the lock that guards s.
func (s *clusterState) wire(from string) wireState {
	return wireState{V: stateVersion, From: from, Members: s.members, Buckets: s.buckets, Tokens: s.tokens}
}

// encodeState encodes w compactly. Props are already compact JSON and HTML
// characters are left as they are, so an entry's bytes survive a round trip
// unchanged (the tie-break compares them).
func encodeState(w wireState) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		// Only an invalid Status or props can fail, and neither can enter
		// the state: a broken invariant.
		panic(fmt.Sprintf("gossip: encode state: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// errMalformed marks state bytes that fail to decode or validate.
var errMalformed = errors.New("malformed cluster state")

// decodeState decodes and validates state bytes from a peer or from disk.
// Every entry is checked; one bad entry rejects the whole message, so a
// message is applied entirely or not at all.
func decodeState(b []byte) (wireState, error) {
	var w wireState
	if err := json.Unmarshal(b, &w); err != nil {
		return wireState{}, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if w.V != stateVersion {
		return wireState{}, fmt.Errorf("%w: version %d, want %d", errMalformed, w.V, stateVersion)
	}
	for name, e := range w.Members {
		if err := checkMember(name, e); err != nil {
			return wireState{}, fmt.Errorf("%w: member %q: %w", errMalformed, name, err)
		}
	}
	for name, e := range w.Buckets {
		norm, err := checkBucket(name, e)
		if err != nil {
			return wireState{}, fmt.Errorf("%w: bucket %q: %w", errMalformed, name, err)
		}
		w.Buckets[name] = norm
	}
	if err := checkTokens(w); err != nil {
		return wireState{}, err
	}
	return w, nil
}

func checkEntryID(ver uint64, origin string) error {
	if ver == 0 || ver > maxVersion {
		return fmt.Errorf("version %d out of range", ver)
	}
	if origin == "" || len(origin) > maxNameLen {
		return fmt.Errorf("bad origin %q", origin)
	}
	return nil
}

func checkMember(name string, e memberEntry) error {
	if name == "" || len(name) > maxNameLen {
		return errors.New("bad name")
	}
	if err := checkEntryID(e.Ver, e.Origin); err != nil {
		return err
	}
	if e.Status < Joined || e.Status > lastStatus {
		return errors.New("missing status")
	}
	if len(e.Settled) > maxMembers {
		return fmt.Errorf("settled set of %d members (max %d)", len(e.Settled), maxMembers)
	}
	for i, m := range e.Settled {
		if m == "" || len(m) > maxNameLen || (i > 0 && e.Settled[i-1] >= m) {
			return errors.New("settled set is not sorted distinct names")
		}
	}
	if _, err := ownership.ParseSet(e.Extra); err != nil {
		return fmt.Errorf("extra partitions: %w", err)
	}
	if _, err := splitPort(e.Gossip); err != nil {
		return fmt.Errorf("gossip address %q: %w", e.Gossip, err)
	}
	for _, a := range []string{e.RPC, e.HTTP} {
		if a == "" {
			continue
		}
		if _, err := splitPort(a); err != nil {
			return fmt.Errorf("address %q: %w", a, err)
		}
	}
	return nil
}

// checkBucket validates e and returns it with compacted props.
func checkBucket(name string, e bucketEntry) (bucketEntry, error) {
	if name == "" || len(name) > maxBucketLen {
		return e, errors.New("bad name")
	}
	if err := checkEntryID(e.Ver, e.Origin); err != nil {
		return e, err
	}
	if e.Deleted {
		if len(e.Props) != 0 {
			return e, errors.New("deleted entry carries props")
		}
		return e, nil
	}
	p, err := normalizeProps(e.Props)
	if err != nil {
		return e, err
	}
	e.Props = p
	return e, nil
}

// normalizeProps compacts a props document. It must be valid JSON and not
// null (null would be indistinguishable from a reset).
func normalizeProps(p []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, p); err != nil {
		return nil, fmt.Errorf("props: %w", err)
	}
	if buf.Len() == 0 || buf.String() == "null" {
		return nil, errors.New("props must be a JSON value other than null")
	}
	return buf.Bytes(), nil
}
