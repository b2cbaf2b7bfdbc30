// Package ring maps keys to partitions and partitions to preference lists of
// cluster members: the consistent-hash ring of docs/design.md, "The ring".
//
// [Hash] places a bucket's key in the 64-bit hash space, which is cut into Q
// equal partitions ([Ring.Partition], [Ring.Range]). Every partition has a
// walk, all members in preference order ([Ring.Walk]): its first n members
// are the partition's primaries for an n_val of n ([Ring.Preflist]), and the
// members after them are the fallbacks, in the order they stand in for
// primaries that are down. [Ring.Owned], [Ring.Stats] and [Moved] tell an
// owner what a member holds and what a membership change hands off.
//
// The package is pure: it imports only the standard library and xxhash, and
// no other dynamod package; it does no I/O, reads no clock, draws no
// randomness, starts no goroutines and logs nothing (deps_test.go). A [Ring]
// is immutable and a pure function of its [Config] and member set, so nodes
// that agree on the members agree on every walk, whatever order they learned
// the members in. The placement is part of the cluster protocol: a change to
// it makes nodes of different builds disagree on ownership, so
// golden_test.go pins it.
//
// # Placement
//
// Natural walk. Every member places T tokens derived from its name, and a
// partition's natural walk lists the members in the order their first token
// is met walking clockwise from the partition's start. The tokens are not
// independent random points, though. The ring is cut into T strata and every
// stratum into T cells; a member puts its token i into stratum i, in the cell
// given by the rank of token i's hash among its T token hashes. So a member
// has one token per stratum and, across the strata, one token at every
// relative height. With random tokens, whether each of a member's small arcs
// catches one of the Q evenly spaced partition starts is a coin toss, and
// that binomial noise, not T, dominates: at 30 members replicas per member
// vary by about 7% of the mean (max/mean 1.15–1.25), and more tokens do not
// help. Spreading each member's heights evenly removes its own share of the
// noise and leaves only its competitors': about 5%. A token depends on its
// member's name and T alone, so a membership change moves no other member's
// tokens, and the other members keep their relative order in every walk,
// exactly as in plain consistent hashing.
//
// Bounded loads. With MaxLoad set (default 1.10), the primaries for n = NVal
// (default 3) are chosen so that no member holds more than
// floor(MaxLoad·Q·n/S) of the Q·n slots (never less than the mean rounded
// up), as the partition-optimal stable matching of partitions and members
// (deferred acceptance): every partition asks members in natural-walk order,
// and a member over capacity gives up the partition where it comes latest in
// the natural walk (then the one whose start its token is farthest from).
// The matching does not depend on the order partitions ask in; members
// below capacity keep every partition they naturally serve, so a
// change moves, beyond the joiner's or leaver's share, only what members at
// capacity must shed; and a member turned away from a partition is its first
// fallback. Where a tight bound on a small ring leaves a partition turned
// away by everyone, augmenting paths complete it within the bound. The
// primaries are then ordered the same way, one position at a time and only
// among themselves, so the first primary (the write coordinator) and shorter
// preference lists are spread evenly too; the order moves no data for
// n_val = NVal. Fallbacks beyond the primaries keep the natural order.
//
// Why this scheme: random tokens with T = 256 miss the balance target
// (max/mean ≤ 1.10 up to 30 members) for some name sets from 5 members on,
// and at 30 members for all measured (1.15–1.25). Bounded loads
// over random tokens (consistent hashing with bounded loads, Mirrokni,
// Thorup and Zadimoghaddam) meet it but, at 30 members, move 1.07× the ideal
// on a join on average and 1.17× at the 90th percentile, because many
// members sit at capacity and every join changes what they must shed.
// Bounding every prefix of the natural walk separately moved 1.3× at 64
// members, and 2× with a 1.05 bound. Spreading tokens evenly first leaves
// few members at capacity up to 30 members (none at 10, 3% at 30), so the
// bound costs almost no movement there.
//
// Measured by balance_test.go (go test -run TestRing_balanceTable -v), Q =
// 1024, T = 256, N = 3, members node-1…node-S, in parentheses the worst of
// 12 name sets. Replicas per member as max/mean for random tokens, for this
// package's tokens without the bound (MaxLoad 0) and with it (the default),
// whose first primaries per member are under "1st"; then the replicas a join
// of one more member moves (Moved) against the ideal Q·N/(S+1), for
// node-(S+1) and as mean and worst over the name sets:
//
//	members  random         MaxLoad 0      default        1st    join   mean   worst
//	      3  1.000          1.000          1.000          1.058  0.987  0.998  1.036
//	      5  1.027 (1.131)  1.035 (1.068)  1.035 (1.068)  1.099  1.008  0.996  1.045
//	     10  1.055 (1.113)  1.025 (1.097)  1.025 (1.097)  1.094  1.006  0.994  1.067
//	     30  1.152 (1.221)  1.172 (1.172)  1.094 (1.094)  1.084  1.100  1.008  1.100
//	     64  1.229 (1.375)  1.167 (1.208)  1.083 (1.083)  1.062  1.143  1.173  1.291
//
// Min/mean with the default: 1.000, 0.964, 0.954, 0.898, 0.833. A leave
// re-homes the leaver's replicas plus at most about 8% more. Lists longer
// than NVal keep the natural balance (max/mean 1.11 at 30 members for n = 5).
//
// The bound's cost grows with members per partition: at 64 members on 1024
// partitions (48 replicas each, about 8% spread) a fifth of them sit at
// capacity and a join moves 1.17× the ideal. With 4096 partitions the same
// 64 members balance to 1.10 at 0.98× the ideal, so clusters expected to
// outgrow about 30 members should be created with Partitions of at least 64
// per member. MaxLoad = 0 gives plain consistent hashing (movement exactly
// the changed member's replicas) at the balance in the MaxLoad 0 column.
//
// # Costs
//
// [New] precomputes every walk: O(S·T·log T + Q·S) time for S members, plus
// the matchings, about 5 ms for 64 members with the defaults, and about
// 20·Q·S bytes (1.3 MiB for 64 members and Q = 1024). Lookups are O(1) and do
// not allocate; the slices they return are shared and read-only.
package ring
