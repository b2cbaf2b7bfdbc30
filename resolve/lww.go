package resolve

import (
	"context"
	"fmt"

	"github.com/dynamod/dynamod/versioning"
)

// LastWriteWins returns the value with the greatest LastModified among vs.
// Ties are broken deterministically: the greater Data (byte-wise), then the
// greater ContentType, then a live value over a tombstone, then the greater
// metadata. Tombstones take part like any other value. It returns false if
// vs is empty. The winner is returned as it is (its Data and Meta are
// shared with the argument).
//
// Last write wins drops every other concurrent write, and it trusts the
// coordinators' wall clocks: a node whose clock runs fast wins.
func LastWriteWins(vs []versioning.Value) (versioning.Value, bool) {
	if len(vs) == 0 {
		return versioning.Value{}, false
	}
	best := 0
	for i := 1; i < len(vs); i++ {
		if compareValues(&vs[i], &vs[best]) > 0 {
			best = i
		}
	}
	return vs[best], true
}

// LWWResolver resolves by [LastWriteWins]. It never reports invalid
// siblings.
var LWWResolver Resolver = Func(resolveLWW)

func resolveLWW(_ context.Context, in Input) (Result, error) {
	v, ok := LastWriteWins(in.Siblings)
	if !ok {
		return Result{}, fmt.Errorf("%s: %w: no siblings", SpecLWW, ErrNoValue)
	}
	return Result{Value: v}, nil
}
