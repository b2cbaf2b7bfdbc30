package antientropy

import (
	"errors"
	"testing"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// limitedScanner is a Scanner with a scan limit that counts its slots.
type limitedScanner struct {
	refuse         error
	taken, given   int
	scans, objects int
}

func (s *limitedScanner) StartScan(op string) (func(), error) {
	if op != "find" {
		return nil, errors.New("unexpected op " + op)
	}
	if s.refuse != nil {
		return nil, s.refuse
	}
	s.taken++
	return func() { s.given++ }, nil
}

func (s *limitedScanner) ScanLocal(lo, hi uint64, fn func(k storage.Key, c versioning.Clock) error) error {
	s.scans++
	for i := range s.objects {
		k := storage.Key{Hash: lo + uint64(i), Bucket: "b", Key: "k"}
		if err := fn(k, versioning.New(nil, versioning.Value{Data: []byte("v")})); err != nil {
			return err
		}
	}
	return nil
}

// TestFinders_scanLimit: a finder over a Scanner with a scan limit takes a
// slot for its scan and gives it back, and fails at once, scanning
// nothing, when the limit refuses.
func TestFinders_scanLimit(t *testing.T) {
	r, err := ring.New(ring.Config{Partitions: 4, Tokens: 4}, []string{"n1"})
	if err != nil {
		t.Fatal(err)
	}
	busy := errors.New("busy")
	finders := map[string]func(Scanner, Query) error{
		"siblings": func(s Scanner, q Query) error {
			_, err := FindSiblings(t.Context(), s, r, q, 0)
			return err
		},
		"large": func(s Scanner, q Query) error {
			_, err := FindLarge(t.Context(), s, r, q, 0)
			return err
		},
		"tombstones": func(s Scanner, q Query) error {
			_, err := CountTombstones(t.Context(), s, r, q)
			return err
		},
	}
	for name, find := range finders {
		s := &limitedScanner{refuse: busy, objects: 3}
		if err := find(s, Query{Partition: AllPartitions}); !errors.Is(err, busy) || s.scans != 0 {
			t.Errorf("%s past the limit: %v after %d scans, want the limit's error and no scan", name, err, s.scans)
		}
		s = &limitedScanner{objects: 3}
		if err := find(s, Query{Partition: AllPartitions}); err != nil || s.scans == 0 || s.taken != 1 || s.given != 1 {
			t.Errorf("%s: %v, %d scans, slots taken %d and given back %d; want one of each", name, err, s.scans, s.taken, s.given)
		}
		s = &limitedScanner{}
		if err := find(s, Query{Partition: 99}); err == nil || s.taken != 0 {
			t.Errorf("%s of a bad partition: %v, %d slots taken; want an error before any slot", name, err, s.taken)
		}
	}
}
