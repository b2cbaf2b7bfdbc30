package transport

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// smallClaim is the largest claim (body plus requestCost) of a small frame:
// one that is charged all at once (see shared).
const smallClaim = requestCost + growChunk

var (
	// errNoRoom: a frame waited its bound for request bytes without being
	// granted them.
	errNoRoom = errors.New("transport: no room in the in-flight budget for the request's bytes")
	// errExpired: a request's deadline passed while its frame waited for
	// request bytes; the frame is skipped.
	errExpired = errors.New("transport: request expired waiting for room in the in-flight budget")
)

// shared is the budget of request bytes that all inbound connections share
// (Config.MaxInflight). It is charged as a frame's bytes arrive, never for
// the length a frame only announces: a peer that announces 64 MiB frames and
// sends nothing holds nothing of it.
//
// Each frame has a charge whose claim is what the frame holds once read:
// its body plus requestCost. A small frame (claim at most smallClaim) takes
// its whole claim in one grant once its first body byte has arrived; a
// large one takes its buffer as it grows (readRequestBody), so it holds
// bytes while it waits for more. Hold and wait deadlocks when growing
// frames fill the budget and each waits for another's bytes; three rules
// rule it out and keep small requests flowing. With L the limit, R = L/4
// the reserve of small frames and C = min(L-R, MaxFrame+requestCost) the
// largest claim a large frame is charged (a larger one's buffer grows past
// its charge):
//
//  1. Large frames, growing or complete, hold at most L-R together: R is
//     left to small frames, whatever large ones do.
//  2. Growing large frames other than one, the leader, hold at most
//     room = L-R-C together. A growing frame that does not fit becomes the
//     leader when there is none, else it queues (first come, first
//     promoted) for the leadership.
//  3. The leader's remaining claim r is reserved: another frame is granted
//     n bytes only if used+n+r <= L and, for a large one, large+n+r <= L-R.
//     A small frame may also take bytes while small frames hold less than
//     R, which rule 1 keeps free.
//
// Why no frame waits forever, given that peers send the bytes they
// announce and handlers end (they do, by their request's deadline or their
// connection's end): the bytes of complete frames (handlers running, small
// frames reading bytes already granted) come back without any grant. Once
// a leader with remaining claim r is promoted, a grant to another large
// frame needs large+n+r <= L-R after it, so none happens until that holds
// and it keeps holding; and it comes to hold once the large frames
// complete at promotion have ended, since the others then hold at most
// room (rule 2): large+r <= room+claim <= L-R-C+C. A small frame's grant
// either keeps used+r <= L or keeps small frames within R, which with
// large+r <= L-R gives used+r <= L too; the small frames over R at
// promotion end as well. From then on the leader's next bytes always fit:
// it completes (or its connection ends and releases it), and the head of
// the queue is promoted. So every growing large frame becomes the leader in
// turn, and a small frame waits at most until the small frames before it
// leave it room in R. Limits in time close the gaps a hostile peer could
// hold open: a frame waits for bytes at most ReadTimeout (its connection is
// then closed) or until its request's deadline (it is then skipped as it
// arrives), a frame's bytes may stop for at most ReadTimeout, and the
// leader must arrive in full within ReadTimeout of its promotion.
type shared struct {
	limit    int
	reserve  int // R: left to small frames
	maxClaim int // C: the largest claim of a large frame
	room     int // growing large frames other than the leader hold at most this
	gauge    prometheus.Gauge

	mu sync.Mutex
	// guarded by mu
	used    int     // bytes held by every frame
	large   int     // bytes held by large frames (growing, leader, complete)
	growing int     // bytes held by growing large frames other than the leader
	leader  *charge // the growing large frame whose remaining claim is reserved
	smallQ  []*charge
	largeQ  []*charge // growing large frames that did not fit, in arrival order
}

func newShared(limit int, maxFrame int, gauge prometheus.Gauge) *shared {
	s := &shared{limit: limit, reserve: limit / 4, gauge: gauge}
	s.maxClaim = min(limit-s.reserve, maxFrame+requestCost)
	s.room = limit - s.reserve - s.maxClaim
	return s
}

// chargeState is where a charge stands.
type chargeState uint8

const (
	chargeGrowing  chargeState = 1 + iota // the frame is being read
	chargeComplete                        // read in full: its handler holds the bytes
	chargeReleased                        // given back
)

// charge is what one request frame holds of a shared budget. Its methods
// are called by one goroutine at a time (the connection's reader, then the
// request's handler), and the budget's fields by whoever holds its lock.
type charge struct {
	s     *shared
	claim int
	large bool

	// guarded by s.mu
	held      int
	state     chargeState
	inGrowing bool          // held is counted in s.growing
	leaderAt  time.Time     // when it became the leader; zero: not the leader
	want      int           // bytes asked for while queued
	ready     chan struct{} // closed when want is granted; nil: not queued
}

// newCharge returns the charge of a request frame with a body of bodyLen
// bytes. It holds nothing yet.
func (s *shared) newCharge(bodyLen int) *charge {
	claim := requestCost + bodyLen
	c := &charge{s: s, state: chargeGrowing}
	if claim <= smallClaim {
		c.claim = min(claim, s.limit)
	} else {
		c.large = true
		c.claim = min(claim, s.maxClaim)
	}
	return c
}

