package faulty_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/storage/faulty"
	"github.com/dynamod/dynamod/storage/storagetest"
	"github.com/dynamod/dynamod/versioning"
)

// With no fault configured the wrapper is a plain engine.
func TestEngine_conformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Engine {
		return faulty.New(storage.NewMemory(), faulty.Config{FailAt: -1})
	})
}

func TestEngine_failsChosenOperations(t *testing.T) {
	tests := []struct {
		name string
		cfg  faulty.Config
		want []bool // per operation: fails?
	}{
		{"never", faulty.Config{FailAt: -1}, []bool{false, false, false, false, false}},
		{"once", faulty.Config{FailAt: 2}, []bool{false, false, true, false, false}},
		{"sticky", faulty.Config{FailAt: 1, Sticky: true}, []bool{false, true, true, true, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := faulty.New(storage.NewMemory(), tc.cfg)
			defer e.Close()
			for i, want := range tc.want {
				err := e.Put([]byte("k"), []byte("v"), false)
				if got := err != nil; got != want || (got && !errors.Is(err, faulty.ErrInjected)) {
					t.Fatalf("operation %d = %v, want failure %v", i, err, want)
				}
			}
			if e.Ops() != len(tc.want) {
				t.Fatalf("Ops = %d, want %d", e.Ops(), len(tc.want))
			}
		})
	}
	// Apply: the failed write happened anyway.
	inner := storage.NewMemory()
	e := faulty.New(inner, faulty.Config{FailAt: 0, Apply: true, Err: errors.New("disk on fire")})
	if err := e.Put([]byte("k"), []byte("v"), false); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Put = %v, want the configured error", err)
	}
	if v, err := inner.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("with Apply the write should have reached the engine: %q, %v", v, err)
	}
	// A fault during a scan stops it with the injected error.
	e = faulty.New(inner, faulty.Config{FailAt: 1}) // 0 is the scan, 1 its first key
	err := e.Scan(nil, nil, func(k, v []byte) error { return nil })
	if !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("Scan = %v, want the injected error", err)
	}
}

// model tracks what a key may hold when faults make some writes
// ambiguous: the state of the last acknowledged write, then every state
// attempted since (a failed write may or may not have happened).
type model struct {
	ops []modelOp
}

type modelOp struct {
	key    string // "obj:…", "hint:…", "meta:…"
	state  string // "" = absent
	acked  bool
	synced bool // an acked write with sync: it and everything before are durable
}

func (m *model) write(key, state string, sync bool, err error) {
	m.ops = append(m.ops, modelOp{key: key, state: state, acked: err == nil, synced: err == nil && sync})
}

// possible returns the states key may hold, considering only writes up to
// limit as certainly done (limit = len(ops) for the live engine, the last
// synced write for a crash).
func (m *model) possible(key string, limit int) []string {
	last := -1
	for i, op := range m.ops[:limit] {
		if op.key == key && op.acked {
			last = i
		}
	}
	states := []string{""}
	if last >= 0 {
		states = []string{m.ops[last].state}
	}
	for _, op := range m.ops[last+1:] {
		if op.key == key {
			states = append(states, op.state)
		}
	}
	return states
}

func (m *model) lastSync() int {
	for i := len(m.ops) - 1; i >= 0; i-- {
		if m.ops[i].synced {
			return i + 1
		}
	}
	return 0
}

func (m *model) keys(prefix string) []string {
	var ks []string
	for _, op := range m.ops {
		if strings.HasPrefix(op.key, prefix) && !slices.Contains(ks, op.key) {
			ks = append(ks, op.key)
		}
	}
	return ks
}

func clockOf(data string) versioning.Clock {
	return versioning.Clock{Entries: []versioning.Entry{{
		Actor: 1, Counter: 1,
		Values: []versioning.Value{{Data: []byte(data), LastModified: 1}},
	}}}
}

var workloadKeys = map[string]storage.Key{
	"k1": {Hash: 1 << 60, Bucket: "a", Key: "k1"},
	"k2": {Hash: 2 << 60, Bucket: "b", Key: "k2"},
	"k3": {Hash: 3 << 60, Bucket: "a", Key: "k3"},
}

