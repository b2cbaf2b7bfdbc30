package http

import (
	"context"
	"encoding/json"
	"time"

	"github.com/dynamod/dynamod/crdt"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// Backend is what the HTTP API needs from a node: quorum reads and writes,
// key listing, bucket properties and cluster views. node.Node implements it
// over quorum.Coordinator; tests use a fake.
//
// All methods are safe for concurrent use. Errors a client caused wrap
// quorum.ErrBadRequest (400) or quorum.ErrTooLarge (413); quorum
// unavailability wraps quorum.ErrUnavailable (503, a *quorum.UnavailableError
// carries the counts); a missing key is quorum.ErrNotFound.
type Backend interface {
	// Get reads a key. A key whose every value is a tombstone is returned
	// as a result (the caller answers 404 with its context), not as
	// ErrNotFound. ErrNotFound means no replica had any history of it.
	// The object is non-nil when the error is nil; the handler only reads
	// it. ctx carries the request's deadline (the timeout parameter or
	// DefaultTimeout).
	Get(ctx context.Context, bucket, key string, o quorum.ReadOptions) (*quorum.Object, error)
	// Put writes v as the successor of everything in vctx (nil: seen
	// nothing). v.Deleted writes a tombstone. The result is the object as
	// the coordinator stored it (for returnbody), non-nil when the error is
	// nil. The handler has checked the options against the bucket's n_val
	// and the value against max_value_bytes; the sibling limit is the
	// backend's (ErrTooLarge). v.LastModified is the receiving node's wall
	// clock; the coordinator may restamp it. v's bytes are not touched by
	// the handler after the call.
	Put(ctx context.Context, bucket, key string, vctx versioning.Context, v versioning.Value, o quorum.WriteOptions) (*quorum.Object, error)
	// GetType reads a key of a datatype bucket (docs/design.md, "Data
	// types"): the join of the states a quorum read found. ErrNotFound if
	// no replica has it; quorum.ErrConflict if the bucket has no datatype
	// or the key holds something else.
	GetType(ctx context.Context, bucket, key string, o quorum.ReadOptions) (crdt.State, error)
	// UpdateType applies op to a key of a datatype bucket and returns the
	// state the coordinator stored. quorum.ErrConflict: the bucket has
	// another datatype or none; quorum.ErrPrecondition: a remove without
	// a context that saw what it removes; quorum.ErrBadRequest: a bad op.
	// Nothing changes on any of them.
	UpdateType(ctx context.Context, bucket, key string, op crdt.Op, o quorum.WriteOptions) (crdt.State, error)
	// ListKeys calls fn for every live key of bucket (tombstones excluded),
	// each once, in no fixed order, until fn fails (then it returns that
	// error). fn may be called from several goroutines but never after
	// ListKeys returns; it writes to the response and may block on a slow
	// client.
	ListKeys(ctx context.Context, bucket string, fn func(key string) error) error
	// ListBuckets returns the buckets that hold keys or have properties.
	ListBuckets(ctx context.Context) ([]string, error)
	// BucketProps returns a bucket's properties with defaults applied.
	BucketProps(bucket string) quorum.Props
	// SetBucketProps merges the set fields of p into the bucket's
	// properties, validates the result and stores it cluster-wide.
	SetBucketProps(bucket string, p quorum.Props) error
	// ResetBucketProps returns the bucket to the defaults.
	ResetBucketProps(bucket string) error
	// Cluster returns the /cluster document.
	Cluster(ctx context.Context) (json.RawMessage, error)
	// Stats returns the /cluster/stats document: the requests this node
	// answered per second over the last minutes (client.Stats).
	Stats(ctx context.Context) (json.RawMessage, error)
	// Preflist returns the /cluster/preflist document of one key.
	Preflist(bucket, key string) (json.RawMessage, error)
	// PBS returns the /cluster/pbs document: this node's staleness
	// estimate for bucket's N, R and W and every other R and W ("" for
	// the default properties; the handler has checked the name). It may
	// take tens of ms of CPU; ctx carries the request's deadline.
	PBS(ctx context.Context, bucket string) (json.RawMessage, error)
	// Ready reports whether the node serves requests (storage open,
	// membership known).
	Ready() error
	// DefaultTimeout is the request timeout when the client gives none.
	DefaultTimeout() time.Duration
	// Find runs an operator finder over this node's replicas (Riak 3's
	// folds): what is "siblings" (keys with more than q.Min values),
	// "large" (objects over q.Bytes encoded bytes) or "tombstones"
	// (tombstone counts per partition). An unknown what wraps
	// quorum.ErrBadRequest.
	Find(ctx context.Context, what string, q FindQuery) (json.RawMessage, error)
	// Leave starts this node's leave: it hands every partition it holds
	// to the new owners, then records itself left and stops. It returns at
	// once; /cluster shows the progress. Idempotent.
	Leave() error
	// Remove takes a dead member out of the cluster for good. An unknown
	// name wraps quorum.ErrBadRequest; a live member wraps ErrConflict.
	Remove(name string) error
	// GossipKeys runs a gossip keyring operation on every alive member:
	// op is "list" (key nil), "install", "use" or "remove" with a raw key.
	// It returns a JSON document of every node's keyring afterwards, by
	// fingerprint (http/keyring.go). A bad op or key wraps
	// quorum.ErrBadRequest; a refusal or a failure on some node wraps
	// ErrConflict and still returns the document, which says which.
	GossipKeys(ctx context.Context, op string, key []byte) (json.RawMessage, error)
}

// FindQuery selects what a finder scans.
type FindQuery struct {
	Min, Bytes int
	// Partition is one partition, or -1 for all.
	Partition int
	// Limit bounds the keys returned; 0 takes the default (1000).
	Limit int
}
