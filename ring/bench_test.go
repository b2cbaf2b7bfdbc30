package ring

import (
	"fmt"
	"testing"
)

// Run with: go test -run '^$' -bench . -benchmem ./ring/

func BenchmarkHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Hash("users", "user:1234567")
	}
}

func BenchmarkPreflist(b *testing.B) {
	for _, s := range []int{3, 10, 64} {
		b.Run(fmt.Sprintf("members=%d", s), func(b *testing.B) {
			r := mustNew(b, DefaultConfig(), memberNames("node-", s))
			h := Hash("users", "user:1234567")
			b.ReportAllocs()
			for b.Loop() {
				h = h*0x9e3779b97f4a7c15 + 1 // a different partition each time
				if len(r.Preflist(r.Partition(h), 3)) != 3 {
					b.Fatal("short preflist")
				}
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	for _, s := range []int{3, 10, 30, 64} {
		b.Run(fmt.Sprintf("members=%d", s), func(b *testing.B) {
			members := memberNames("node-", s)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(DefaultConfig(), members); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
