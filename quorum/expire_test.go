package quorum

import (
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

// TestExpireValues: expired values become tombstones at their own dot
// (same sibling ids, their own LastModified), others stay as they are, the
// input is not touched, and without an expired value nothing is copied.
func TestExpireValues(t *testing.T) {
	live := versioning.Value{Data: []byte("live"), LastModified: 10}
	later := versioning.Value{Data: []byte("later"), LastModified: 11, Expires: 500}
	gone := versioning.Value{Data: []byte("gone"), LastModified: 12, Expires: 100, Meta: map[string]string{"a": "b"}}
	dead := versioning.Value{Deleted: true, LastModified: 13}
	c := versioning.Clock{
		Entries: []versioning.Entry{
			{Actor: 1, Counter: 5, Values: []versioning.Value{gone, live}},
			{Actor: 2, Counter: 2, Values: []versioning.Value{later}},
			{Actor: 3, Counter: 1, Values: []versioning.Value{dead}},
		},
		Anon: []versioning.Value{gone},
	}
	before := versioning.Siblings(c)

	same, n := expireValues(c, 99)
	if n != 0 || &same.Entries[0] != &c.Entries[0] {
		t.Fatalf("nothing expired at 99: %d expired, copied %v", n, &same.Entries[0] != &c.Entries[0])
	}

	got, n := expireValues(c, 100)
	if n != 2 {
		t.Fatalf("at 100: %d expired, want 2 (gone at its dot and anonymous)", n)
	}
	after := versioning.Siblings(got)
	if len(after) != len(before) {
		t.Fatalf("%d siblings, want %d", len(after), len(before))
	}
	for i, s := range after {
		if s.ID != before[i].ID && !before[i].Anonymous {
			t.Fatalf("sibling %d: id %s, was %s", i, s.ID, before[i].ID)
		}
		was := before[i].Value
		switch {
		case string(was.Data) == "gone":
			if !s.Value.Deleted || s.Value.LastModified != 12 || s.Value.Data != nil || s.Value.Meta != nil {
				t.Fatalf("expired value became %+v, want a tombstone stamped 12", s.Value)
			}
		case !versioning.ValueEqual(s.Value, was):
			t.Fatalf("sibling %d changed: %+v, was %+v", i, s.Value, was)
		}
	}
	if !versioning.ValueEqual(c.Entries[0].Values[0], gone) || !versioning.ValueEqual(c.Anon[0], gone) {
		t.Fatal("expireValues changed its input")
	}
	if versioning.IsTombstone(got) || versioning.IsTombstoneAt(c, 100) {
		t.Fatal("live values remain: not a tombstone")
	}
	at500, n := expireValues(c, 500)
	if n != 3 || versioning.IsTombstone(at500) {
		t.Fatalf("at 500: %d expired, want 3, and the value without expiry live", n)
	}
	c.Entries[0].Values = c.Entries[0].Values[:1] // no value without expiry
	all, n := expireValues(c, 500)
	if n != 3 || !versioning.IsTombstone(all) || !versioning.IsTombstoneAt(c, 500) || versioning.IsTombstoneAt(c, 499) {
		t.Fatalf("at 500 every value is expired or deleted: %d expired, tombstone %v", n, versioning.IsTombstone(all))
	}
}
