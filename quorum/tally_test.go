package quorum

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestTally(t *testing.T) {
	type reply struct{ primary, ok, durable bool }
	tests := []struct {
		name                             string
		targets, primaries, need, np, nd int
		replies                          []reply
		want                             voteResult
	}{
		{"nothing yet", 3, 3, 2, 0, 0, nil, votePending},
		{"w met", 3, 3, 2, 0, 0, []reply{{true, true, false}, {true, true, false}}, voteWon},
		{"w lost", 3, 3, 2, 0, 0, []reply{{true, false, false}, {true, false, false}}, voteLost},
		{"one fail still possible", 3, 3, 2, 0, 0, []reply{{true, false, false}}, votePending},
		{"pw needs primaries", 3, 2, 2, 2, 0, []reply{{true, true, false}, {false, true, false}}, votePending},
		{"pw lost", 3, 2, 2, 2, 0, []reply{{true, false, false}}, voteLost},
		{"pw won", 3, 2, 2, 2, 0, []reply{{true, true, false}, {false, true, false}, {true, true, false}}, voteWon},
		{"dw pending", 3, 3, 2, 0, 1, []reply{{true, true, false}, {true, true, false}}, votePending},
		{"dw won", 3, 3, 2, 0, 1, []reply{{true, true, false}, {true, true, true}}, voteWon},
		{"dw lost", 3, 3, 1, 0, 2, []reply{{true, true, false}, {true, true, false}}, voteLost},
		{"too few targets", 1, 1, 2, 0, 0, nil, voteLost},
		{"pr more than primaries", 3, 1, 1, 2, 0, nil, voteLost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ta := newTally(tc.targets, tc.primaries, tc.need, tc.np, tc.nd)
			for _, r := range tc.replies {
				ta.add(r.primary, r.ok, r.durable)
			}
			if got := ta.result(); got != tc.want {
				t.Errorf("result = %v, want %v (%+v)", got, tc.want, ta)
			}
		})
	}
}

func TestSloppyTargets(t *testing.T) {
	walk := []string{"a", "b", "c", "d", "e"}
	tests := []struct {
		name     string
		n        int
		down     []string
		want     string
		unhinted []string
	}{
		{"all up", 3, nil, "a b c", nil},
		{"one primary down", 3, []string{"b"}, "a d(b) c", nil},
		{"two down, fallback skips dead", 3, []string{"a", "d"}, "e(a) b c", nil},
		{"no fallback left", 3, []string{"a", "d", "e"}, "b c", []string{"a"}},
		{"n larger than members", 9, []string{"c"}, "a b d e", []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alive := func(n string) bool { return !slices.Contains(tc.down, n) }
			ts, un := sloppyTargets(walk, tc.n, alive)
			var got []string
			for _, tg := range ts {
				s := tg.node
				if tg.hintFor != "" {
					s += "(" + tg.hintFor + ")"
				}
				if tg.primary != (tg.hintFor == "") {
					t.Errorf("%s: primary=%v with hint %q", tg.node, tg.primary, tg.hintFor)
				}
				got = append(got, s)
			}
			if g := fmt.Sprint(got); g != fmt.Sprint(strings.Fields(tc.want)) {
				t.Errorf("targets = %v, want %v", g, tc.want)
			}
			if !slices.Equal(un, tc.unhinted) {
				t.Errorf("unhinted = %v, want %v", un, tc.unhinted)
			}
		})
	}
}

func TestParseQuorum(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		want    int
		wantErr bool
	}{
		{"one", 3, 1, false}, {"quorum", 3, 2, false}, {"quorum", 5, 3, false}, {"all", 3, 3, false},
		{"2", 3, 2, false}, {"0", 3, 0, false}, {"99", 3, 0, true}, {"banana", 3, 0, true}, {"-1", 3, 0, true},
	}
	for _, tc := range tests {
		q, err := ParseQuorum(tc.in)
		if err == nil {
			var c int
			c, err = q.Resolve(tc.n, Majority)
			if err == nil && c != tc.want {
				t.Errorf("%q on n=%d resolves to %d, want %d", tc.in, tc.n, c, tc.want)
			}
		}
		if (err != nil) != tc.wantErr {
			t.Errorf("%q on n=%d: err = %v, wantErr %v", tc.in, tc.n, err, tc.wantErr)
		}
	}
}
