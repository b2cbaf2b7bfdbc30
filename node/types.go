package node

import (
	"context"
	"fmt"

	"github.com/dynamod/dynamod/crdt"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// GetType implements http.Backend: a quorum read of a key of a datatype
// bucket, answered as the join of every state it found (the coordinator
// has written that join back when it found several).
func (n *Node) GetType(ctx context.Context, bucket, key string, o quorum.ReadOptions) (crdt.State, error) {
	t, err := n.datatype(bucket)
	if err != nil {
		return crdt.State{}, err
	}
	obj, err := n.coord.Get(ctx, bucket, key, o)
	if err != nil {
		return crdt.State{}, err
	}
	if versioning.IsTombstone(obj.Clock) {
		return crdt.State{}, quorum.ErrNotFound
	}
	return quorum.JoinStates(t, versioning.Values(obj.Clock))
}

// UpdateType implements http.Backend: the coordinator applies op
// (quorum.Coordinator.Update) and the state it stored is returned.
func (n *Node) UpdateType(ctx context.Context, bucket, key string, op crdt.Op, o quorum.WriteOptions) (crdt.State, error) {
	t, err := n.datatype(bucket)
	if err != nil {
		return crdt.State{}, err
	}
	obj, err := n.coord.Update(ctx, bucket, key, op, o)
	if err != nil {
		return crdt.State{}, err
	}
	return quorum.JoinStates(t, versioning.Values(obj.Clock))
}

func (n *Node) datatype(bucket string) (crdt.Type, error) {
	t := n.BucketProps(bucket).Type()
	if t == 0 {
		return 0, fmt.Errorf("%w: bucket has no datatype (set its datatype property to counter, set or map)", quorum.ErrConflict)
	}
	return t, nil
}
