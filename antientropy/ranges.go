package antientropy

import (
	"context"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Below the leaves: a hash range is summarised either as a list of
// (hash, item hash) entries, when it holds at most listMax distinct
// hashes, or as splitWays sub-range hashes. Both ends of an exchange cut a
// range into the same sub-ranges (splitWidth, subRange), so they compare
// sub-range hashes and descend only into those that differ.
const (
	splitWays = 16
	listMax   = 16
	// maxDepth bounds the descent below a segment: each level divides a
	// range by splitWays, and a segment is at most 2^60 wide.
	maxDepth = 16
)

// entry is one distinct hash of a range and the XOR of the item hashes of
// the keys that share it.
type entry struct{ h, ih uint64 }

// splitWidth returns the width of the sub-ranges of [lo, hi], or false if
// the range is too narrow to split (it then holds at most splitWays
// distinct hashes).
func splitWidth(lo, hi uint64) (uint64, bool) {
	if hi-lo < splitWays-1 {
		return 0, false
	}
	return (hi-lo)/splitWays + 1, true
}

// subRange returns sub-range j of [lo, hi] cut in sub-ranges of width w;
// false if it is empty. Sub-ranges are disjoint and cover [lo, hi].
func subRange(lo, hi, w uint64, j int) (uint64, uint64, bool) {
	off := uint64(j) * w
	if off > hi-lo {
		return 0, 0, false
	}
	slo := lo + off
	if w-1 >= hi-slo {
		return slo, hi, true
	}
	return slo, slo + w - 1, true
}

// summary is what a scan of a range found.
type summary struct {
	xor   uint64 // of every item hash in the range
	n     int    // distinct hashes
	split bool
	list  []entry // the entries, when !split
	subs  [splitWays]uint64
}

// summarize scans [lo, hi] and summarises it for a peer.
func (a *AntiEntropy) summarize(ctx context.Context, lo, hi uint64) (summary, error) {
	w, canSplit := splitWidth(lo, hi)
	var s summary
	var last uint64
	err := a.scan(ctx, lo, hi, func(k storage.Key, c versioning.Clock) error {
		st := stateOf(k, c)
		if !st.present {
			return nil
		}
		s.xor ^= st.ih
		if canSplit {
			s.subs[(k.Hash-lo)/w] ^= st.ih
		}
		if s.n > 0 && last == k.Hash {
			if len(s.list) == s.n {
				s.list[s.n-1].ih ^= st.ih
			}
			return nil
		}
		last = k.Hash
		s.n++
		if s.n <= listMax || !canSplit {
			s.list = append(s.list, entry{k.Hash, st.ih})
		}
		return nil
	})
	if err != nil {
		return summary{}, err
	}
	if canSplit && s.n > listMax {
		s.split, s.list = true, nil
	}
	return s, nil
}

// entries scans [lo, hi] and returns all its entries in hash order and the
// XOR of its item hashes.
func (a *AntiEntropy) entries(ctx context.Context, lo, hi uint64) ([]entry, uint64, error) {
	var es []entry
	var xor uint64
	err := a.scan(ctx, lo, hi, func(k storage.Key, c versioning.Clock) error {
		st := stateOf(k, c)
		if !st.present {
			return nil
		}
		xor ^= st.ih
		if n := len(es); n > 0 && es[n-1].h == k.Hash {
			es[n-1].ih ^= st.ih
			return nil
		}
		es = append(es, entry{k.Hash, st.ih})
		return nil
	})
	return es, xor, err
}

// subHashes returns the sub-range hashes of es, entries of [lo, ...] cut
// in sub-ranges of width w.
func subHashes(es []entry, lo, w uint64) [splitWays]uint64 {
	var subs [splitWays]uint64
	for _, e := range es {
		subs[(e.h-lo)/w] ^= e.ih
	}
	return subs
}

// appendDiff appends to dst the hashes whose entries differ between two
// lists sorted by hash: present in one only, or with other item hashes.
func appendDiff(dst []uint64, mine, theirs []entry) []uint64 {
	i, j := 0, 0
	for i < len(mine) || j < len(theirs) {
		switch {
		case j == len(theirs) || (i < len(mine) && mine[i].h < theirs[j].h):
			dst = append(dst, mine[i].h)
			i++
		case i == len(mine) || theirs[j].h < mine[i].h:
			dst = append(dst, theirs[j].h)
			j++
		default:
			if mine[i].ih != theirs[j].ih {
				dst = append(dst, mine[i].h)
			}
			i++
			j++
		}
	}
	return dst
}
