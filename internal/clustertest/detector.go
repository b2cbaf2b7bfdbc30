package clustertest

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dynamod/dynamod/transport"
)

// detector is the cluster's failure detector lag: after a crash each other
// node goes on believing the crashed one alive for a while (drawn from the
// seed in [DetectDelay/2, DetectDelay]), as gossip's suspicion timeout
// does, and with SilentCrash the dead node's calls are lost instead of
// refused, so in that window requests to it time out.
type detector struct {
	mu  sync.Mutex
	rng *rand.Rand
	// noticeAt is when a viewer stops believing a crashed member alive:
	// [viewer, member] → time.
	noticeAt map[[2]string]time.Time
	// dark are the silently crashed nodes: messages to and from them are
	// lost.
	dark   map[string]bool
	timers map[*time.Timer]struct{}
	closed bool
}

func newDetector(seed uint64) *detector {
	return &detector{
		rng:      rand.New(rand.NewPCG(seed, hashOf("detector", ""))),
		noticeAt: map[[2]string]time.Time{}, dark: map[string]bool{}, timers: map[*time.Timer]struct{}{},
	}
}

// detectCrash starts the window of every viewer on member, and tells each
// viewer when its window ends.
func (c *Cluster) detectCrash(member string, viewers []string) {
	d := c.detect
	maxLag := c.opts.DetectDelay
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.opts.SilentCrash {
		d.dark[member] = true
	}
	if maxLag <= 0 || d.closed {
		return
	}
	now := time.Now()
	for _, v := range viewers {
		if v == member {
			continue
		}
		lag := maxLag/2 + time.Duration(d.rng.Int64N(int64(maxLag-maxLag/2)+1))
		d.noticeAt[[2]string{v, member}] = now.Add(lag)
		var tm *time.Timer
		tm = time.AfterFunc(lag, func() {
			d.mu.Lock()
			delete(d.timers, tm)
			d.mu.Unlock()
			c.notifyNode(v)
		})
		d.timers[tm] = struct{}{}
	}
}

// started ends every window on a (re)started member and its darkness.
func (d *detector) started(member string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.dark, member)
	for k := range d.noticeAt {
		if k[0] == member || k[1] == member {
			delete(d.noticeAt, k)
		}
	}
}

// lagging reports whether viewer has not yet noticed member's crash.
func (d *detector) lagging(viewer, member string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.noticeAt[[2]string{viewer, member}]
	return ok && time.Now().Before(at)
}

// pass is the network hook: it loses every message to or from a dark node.
func (d *detector) pass(m *transport.Msg) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.dark[m.To] && !d.dark[m.From]
}

func (d *detector) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for tm := range d.timers {
		tm.Stop()
	}
	clear(d.timers)
}

// Believed reports whether viewer's failure detector reports member alive
// now (Believe overrides, crashes and partitions, the detector's lag).
func (c *Cluster) Believed(viewer, member string) bool {
	return viewer == member || c.reachable(viewer, member)
}
