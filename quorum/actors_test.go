package quorum

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// leaseDisk is a data directory for actor-source tests: a memory engine
// whose synced writes survive a crash, and a meta store over it that counts
// lease writes and can fail the next ones.
type leaseDisk struct {
	t   *testing.T
	eng *storage.Memory
	st  *storage.Store

	mu sync.Mutex
	// puts counts PutMeta calls that returned nil.
	puts int
	// fail makes the next PutMeta calls fail; applyFailed lets a failing
	// write reach the disk first (data written, fsync reported failing).
	fail        int
	applyFailed bool
}

var errLeaseWrite = errors.New("injected lease write error")

func newLeaseDisk(t *testing.T) *leaseDisk {
	d := &leaseDisk{t: t, eng: storage.NewMemory()}
	d.open()
	return d
}

func (d *leaseDisk) open() {
	st, err := storage.NewStore(d.eng)
	if err != nil {
		d.t.Fatal(err)
	}
	d.st = st
}

// crash keeps only what was synced and reopens it, as a restart after a
// power failure does.
func (d *leaseDisk) crash() {
	d.eng = d.eng.CrashClone()
	d.open()
}

func (d *leaseDisk) GetMeta(name string) ([]byte, error) { return d.st.GetMeta(name) }

func (d *leaseDisk) PutMeta(name string, v []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail > 0 {
		d.fail--
		if d.applyFailed {
			_ = d.st.PutMeta(name, v)
		}
		return errLeaseWrite
	}
	if err := d.st.PutMeta(name, v); err != nil {
		return err
	}
	d.puts++
	return nil
}

func (d *leaseDisk) failNext(n int, apply bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail, d.applyFailed = n, apply
}

func (d *leaseDisk) writes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.puts
}

// lease returns the persisted prefix and lease end.
func (d *leaseDisk) lease() (prefix, end uint64) {
	b, err := d.st.GetMeta(metaActors)
	if err != nil {
		d.t.Fatalf("no persisted lease: %v", err)
	}
	return binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
}

// setLease persists a lease directly, as an earlier process would have.
func (d *leaseDisk) setLease(prefix, end uint64) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], prefix)
	binary.BigEndian.PutUint64(b[8:], end)
	if err := d.st.PutMeta(metaActors, b[:]); err != nil {
		d.t.Fatal(err)
	}
}

func split(id versioning.ActorID) (prefix, epoch uint64) {
	return uint64(id) >> epochBits, uint64(id) & (epochLimit - 1)
}

func draw(t *testing.T, a *actorSource, n int) []versioning.ActorID {
	t.Helper()
	out := make([]versioning.ActorID, 0, n)
	for range n {
		id, err := a.fresh()
		if err != nil {
			t.Fatalf("draw %d: %v", len(out), err)
		}
		out = append(out, id)
	}
	return out
}

