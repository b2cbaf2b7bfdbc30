package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ClusterStatus is the /cluster document: one node's view of the cluster
// (docs/design.md, "Operator views"). The server builds its answer from
// this very type, so it holds exactly the fields a node sends; a test
// decodes a real node's document into it with unknown fields disallowed.
type ClusterStatus struct {
	// Node is the name of the node that answered.
	Node string `json:"node"`
	// Members lists every member the node knows of, gone ones (left,
	// removed) included.
	Members []ClusterMember `json:"members"`
	// Partitions (Q) and Tokens (T) are the node's ring configuration.
	Partitions int `json:"partitions"`
	Tokens     int `json:"tokens"`
	// DefaultNVal is the default bucket n_val, the one PrimaryPartitions
	// counts at.
	DefaultNVal int `json:"default_n_val"`
	// UnderReplicated: the ring has fewer members than DefaultNVal.
	UnderReplicated bool `json:"under_replicated"`
	// HintsPending counts the hints stored on the answering node.
	HintsPending int `json:"hints_pending"`
	// Steady is true when no partition is being handed off or released.
	Steady bool `json:"steady"`
	// Ring names the first primary of each partition in the answering
	// node's target ring, indexed by partition (len Partitions).
	Ring []string `json:"ring"`
	// PendingTransfers lists every partition a member still has to
	// receive, as the answering node's view says, with the progress its
	// receiver reports. Empty (not null) when none is pending.
	PendingTransfers []Transfer `json:"pending_transfers"`
	// AntiEntropy is the answering node's anti-entropy status; nil when
	// anti-entropy is off.
	AntiEntropy *AntiEntropyStatus `json:"anti_entropy,omitempty"`
	// Storage is the answering node's storage health.
	Storage StorageHealth `json:"storage"`
	// Warnings are the answering node's standing security warnings: it
	// runs with --insecure, an open client API, a plaintext client API
	// or an admin listener on a non-loopback address. Empty (not null)
	// when there are none.
	Warnings []string `json:"warnings"`
}

// StorageHealth is a node's storage health (storage.Health): whether it
// takes writes, and if not since when, why, and when it tries again.
type StorageHealth struct {
	Writable        bool      `json:"writable"`
	Readable        bool      `json:"readable"`
	Error           string    `json:"error,omitempty"`
	Since           time.Time `json:"since,omitzero"`
	ReopenAttempts  int       `json:"reopen_attempts,omitempty"`
	LastReopenError string    `json:"last_reopen_error,omitempty"`
	NextReopen      time.Time `json:"next_reopen,omitzero"`
	Reopens         uint64    `json:"reopens"`
}

// Member returns the member called name, if s lists it.
func (s *ClusterStatus) Member(name string) (ClusterMember, bool) {
	for _, m := range s.Members {
		if m.Name == name {
			return m, true
		}
	}
	return ClusterMember{}, false
}

// ClusterMember is one member in a [ClusterStatus].
type ClusterMember struct {
	Name string `json:"name"`
	// Status is joining, joined, leaving, left or removed.
	Status string `json:"status"`
	// Liveness is alive or dead, as the answering node believes.
	Liveness string `json:"liveness"`
	// The member's addresses: node-to-node, client HTTP and gossip.
	RPCAddr    string `json:"rpc_addr,omitempty"`
	HTTPAddr   string `json:"http_addr,omitempty"`
	GossipAddr string `json:"gossip_addr,omitempty"`
	// Settled is the member set whose ring the member last finished
	// receiving data for; empty if it never did.
	Settled []string `json:"settled,omitempty"`
	// PrimaryPartitions counts the partitions the member is a primary of
	// at DefaultNVal in the answering node's target ring.
	PrimaryPartitions int `json:"primary_partitions"`
}

