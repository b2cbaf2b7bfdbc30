package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Perm is what a grant permits on a bucket. The zero value is invalid.
type Perm int

// Permissions, from least to most.
const (
	// Read: read objects, list keys, read bucket properties.
	Read Perm = 1 + iota
	// Write: write and delete objects.
	Write
	// Admin: bucket properties; with no bucket, the whole cluster.
	Admin
)

var permNames = [...]string{Read: "read", Write: "write", Admin: "admin"}

// String returns "read", "write", "admin" or "Perm(N)".
func (p Perm) String() string {
	if p >= Read && p <= Admin {
		return permNames[p]
	}
	return fmt.Sprintf("Perm(%d)", int(p))
}

// AllBuckets is the bucket of a grant on every bucket.
const AllBuckets = "*"

// Bounds on grants.
const (
	// MaxBucketBytes bounds a grant's bucket name, as the client API
	// bounds bucket names.
	MaxBucketBytes = 255
	// MaxGrantBytes bounds the text of one grant.
	MaxGrantBytes = len("admin:") + MaxBucketBytes
	// MaxGrants bounds the grants of one token.
	MaxGrants = 64
)

// ErrBadGrant marks a grant that does not parse.
var ErrBadGrant = errors.New("auth: bad grant")

// Grant is a permission on a bucket (Bucket a name or [AllBuckets]), or,
// with Perm [Admin] and no Bucket, cluster-wide admin. The same type says
// what a request needs.
type Grant struct {
	Perm   Perm
	Bucket string
}

// ClusterAdmin is the cluster-wide admin grant, and what cluster routes
// need.
var ClusterAdmin = Grant{Perm: Admin}

// Need returns the grant a request on bucket needs.
func Need(p Perm, bucket string) Grant { return Grant{Perm: p, Bucket: bucket} }

// ParseGrant parses "read:B", "write:B", "admin:B" or "admin"; B is a
// bucket name (1..255 bytes of UTF-8) or *.
func ParseGrant(s string) (Grant, error) {
	if len(s) > MaxGrantBytes {
		return Grant{}, fmt.Errorf("%w: longer than %d bytes", ErrBadGrant, MaxGrantBytes)
	}
	if s == "admin" {
		return ClusterAdmin, nil
	}
	name, bucket, ok := strings.Cut(s, ":")
	if !ok {
		return Grant{}, fmt.Errorf("%w %q: want read:BUCKET, write:BUCKET, admin:BUCKET or admin", ErrBadGrant, s)
	}
	var p Perm
	for i := Read; i <= Admin; i++ {
		if name == permNames[i] {
			p = i
		}
	}
	if p == 0 {
		return Grant{}, fmt.Errorf("%w %q: unknown permission %q (want read, write or admin)", ErrBadGrant, s, name)
	}
	if bucket == "" || len(bucket) > MaxBucketBytes || !utf8.ValidString(bucket) {
		return Grant{}, fmt.Errorf("%w %q: the bucket must be * or a name of 1..%d bytes of UTF-8", ErrBadGrant, s, MaxBucketBytes)
	}
	return Grant{Perm: p, Bucket: bucket}, nil
}

// ParseGrants parses each grant, reporting every bad one, and returns them
// without duplicates in their given order. An empty list is valid (a token
// that can do nothing until granted something); more than [MaxGrants] is
// not.
func ParseGrants(ss []string) ([]Grant, error) {
	if len(ss) > MaxGrants {
		return nil, fmt.Errorf("%w: %d grants, at most %d", ErrBadGrant, len(ss), MaxGrants)
	}
	var errs []error
	out := make([]Grant, 0, len(ss))
	for _, s := range ss {
		g, err := ParseGrant(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !contains(out, g) {
			out = append(out, g)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// String returns the grant in the syntax ParseGrant reads.
func (g Grant) String() string {
	if g == ClusterAdmin {
		return "admin"
	}
	return g.Perm.String() + ":" + g.Bucket
}

// Allows reports whether g grants need. Cluster admin grants everything;
// admin:B grants read, write and admin on B; read and write grant only
// themselves; bucket * matches every bucket. Only cluster admin grants
// cluster admin.
func (g Grant) Allows(need Grant) bool {
	if g == ClusterAdmin {
		return true
	}
	if need.Bucket == "" || g.Bucket == "" {
		return false // need is cluster admin, or g is malformed
	}
	if g.Bucket != AllBuckets && g.Bucket != need.Bucket {
		return false
	}
	return g.Perm == need.Perm || g.Perm == Admin
}

// Strings returns the grants as text.
func Strings(gs []Grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.String()
	}
	return out
}

func contains(gs []Grant, g Grant) bool {
	for _, x := range gs {
		if x == g {
			return true
		}
	}
	return false
}