func mustSource(t *testing.T, d *leaseDisk) *actorSource {
	t.Helper()
	a, err := newActorSource(d)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestActors_firstStart: an empty data directory gets a random prefix,
// epochs count up from 1, and one synced write leases the first block
// before any id is handed out.
func TestActors_firstStart(t *testing.T) {
	d := newLeaseDisk(t)
	a := mustSource(t, d)
	if d.writes() != 1 {
		t.Fatalf("%d lease writes at start, want 1", d.writes())
	}
	prefix, end := d.lease()
	if end != 1+leaseBlock {
		t.Fatalf("lease end %d at first start, want %d", end, 1+leaseBlock)
	}
	if prefix >= 1<<(64-epochBits) {
		t.Fatalf("prefix %#x does not fit in %d bits", prefix, 64-epochBits)
	}
	for i, id := range draw(t, a, 3) {
		p, e := split(id)
		if p != prefix || e != uint64(i+1) {
			t.Fatalf("id %d is prefix %#x epoch %d, want %#x and %d", i, p, e, prefix, i+1)
		}
	}
	if d.writes() != 1 {
		t.Fatalf("%d lease writes after 3 draws, want 1", d.writes())
	}
	// Two data directories do not share a prefix (a 2^-40 chance).
	if p2, _ := newLeaseDisk(t).leaseAfterStart(); p2 == prefix {
		t.Fatalf("two fresh data directories drew the same prefix %#x", prefix)
	}
}

func (d *leaseDisk) leaseAfterStart() (prefix, end uint64) {
	mustSource(d.t, d)
	return d.lease()
}

// TestActors_renewalBoundary: the block's last epoch is handed out without
// a write; the next draw extends the lease by one block, once.
func TestActors_renewalBoundary(t *testing.T) {
	d := newLeaseDisk(t)
	a := mustSource(t, d)
	ids := draw(t, a, leaseBlock)
	if _, e := split(ids[len(ids)-1]); e != leaseBlock {
		t.Fatalf("last epoch of the first block is %d, want %d", e, leaseBlock)
	}
	if d.writes() != 1 {
		t.Fatalf("%d lease writes within the first block, want 1", d.writes())
	}
	next := draw(t, a, 1)[0]
	if _, e := split(next); e != leaseBlock+1 {
		t.Fatalf("first epoch of the second block is %d, want %d", e, leaseBlock+1)
	}
	if _, end := d.lease(); d.writes() != 2 || end != 1+2*leaseBlock {
		t.Fatalf("after the boundary: %d writes, lease end %d; want 2 and %d", d.writes(), end, 1+2*leaseBlock)
	}
}

// TestActors_restart: a restarted process on the same data directory keeps
// the prefix and starts past everything the lease covered, so no epoch the
// crashed process handed out (or could have) is handed out again; its
// actors are not reused for keys, as they may be behind a lost write.
func TestActors_restart(t *testing.T) {
	for _, drawn := range []int{0, 1, leaseBlock, leaseBlock + 1, 2*leaseBlock + 7} {
		d := newLeaseDisk(t)
		a := mustSource(t, d)
		before := draw(t, a, drawn)
		prefix, end := d.lease()
		d.crash()
		b := mustSource(t, d)
		after := draw(t, b, 1)[0]
		p, e := split(after)
		if p != prefix {
			t.Fatalf("drew %d: restart changed the prefix %#x to %#x", drawn, prefix, p)
		}
		if e != end {
			t.Fatalf("drew %d: restart starts at epoch %d, want the old lease end %d", drawn, e, end)
		}
		for _, id := range before {
			if id == after {
				t.Fatalf("drew %d: restart handed out %v again", drawn, id)
			}
		}
		if len(before) > 0 {
			old := before[len(before)-1]
			local := versioning.Clock{Entries: []versioning.Entry{{Actor: old, Counter: 1}}}
			got, err := b.forKey(7, local, true)
			if err != nil {
				t.Fatal(err)
			}
			if got == old {
				t.Fatalf("drew %d: the restarted process reuses the old actor %v", drawn, old)
			}
		}
	}
}

// TestActors_wipedDirectory: a restart on an empty data directory (no
// persisted lease) draws a new prefix, so it cannot collide with the ids
// of the directory it replaced, even though its epochs start at 1 again.
func TestActors_wipedDirectory(t *testing.T) {
	d := newLeaseDisk(t)
	old := draw(t, mustSource(t, d), 5)
	oldPrefix, _ := d.lease()
	d = newLeaseDisk(t)
	id := draw(t, mustSource(t, d), 1)[0]
	p, e := split(id)
	if p == oldPrefix || e != 1 {
		t.Fatalf("wiped directory: prefix %#x epoch %d, want a new prefix (old %#x) at epoch 1", p, e, oldPrefix)
	}
	for _, o := range old {
		if o == id {
			t.Fatalf("wiped directory reissued %v", id)
		}
	}
}

// TestActors_leaseWriteFails: a lease write that fails hands out no id
// beyond what is persisted, whether or not the write reached the disk; the
// next draw retries it; a restart in between never reissues an id.
func TestActors_leaseWriteFails(t *testing.T) {
	t.Run("start", func(t *testing.T) {
		d := newLeaseDisk(t)
		d.failNext(1, false)
		if _, err := newActorSource(d); !errors.Is(err, errLeaseWrite) {
			t.Fatalf("start with a failing lease write: %v, want the write error", err)
		}
	})
	for _, apply := range []bool{false, true} {
		name := "not written"
		if apply {
			name = "written, reported failing"
		}
		t.Run(name, func(t *testing.T) {
			d := newLeaseDisk(t)
			a := mustSource(t, d)
			issued := draw(t, a, leaseBlock)
			d.failNext(1, apply)
			if id, err := a.fresh(); !errors.Is(err, errLeaseWrite) {
				t.Fatalf("draw past the lease with a failing write: %v, %v; want the write error", id, err)
			}
			// The failed draw took nothing: the retry gets the next epoch.
			id := draw(t, a, 1)[0]
			if _, e := split(id); e != leaseBlock+1 {
				t.Fatalf("retry got epoch %d, want %d", e, leaseBlock+1)
			}
			issued = append(issued, id)
			// A failure, then a crash before any retry.
			d.failNext(1, apply)
			for range leaseBlock - 1 {
				issued = append(issued, draw(t, a, 1)[0])
			}
			if _, err := a.fresh(); !errors.Is(err, errLeaseWrite) {
				t.Fatalf("second failing lease write: %v", err)
			}
			d.crash()
			b := mustSource(t, d)
			next := draw(t, b, 1)[0]
			_, e := split(next)
			for _, o := range issued {
				if _, oe := split(o); oe >= e {
					t.Fatalf("restart starts at epoch %d, but epoch %d was handed out before the crash", e, oe)
				}
			}
		})
	}
}

// TestActors_prefixExhausted: the last epochs of a prefix are handed out,
// then a new prefix is drawn and persisted before its first id; a restart
// on a fully used lease draws a new prefix too; a failure to persist the
// new prefix hands out nothing and is retried.
func TestActors_prefixExhausted(t *testing.T) {
	d := newLeaseDisk(t)
	const old = 0xabcdef
	d.setLease(old, epochLimit-2)
	a := mustSource(t, d)
	if _, end := d.lease(); end != epochLimit {
		t.Fatalf("lease near the limit ends at %d, want the limit %d", end, epochLimit)
	}
	for i, id := range draw(t, a, 2) {
		if p, e := split(id); p != old || e != epochLimit-2+uint64(i) {
			t.Fatalf("id %d near the limit: prefix %#x epoch %d", i, p, e)
		}
	}
	d.failNext(1, false)
	if _, err := a.fresh(); !errors.Is(err, errLeaseWrite) {
		t.Fatalf("draw of a new prefix with a failing lease write: %v", err)
	}
	if p, _ := d.lease(); p != old {
		t.Fatalf("persisted prefix %#x after the failed write, want the old one", p)
	}
	id := draw(t, a, 1)[0]
	p, e := split(id)
	if p == old || e != 1 {
		t.Fatalf("after the limit: prefix %#x epoch %d, want a new prefix at epoch 1", p, e)
	}
	if lp, end := d.lease(); lp != p || end != 1+leaseBlock {
		t.Fatalf("persisted lease %#x/%d, want %#x/%d", lp, end, p, 1+leaseBlock)
	}

	d = newLeaseDisk(t)
	d.setLease(old, epochLimit)
	id = draw(t, mustSource(t, d), 1)[0]
	if p, e := split(id); p == old || e != 1 {
		t.Fatalf("restart on a used-up lease: prefix %#x epoch %d, want a new prefix at epoch 1", p, e)
	}
}

// TestActors_corruptLease: a lease entry no version of this code could have
// written stops the start with ErrCorrupt rather than handing out ids that
// might collide: a wrong length, epoch 0, an end past the limit, a prefix
// wider than 40 bits (its ids would alias another prefix's).
func TestActors_corruptLease(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short", make([]byte, 15)},
		{"long", make([]byte, 17)},
		{"epoch 0", leaseBytes(5, 0)},
		{"past the limit", leaseBytes(5, epochLimit+1)},
		{"wide prefix", leaseBytes(1<<(64-epochBits), 9)},
	} {
		d := newLeaseDisk(t)
		if err := d.st.PutMeta(metaActors, tc.b); err != nil {
			t.Fatal(err)
		}
		if _, err := newActorSource(d); !errors.Is(err, storage.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tc.name, err)
		}
	}
	// The boundaries themselves are valid.
	for _, end := range []uint64{1, epochLimit} {
		d := newLeaseDisk(t)
		d.setLease(1<<(64-epochBits)-1, end)
		if _, err := newActorSource(d); err != nil {
			t.Errorf("lease end %d: %v", end, err)
		}
	}
}