// runWorkload runs a small store workload over e, recording every write in
// m. It fails the test if an error is not the injected one, or a read
// returns what the model rules out.
func runWorkload(t *testing.T, e storage.Engine, m *model) {
	t.Helper()
	check := func(what string, err error) {
		t.Helper()
		if err != nil && !errors.Is(err, faulty.ErrInjected) {
			t.Fatalf("%s: %v is not the injected error", what, err)
		}
	}
	s, err := storage.NewStore(e)
	check("NewStore", err)
	if err != nil {
		return
	}
	put := func(name, data string, sync bool) {
		err := s.Put(workloadKeys[name], clockOf(data), sync)
		check("Put "+name, err)
		m.write("obj:"+name, data, sync, err)
	}
	del := func(name string, sync bool) {
		err := s.Delete(workloadKeys[name], sync)
		check("Delete "+name, err)
		m.write("obj:"+name, "", sync, err)
	}
	get := func(name string) {
		c, err := s.Get(workloadKeys[name])
		state := ""
		switch {
		case err == nil:
			state = string(c.Entries[0].Values[0].Data)
		case errors.Is(err, storage.ErrNotFound):
		default:
			check("Get "+name, err)
			return
		}
		if want := m.possible("obj:"+name, len(m.ops)); !slices.Contains(want, state) {
			t.Fatalf("Get %s = %q, want one of %q", name, state, want)
		}
	}
	putHint := func(target, name string, sync bool) {
		err := s.PutHint(target, workloadKeys[name], sync)
		check("PutHint", err)
		m.write("hint:"+target+"/"+name, "present", sync, err)
	}
	deleteHint := func(target, name string) {
		err := s.DeleteHint(target, workloadKeys[name])
		check("DeleteHint", err)
		m.write("hint:"+target+"/"+name, "", false, err)
	}

	put("k1", "one", true)
	put("k2", "two", false)
	putHint("n1", "k2", true)
	get("k1")
	put("k1", "one again", false)
	putHint("n2", "k1", false)
	err = s.Scan(0, math.MaxUint64, func(k storage.Key, c versioning.Clock) error { return nil })
	check("Scan", err)
	err = s.PutMeta("actor", []byte("42"))
	check("PutMeta", err)
	m.write("meta:actor", "42", true, err)
	deleteHint("n1", "k2")
	del("k2", true)
	get("k2")
	put("k3", "three", false)
	putHint("n1", "k3", true)
	err = s.Hints("", func(string, storage.Key) error { return nil })
	check("Hints", err)
	get("k3")
}

// verify opens a fresh store on e and checks every key against the model,
// treating writes up to limit as done.
func verify(t *testing.T, what string, e storage.Engine, m *model, limit int) {
	t.Helper()
	s, err := storage.NewStore(e)
	if err != nil {
		t.Fatalf("%s: NewStore: %v", what, err)
	}
	for _, key := range m.keys("obj:") {
		name := strings.TrimPrefix(key, "obj:")
		state := ""
		c, err := s.Get(workloadKeys[name])
		if err == nil {
			state = string(c.Entries[0].Values[0].Data)
		} else if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s: Get %s: %v", what, name, err)
		}
		if want := m.possible(key, limit); !slices.Contains(want, state) {
			t.Fatalf("%s: %s holds %q, want one of %q: an acknowledged write was lost", what, name, state, want)
		}
		// Its bucket is registered whenever the object is there.
		if state != "" && !slices.Contains(s.Buckets(), workloadKeys[name].Bucket) {
			t.Fatalf("%s: bucket of %s missing from %q", what, name, s.Buckets())
		}
	}
	hints := map[string]bool{}
	if err := s.Hints("", func(target string, k storage.Key) error {
		hints["hint:"+target+"/"+k.Key] = true
		return nil
	}); err != nil {
		t.Fatalf("%s: Hints: %v", what, err)
	}
	if s.HintCount() != len(hints) {
		t.Fatalf("%s: HintCount = %d, but %d hints are stored", what, s.HintCount(), len(hints))
	}
	for _, key := range m.keys("hint:") {
		state := ""
		if hints[key] {
			state = "present"
		}
		if want := m.possible(key, limit); !slices.Contains(want, state) {
			t.Fatalf("%s: %s is %q, want one of %q", what, key, state, want)
		}
	}
	for _, key := range m.keys("meta:") {
		v, err := s.GetMeta(strings.TrimPrefix(key, "meta:"))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s: GetMeta: %v", what, err)
		}
		if want := m.possible(key, limit); !slices.Contains(want, string(v)) {
			t.Fatalf("%s: %s = %q, want one of %q", what, key, v, want)
		}
	}
}

// TestStore_faultSweep fails operation i = 0, 1, 2, … of a store workload,
// once or from then on, before or after the write reaches the engine. Every
// error must be the injected one, nothing may panic, and every acknowledged
// write must be in the engine afterwards, and after a crash if synced.
func TestStore_faultSweep(t *testing.T) {
	modes := []faulty.Config{
		{},
		{Sticky: true},
		{Apply: true},
		{Sticky: true, Apply: true},
	}
	for _, mode := range modes {
		t.Run(fmt.Sprintf("sticky=%v,apply=%v", mode.Sticky, mode.Apply), func(t *testing.T) {
			runs := 0
			for i := 0; i < 1000; i++ {
				cfg := mode
				cfg.FailAt = i
				inner := storage.NewMemory()
				fe := faulty.New(inner, cfg)
				var m model
				runWorkload(t, fe, &m)
				runs++
				verify(t, fmt.Sprintf("fail at %d", i), inner, &m, len(m.ops))
				verify(t, fmt.Sprintf("fail at %d, crash", i), inner.CrashClone(), &m, m.lastSync())
				if fe.Injected() == 0 {
					t.Logf("workload passed at i=%d (%d operations)", i, fe.Ops())
					return
				}
			}
			t.Fatalf("still injecting after %d runs", runs)
		})
	}
}