// grow takes n more bytes (at most what remains of the claim), waiting
// until they may be granted, ctx ends or until passes (errNoRoom). On
// error it has taken nothing more. A small frame takes its whole claim in
// one call.
func (c *charge) grow(ctx context.Context, n int, until time.Time) error {
	s := c.s
	s.mu.Lock()
	n = min(n, c.claim-c.held)
	if n <= 0 || c.state != chargeGrowing {
		s.mu.Unlock()
		return nil
	}
	if s.tryLocked(c, n) {
		s.mu.Unlock()
		return nil
	}
	c.want = n
	c.ready = make(chan struct{})
	ready := c.ready
	if c.large {
		if s.leader != c {
			s.largeQ = append(s.largeQ, c)
		}
	} else {
		s.smallQ = append(s.smallQ, c)
	}
	s.grantLocked() // promotes c when there is no leader
	s.mu.Unlock()

	timer := time.NewTimer(time.Until(until))
	defer timer.Stop()
	var err error
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = errNoRoom
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-ready:
		return nil // granted meanwhile: keep it
	default:
	}
	c.ready = nil
	s.smallQ = remove(s.smallQ, c)
	s.largeQ = remove(s.largeQ, c)
	s.grantLocked() // c may have been blocking others
	return err
}

func remove(q []*charge, c *charge) []*charge {
	if i := slices.Index(q, c); i >= 0 {
		return slices.Delete(q, i, i+1)
	}
	return q
}

// leaderSince returns when c became the leader; zero if it is not.
func (c *charge) leaderSince() time.Time {
	if !c.large {
		return time.Time{} // only a large frame leads
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.leaderAt
}

// complete marks the frame read in full: its bytes stay held, by its
// handler, until release; the leadership passes on.
func (c *charge) complete() {
	if !c.large {
		return // a small frame neither grows nor leads: nothing changes
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.state != chargeGrowing {
		return
	}
	s.stopGrowingLocked(c)
	c.state = chargeComplete
	s.grantLocked()
}

// release gives back everything c holds. It may be called in any state,
// more than once.
func (c *charge) release() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.state == chargeReleased {
		return
	}
	s.stopGrowingLocked(c)
	s.addLocked(c, -c.held)
	c.held = 0
	c.state = chargeReleased
	s.grantLocked()
}

// stopGrowingLocked takes c out of the growing frames and the leadership.
func (s *shared) stopGrowingLocked(c *charge) {
	if c.inGrowing {
		s.growing -= c.held
		c.inGrowing = false
	}
	if s.leader == c {
		s.leader = nil
		c.leaderAt = time.Time{}
	}
}

// fitsLocked reports whether c may be granted n more bytes (rules 1 to 3).
func (s *shared) fitsLocked(c *charge, n int) bool {
	r := 0 // the leader's reservation, against everybody else
	if l := s.leader; l != nil && l != c {
		r = l.claim - l.held
	}
	switch {
	case !c.large:
		return s.used+n+r <= s.limit || s.used-s.large+n <= s.reserve
	case s.leader == c:
		return s.used+n <= s.limit && s.large+n <= s.limit-s.reserve
	default:
		return s.used+n+r <= s.limit && s.large+n+r <= s.limit-s.reserve && s.growing+n <= s.room
	}
}

// tryLocked grants n bytes to c if they fit and no frame of its class is
// queued before it (the leader never queues behind anyone).
func (s *shared) tryLocked(c *charge, n int) bool {
	queued := len(s.smallQ) > 0
	if c.large {
		queued = len(s.largeQ) > 0 && s.leader != c
	}
	if queued || !s.fitsLocked(c, n) {
		return false
	}
	s.takeLocked(c, n)
	return true
}

func (s *shared) takeLocked(c *charge, n int) {
	s.addLocked(c, n)
	c.held += n
	if c.large && s.leader != c && c.state == chargeGrowing {
		c.inGrowing = true
		s.growing += n
	}
}

func (s *shared) addLocked(c *charge, n int) {
	s.used += n
	if c.large {
		s.large += n
	}
	if s.gauge != nil && n != 0 {
		s.gauge.Add(float64(n))
	}
}

// grantLocked serves what fits after a change: the leader, then the large
// queue in order (its head promoted when there is no leader), then the
// small queue in order. Each round of a loop removes a waiter or stops, so
// it ends.
func (s *shared) grantLocked() {
	if l := s.leader; l != nil && l.ready != nil && s.fitsLocked(l, l.want) {
		s.grantWaiterLocked(l)
	}
	for len(s.largeQ) > 0 {
		c := s.largeQ[0]
		if s.fitsLocked(c, c.want) {
			s.largeQ = s.largeQ[1:]
			s.grantWaiterLocked(c)
			continue
		}
		if s.leader != nil {
			break
		}
		// Promote the head: its bytes leave the room of rule 2 and its
		// remaining claim is reserved from now on.
		s.largeQ = s.largeQ[1:]
		if c.inGrowing {
			s.growing -= c.held
			c.inGrowing = false
		}
		s.leader = c
		c.leaderAt = time.Now()
		if s.fitsLocked(c, c.want) {
			s.grantWaiterLocked(c)
		}
	}
	for len(s.smallQ) > 0 && s.fitsLocked(s.smallQ[0], s.smallQ[0].want) {
		c := s.smallQ[0]
		s.smallQ = s.smallQ[1:]
		s.grantWaiterLocked(c)
	}
}

func (s *shared) grantWaiterLocked(c *charge) {
	s.takeLocked(c, c.want)
	c.want = 0
	close(c.ready)
	c.ready = nil
}