func leaseBytes(prefix, end uint64) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], prefix)
	binary.BigEndian.PutUint64(b[8:], end)
	return b[:]
}

// TestActors_concurrentDraws: draws from many goroutines across several
// lease blocks are all distinct, every one is below the persisted lease,
// and each block is leased once.
func TestActors_concurrentDraws(t *testing.T) {
	d := newLeaseDisk(t)
	a := mustSource(t, d)
	const workers, each = 8, 1300 // 10400 draws: three blocks
	var wg sync.WaitGroup
	got := make([][]versioning.ActorID, workers)
	for w := range workers {
		wg.Go(func() {
			for range each {
				id, err := a.fresh()
				if err != nil {
					t.Error(err)
					return
				}
				got[w] = append(got[w], id)
			}
		})
	}
	wg.Wait()
	_, end := d.lease()
	seen := map[versioning.ActorID]bool{}
	for _, ids := range got {
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("%v handed out twice", id)
			}
			seen[id] = true
			if _, e := split(id); e >= end {
				t.Fatalf("epoch %d handed out past the persisted lease end %d", e, end)
			}
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct ids, want %d", len(seen), workers*each)
	}
	if d.writes() != 3 {
		t.Fatalf("%d lease writes for %d draws, want 3 (one a block)", d.writes(), workers*each)
	}
}