// Transfer is one partition a member still has to receive.
type Transfer struct {
	Partition int    `json:"partition"`
	From      string `json:"from"`
	To        string `json:"to"`
	// Keys and Bytes received so far.
	Keys  int64 `json:"keys"`
	Bytes int64 `json:"bytes"`
	// State is "waiting" (not started, or its source is busy or down),
	// "receiving", "verifying", "done" (waiting for the others), or
	// "pending" when the receiver did not report its progress.
	State string `json:"state"`
}

// AntiEntropyStatus is a node's anti-entropy trees and exchanges.
type AntiEntropyStatus struct {
	Self string `json:"self"`
	// Partitions is the number of trees (one per partition), Built how
	// many are built, Segments the leaves of each.
	Partitions int `json:"partitions"`
	Built      int `json:"built"`
	Segments   int `json:"segments"`
	// TreeBytes is the memory of all trees; BytesPerTree what one
	// partition's costs once it holds a key.
	TreeBytes    int64 `json:"tree_bytes"`
	BytesPerTree int64 `json:"bytes_per_tree"`
	// Keys and Tombstones count the objects the trees cover.
	Keys       int `json:"keys"`
	Tombstones int `json:"tombstones"`
	// Totals since the node started.
	Exchanges     uint64 `json:"exchanges"`
	Failures      uint64 `json:"failures"`
	KeysPushed    uint64 `json:"keys_pushed"`
	KeysPulled    uint64 `json:"keys_pulled"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	Reaped        uint64 `json:"tombstones_reaped"`
	Rebuilds      uint64 `json:"rebuilds"`
	// Peers holds the last exchange with each peer, sorted by name.
	Peers []AntiEntropyPeer `json:"peers"`
}

// AntiEntropyPeer is the last exchange a node started with one peer.
type AntiEntropyPeer struct {
	Peer         string    `json:"peer"`
	LastExchange time.Time `json:"last_exchange"`
	// LastError is the error of the last exchange, "" if it succeeded.
	LastError string `json:"last_error,omitempty"`
	// Partitions compared, and how far behind the replicas were: the
	// partitions, segments and keys that differed.
	Partitions          int    `json:"partitions"`
	DifferingPartitions int    `json:"differing_partitions"`
	DifferingSegments   int    `json:"differing_segments"`
	DifferingKeys       int    `json:"differing_keys"`
	Exchanges           uint64 `json:"exchanges"`
}

// Preflist is the /cluster/preflist/{bucket}/{key} document: where one
// key lives in the answering node's view.
type Preflist struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Hash is the key's ring hash, 16 hex digits.
	Hash      string `json:"hash"`
	Partition int    `json:"partition"`
	NVal      int    `json:"n_val"`
	// Replicas is how many members serve the key (len(Primaries)).
	Replicas int `json:"replicas"`
	// Primaries serve the key, holders standing in for pending new owners
	// among them; Fallbacks stand in for down ones, with a hint.
	Primaries []PreflistEntry `json:"primaries"`
	Fallbacks []PreflistEntry `json:"fallbacks"`
	// Pending are new owners still receiving the partition: they get
	// writes but do not serve reads yet.
	Pending []PreflistEntry `json:"pending,omitempty"`
}

// PreflistEntry is one member of a [Preflist].
type PreflistEntry struct {
	Node  string `json:"node"`
	Alive bool   `json:"alive"`
	// HintFor names the primary a fallback stands in for.
	HintFor string `json:"hint_for,omitempty"`
}

// Status returns the /cluster document of whichever node answered,
// decoded. Fields a newer server adds are ignored.
func (c *Client) Status(ctx context.Context) (*ClusterStatus, error) {
	raw, err := c.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	var s ClusterStatus
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("client: get cluster: decode: %w", err)
	}
	return &s, nil
}

// Preflist returns where a key lives, as whichever node answered sees it.
func (c *Client) Preflist(ctx context.Context, bucket, key string) (*Preflist, error) {
	op := "get preflist of " + bucket + "/" + key
	if bucket == "" || key == "" {
		return nil, badRequest(op, "empty bucket or key")
	}
	var p Preflist
	if err := c.getDoc(ctx, op, "/cluster/preflist/"+segment(bucket)+"/"+segment(key), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
