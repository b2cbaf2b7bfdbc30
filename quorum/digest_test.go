package quorum

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// TestServeGet_digest: a replica answers a get that carries a digest with
// stSame exactly when its copy has that digest, stamped if asked; with any
// other digest it ships its copy; a missing key is not found either way; a
// digest cut short is a bad request.
func TestServeGet_digest(t *testing.T) {
	c := newSoloCoordinator(t)
	ctx := t.Context()
	k := storage.Key{Hash: 7, Bucket: "b", Key: "k"}
	cl := versioning.New(nil, versioning.Value{Data: []byte("v"), ContentType: "text/plain"})
	if _, err := c.Serve(ctx, "peer", KindReplicate, newPutBodyStamp(k, false, false, cl).b); err != nil {
		t.Fatal(err)
	}
	other := versioning.New(nil, versioning.Value{Data: []byte("v"), ContentType: "text/html"})
	missing := storage.Key{Hash: 8, Bucket: "b", Key: "missing"}
	for _, tc := range []struct {
		name   string
		key    storage.Key
		digest uint64
		same   bool
	}{
		{"same copy", k, versioning.Digest(cl), true},
		{"other copy", k, versioning.Digest(other), false},
		{"missing key", missing, versioning.Digest(cl), false},
	} {
		for _, flags := range []uint8{getDigest, getDigest | getStamp} {
			from := time.Now()
			b, err := c.Serve(ctx, "peer", KindGet, appendGetFlags(encodeKey(tc.key), flags, tc.digest))
			if err != nil {
				t.Fatal(err)
			}
			at, same := cutSame(b)
			if same != tc.same {
				t.Errorf("%s (flags %d): same %v, want %v (reply %x)", tc.name, flags, same, tc.same, b)
			}
			if stamped := at != 0; same && stamped != (flags&getStamp != 0) || stamped && at < from.UnixNano() {
				t.Errorf("%s (flags %d): stamp %d", tc.name, flags, at)
			}
			if same {
				continue
			}
			got, found, _, err := decodeGetReply(b)
			if err != nil || found != (tc.key == k) || found && !versioning.Equal(got, cl) {
				t.Errorf("%s (flags %d): %v %v %v, want the copy shipped", tc.name, flags, got, found, err)
			}
		}
	}
	short := appendGetFlags(encodeKey(k), getDigest, versioning.Digest(cl))
	b, err := c.Serve(ctx, "peer", KindGet, short[:len(short)-1])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := decodeGetReply(b); !errors.Is(err, ErrBadRequest) {
		t.Errorf("cut digest: %v, want ErrBadRequest", err)
	}
	// A stSame nobody asked for is not a copy: decodeGetReply refuses it.
	if _, _, _, err := decodeGetReply([]byte{stSame}); err == nil {
		t.Error("a bare stSame decoded as a reply")
	}
}

// TestDigestRead_threshold: a read sends digests only for copies whose
// encoding has at least Config.DigestRead bytes (one value or siblings
// alike), never when it is negative; a peer that refused one is sent none
// until digestRetry has passed.
func TestDigestRead_threshold(t *testing.T) {
	c := newSoloCoordinator(t)
	small := versioning.New(nil, versioning.Value{Data: make([]byte, DefaultDigestRead/2)})
	sibling := versioning.New(nil, versioning.Value{Data: bytes.Repeat([]byte("x"), DefaultDigestRead/2)})
	big := versioning.Sync(small, sibling) // two siblings
	if storage.ObjectSize(small) >= DefaultDigestRead || storage.ObjectSize(big) < DefaultDigestRead {
		t.Fatalf("sizes %d and %d do not straddle %d", storage.ObjectSize(small), storage.ObjectSize(big), DefaultDigestRead)
	}
	if c.digestRead(small) || !c.digestRead(big) {
		t.Errorf("default: digestRead(small) %v, (big) %v", c.digestRead(small), c.digestRead(big))
	}
	c.cfg.DigestRead = -1
	if c.digestRead(big) {
		t.Error("DigestRead -1 still reads by digest")
	}
	c.cfg.DigestRead = 1
	if !c.digestRead(small) {
		t.Error("DigestRead 1: a copy is read without a digest")
	}

	if !c.digestPeer("n2") {
		t.Fatal("a peer that never refused is sent no digest")
	}
	c.noDigest.refresh("n2")
	if c.digestPeer("n2") {
		t.Error("a peer that just refused is sent a digest")
	}
	old := time.Now().Add(-digestRetry)
	c.noDigest.m.Store(&map[string]time.Time{"n2": old})
	if !c.digestPeer("n2") {
		t.Errorf("a peer that refused %v ago is still sent no digest", digestRetry)
	}
	c.noDigest.refresh("n2")
	if t2, _ := c.noDigest.since("n2"); !t2.After(old) {
		t.Error("refresh kept the old time")
	}
}

// TestCoordinator_digestRead: over three coordinators, a read of a copy
// that every replica holds ships no copy back (counted same); after a
// write one replica missed, the read still answers the newest value (that
// replica's copy is shipped, counted differ) and read repair brings it up
// to date, so the next read ships none again.
func TestCoordinator_digestRead(t *testing.T) {
	peers := newLoopbackTrio(t, func(cfg *Config) { cfg.DigestRead = 1 })
	ctx := t.Context()
	n1 := peers["n1"]
	same := func() float64 { return testutil.ToFloat64(n1.m.digestSame) }
	differ := func() float64 { return testutil.ToFloat64(n1.m.digestDiffer) }
	obj, err := n1.Put(ctx, "b", "k", nil, versioning.Value{Data: []byte("v1")}, WriteOptions{W: All})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got, err := n1.Get(ctx, "b", "k", ReadOptions{R: All})
		if err != nil || !versioning.Equal(got.Clock, obj.Clock) {
			t.Fatalf("read: %v %v", got, err)
		}
	}
	if same() != 6 || differ() != 0 {
		t.Fatalf("3 reads of 3 equal copies: same %v differ %v, want 6 and 0", same(), differ())
	}

	// v2 reaches every replica, then n3's store goes back to v1: n3
	// missed v2.
	k := storage.Key{Hash: ring.Hash("b", "k"), Bucket: "b", Key: "k"}
	obj2, err := n1.Put(ctx, "b", "k", obj.Context, versioning.Value{Data: []byte("v2")}, WriteOptions{W: All})
	if err != nil {
		t.Fatal(err)
	}
	if err := peers["n3"].store.Put(k, obj.Clock, false); err != nil {
		t.Fatal(err)
	}
	got, err := n1.Get(ctx, "b", "k", ReadOptions{R: All})
	if err != nil || !versioning.Equal(got.Clock, obj2.Clock) {
		t.Fatalf("read after n3 missed v2: %v %v", got, err)
	}
	if same() != 7 || differ() != 1 {
		t.Errorf("read with n3 behind: same %v differ %v, want 7 and 1", same(), differ())
	}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		cl, found, err := peers["n3"].readLocal(k)
		if err == nil && found && versioning.Equal(cl, obj2.Clock) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("n3 not repaired: %v %v %v", cl, found, err)
		}
	}
	if _, err := n1.Get(ctx, "b", "k", ReadOptions{R: All}); err != nil {
		t.Fatal(err)
	}
	if same() != 9 || differ() != 1 {
		t.Errorf("read after the repair: same %v differ %v, want 9 and 1", same(), differ())
	}
}