// TestActors_forKey: an actor is reused for a key only if it is this
// incarnation's, the local copy was found, and the key was never dropped;
// the newest such entry wins.
func TestActors_forKey(t *testing.T) {
	d := newLeaseDisk(t)
	a := mustSource(t, d)
	mine := draw(t, a, 2)
	foreign := versioning.ActorID(uint64(mine[0]) ^ 1<<40) // another prefix, same epoch
	local := versioning.Clock{Entries: []versioning.Entry{
		{Actor: mine[0], Counter: 1}, {Actor: mine[1], Counter: 1}, {Actor: foreign, Counter: 1},
	}}
	if got, _ := a.forKey(1, local, true); got != mine[1] {
		t.Fatalf("found, own actors present: got %v, want the newest own %v", got, mine[1])
	}
	if got, _ := a.forKey(1, local, false); got == mine[0] || got == mine[1] {
		t.Fatalf("local copy not found: reused %v", got)
	}
	only := versioning.Clock{Entries: []versioning.Entry{{Actor: foreign, Counter: 3}}}
	if got, _ := a.forKey(1, only, true); got == foreign {
		t.Fatal("another prefix's actor was reused")
	}
	// An actor drawn after the one in the clock (next moved past it) is
	// still ours; one not yet drawn is not.
	ahead := versioning.ActorID(uint64(mine[1]) + 1000)
	if got, _ := a.forKey(1, versioning.Clock{Entries: []versioning.Entry{{Actor: ahead, Counter: 1}}}, true); got == ahead {
		t.Fatal("an epoch this process never handed out was reused")
	}
	a.dropped(1)
	if got, _ := a.forKey(1, local, true); got == mine[0] || got == mine[1] {
		t.Fatalf("dropped key: reused %v", got)
	}
	if got, _ := a.forKey(2, local, true); got != mine[1] {
		t.Fatalf("another key is unaffected by the drop: got %v, want %v", got, mine[1])
	}
}
