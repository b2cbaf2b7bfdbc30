// Package auth holds the client API's bearer tokens and their grants: the
// token format, the stored form, grant syntax and the one check every
// request goes through ([Set.Check]).
//
// A token reads dmd_<id>_<secret>: id is 12 random bytes in hex (public:
// lists, logs and revocations name it), secret 32 random bytes in
// unpadded base64url. The cluster stores only the id, a name, the grants,
// the creation time, a revoked flag and SHA-256 of the secret; the token
// itself is shown once, at creation. A 256-bit random secret cannot be
// guessed or brute-forced from its hash, so a slow password hash (bcrypt,
// argon2) would only cost every request time and buy nothing. The hash is
// compared in constant time; the lookup by id is not, and need not be (the
// id is public).
//
// Grants:
//
//	read:BUCKET   read objects, list keys, read the bucket's properties
//	write:BUCKET  write and delete objects (not read: Riak keeps them apart)
//	admin:BUCKET  set and reset the bucket's properties; implies read and write
//	admin         cluster-wide admin: everything, including /cluster, member
//	              changes, finders and token management
//
// BUCKET is a bucket name or *, every bucket (so a bucket named "*" can be
// granted only through *).
//
// The package does no I/O: randomness comes in as an io.Reader and time as
// a value. It imports no other dynamod package.
package auth
