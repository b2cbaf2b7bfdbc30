package quorum

import (
	"context"

	"github.com/dynamod/dynamod/resolve"
	"github.com/dynamod/dynamod/versioning"
)

// Resolvers turns a bucket's resolver property into a resolver. A nil
// resolver with no error means "return the siblings". *resolve.Registry
// implements it.
type Resolvers interface {
	Lookup(spec string) (resolve.Resolver, error)
}

// resolveSiblings applies the bucket's resolver to a read that found
// siblings (docs/design.md, "Resolvers"). The merged value is written back as an ordinary
// write whose context is the read's joined history, so it supersedes exactly
// the siblings it merged and gets a dot of its own: a write that races with
// the resolution becomes its sibling instead of erasing it. (A dotless
// merged value would be dropped by any replica whose history had moved
// past the read's, taking the merged siblings with it.) Values the resolver
// could not use stay as siblings next to the merge. Any failure returns the
// siblings unchanged with a warning: resolution never loses data.
func (c *Coordinator) resolveSiblings(ctx context.Context, p placement, props Props, obj *Object) *Object {
	if props.Datatype != "" {
		return c.joinSiblings(ctx, p, props, obj) // types.go
	}
	if c.cfg.Resolvers == nil || props.Resolver == "" || props.Resolver == "siblings" {
		return obj
	}
	r, err := c.cfg.Resolvers.Lookup(props.Resolver)
	if err != nil {
		c.m.resolutions.WithLabelValues("unknown").Inc()
		c.log.Warn("resolver unavailable; returning siblings", "bucket", p.key.Bucket, "err", err)
		obj.Warning = "resolver unavailable (" + resolve.FailureClass(err) + "), siblings returned"
		return obj
	}
	if r == nil {
		return obj
	}
	res, err := r.Resolve(ctx, resolve.Input{Bucket: p.key.Bucket, Key: p.key.Key, Siblings: versioning.Values(obj.Clock)})
	if err != nil {
		c.m.resolutions.WithLabelValues("failed").Inc()
		c.log.Warn("resolver failed; returning siblings", "bucket", p.key.Bucket, "resolver", props.Resolver, "err", err)
		obj.Warning = "resolver failed (" + resolve.FailureClass(err) + "), siblings returned"
		return obj
	}
	client := versioning.New(obj.Context, res.Value)
	for _, inv := range res.Invalid {
		dup := false
		for _, v := range client.Anon {
			dup = dup || versioning.ValueEqual(v, inv)
		}
		if !dup {
			client.Anon = append(client.Anon, inv)
		}
	}
	warning := res.Warning
	if len(res.Invalid) > 0 && warning == "" {
		warning = "some siblings are not valid for resolver " + props.Resolver + " and were kept"
	}
	written, err := c.write(ctx, "resolve", p, client, WriteOptions{}, props)
	if err != nil {
		// Answer with the resolution; the siblings stay stored and a later
		// read resolves them again.
		c.m.resolutions.WithLabelValues("unwritten").Inc()
		c.log.Debug("resolved value not written back", "bucket", p.key.Bucket, "err", err)
		return &Object{Clock: client, Context: obj.Context, Replicas: obj.Replicas, Warning: warning}
	}
	c.m.resolutions.WithLabelValues("ok").Inc()
	if vs := versioning.Values(written.Clock); len(vs) > 1 && len(res.Invalid) == 0 && allEqual(vs) {
		// Another coordinator resolved the same siblings at the same time
		// and wrote the same merge (resolvers are deterministic): the two
		// equal values are one. Write it back once over both, and answer
		// one value even if that write races again.
		once := versioning.New(written.Context, vs[0])
		if again, err := c.write(ctx, "resolve", p, once, WriteOptions{}, props); err == nil && len(versioning.Values(again.Clock)) == 1 {
			written = again
		} else {
			written = &Object{Clock: once, Context: written.Context, Replicas: written.Replicas}
		}
	}
	written.Warning = warning
	return written
}

// allEqual reports whether every value of vs equals the first.
func allEqual(vs []versioning.Value) bool {
	for _, v := range vs[1:] {
		if !versioning.ValueEqual(v, vs[0]) {
			return false
		}
	}
	return true
}
