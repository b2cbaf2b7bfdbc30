package quorum

import (
	"context"
	"testing"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// fixedMembers is a one-ring, everyone-alive membership.
type fixedMembers struct{ r *ring.Ring }

func (m fixedMembers) Ring() *ring.Ring  { return m.r }
func (m fixedMembers) Alive(string) bool { return true }
func (m fixedMembers) Owners(p, n int) ([]string, int, []string) {
	return m.r.Walk(p), min(n, len(m.r.Members())), nil
}

type defaultBuckets struct{}

func (defaultBuckets) Props(string) Props { return DefaultProps() }

// noPeers fails every call.
type noPeers struct{}

func (noPeers) Call(context.Context, string, uint8, []byte) ([]byte, error) {
	return nil, context.DeadlineExceeded
}

func newSoloCoordinator(t testing.TB) *Coordinator {
	t.Helper()
	return newSoloCoordinatorWith(t, nil)
}

// newSoloCoordinatorWith is newSoloCoordinator with mod applied to its
// config (nil: none).
func newSoloCoordinatorWith(t testing.TB, mod func(*Config)) *Coordinator {
	t.Helper()
	r, err := ring.New(ring.Config{Partitions: 16, Tokens: 8}, []string{"self"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.NewStore(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Self = "self"
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, st, fixedMembers{r}, noPeers{}, defaultBuckets{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); st.Close() })
	return c
}

func TestWire_roundTrip(t *testing.T) {
	k := storage.Key{Hash: 42, Bucket: "b/\x00", Key: "k ü"}
	cl := versioning.New(versioning.Context{{Actor: 7, Counter: 3}}, versioning.Value{Data: []byte("v"), ContentType: "text/plain"})
	m, err := decodePut(encodePut(k, true, "n2", storage.AppendObject(nil, cl)))
	if err != nil {
		t.Fatal(err)
	}
	if m.key != k || !m.sync || m.hintFor != "n2" || !versioning.Equal(m.clock, cl) {
		t.Errorf("put round trip: got %+v", m)
	}
	cm := coordMsg{key: k, client: cl, w: Majority, pw: 2, dw: zeroCount, timeoutMS: 1500}
	got, err := decodeCoord(cm.encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.key != k || got.w != Majority || got.pw != 2 || got.dw != zeroCount || got.timeoutMS != 1500 || !versioning.Equal(got.client, cl) {
		t.Errorf("coord round trip: got %+v", got)
	}
	ue := &UnavailableError{Op: "put", Want: 2, Got: 1, WantPrimary: 1, Reason: "timeout"}
	b := encodeErr(ue)
	d := newDecoder(b[1:])
	back := decodeErr(b[0], &d)
	if back.Error() != ue.Error() {
		t.Errorf("error round trip: %v, want %v", back, ue)
	}
}

// TestWire_putBody: a put message built around one encoding, in the
// buffer sized for it (also with a bucket and key long enough that a short
// header estimate would copy the object), is the message encodePut builds,
// for every hintFor; the object inside it is the one stored.
func TestWire_putBody(t *testing.T) {
	for _, k := range []storage.Key{
		{Hash: 1, Bucket: "b", Key: "k"},
		{Hash: 2, Bucket: string(make([]byte, 300)), Key: string(make([]byte, 20000))},
	} {
		cl := versioning.New(nil, versioning.Value{Data: make([]byte, 1<<16), ContentType: "text/plain"})
		obj := storage.AppendObject(nil, cl)
		for _, sync := range []bool{false, true} {
			p := newPutBody(k, sync, cl)
			if string(p.obj) != string(obj) {
				t.Fatal("obj differs from AppendObject's encoding")
			}
			// The message is the buffer newPutBody sized, not a copy grown
			// from it (which has another capacity). Counting allocations
			// would count the other tests' goroutines too.
			if want := putHeaderMax(k, "") + len(obj); cap(p.b) != want {
				t.Errorf("message capacity %d, want %d: the object was encoded into a regrown buffer", cap(p.b), want)
			}
			if &p.obj[0] != &p.b[len(p.b)-len(obj)] {
				t.Fatal("obj is not inside the message")
			}
			for _, hint := range []string{"", "n2"} {
				if got, want := p.to(k, sync, hint), encodePut(k, sync, hint, obj); string(got) != string(want) {
					t.Errorf("hintFor %q sync %v: message differs from encodePut's", hint, sync)
				}
			}
			m, err := decodePut(p.b)
			if err != nil || string(m.raw) != string(obj) || !versioning.Equal(m.clock, cl) || m.sync != sync {
				t.Fatalf("decodePut = %+v, %v", m.key, err)
			}
		}
	}
}

// FuzzServe feeds arbitrary peer requests to a coordinator: it must answer
// every one without panicking.
func FuzzServe(f *testing.F) {
	k := storage.Key{Hash: 1, Bucket: "b", Key: "k"}
	cl := versioning.New(nil, versioning.Value{Data: []byte("x")})
	f.Add(KindGet, encodeKey(k))
	f.Add(KindReplicate, encodePut(k, false, "", storage.AppendObject(nil, cl)))
	f.Add(KindHandoff, encodePut(k, true, "n9", storage.AppendObject(nil, cl)))
	f.Add(KindGet, append(encodeKey(k), getStamp))
	f.Add(KindGet, appendGetFlags(encodeKey(k), getStamp|getDigest, versioning.Digest(cl)))
	f.Add(KindReplicate, newReplicateBody(k, true, cl).b)
	f.Add(KindCoordinate, (&coordMsg{key: k, client: cl}).encode())
	f.Add(KindList, []byte{1, 'b', 1, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255})
	f.Add(KindBuckets, []byte(nil))
	c := newSoloCoordinator(f)
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 100e6)
		defer cancel()
		b, err := c.Serve(ctx, "peer", kind, body)
		if err != nil || len(b) == 0 {
			t.Fatalf("Serve(%d) = %x, %v: want a status reply", kind, b, err)
		}
	})
}
