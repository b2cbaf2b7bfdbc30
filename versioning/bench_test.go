package versioning

import (
	"fmt"
	"strconv"
	"testing"
)

// Run with:
//
//	go test ./versioning/ -run '^$' -bench . -benchmem

// benchClock builds a clock with entries for actors actors and siblings live
// values of 100 bytes, and returns the context read just before the
// siblings were written (a stale context that leaves them alive).
func benchClock(actors, siblings int) (Clock, Context) {
	var c Clock
	payload := func(k int) Value {
		d := make([]byte, 100)
		copy(d, strconv.Itoa(k))
		return Value{Data: d, ContentType: "application/json", LastModified: int64(k)}
	}
	k := 0
	for a := range actors {
		c = Update(New(nil, payload(k)), c, ActorID(a+1)*0x9e3779b97f4a7c15)
		k++
	}
	c = Update(New(Join(c), payload(k)), c, 0x9e3779b97f4a7c15) // one value left
	k++
	stale := Join(c)
	for s := 1; s < siblings; s++ {
		c = Update(New(nil, payload(k)), c, ActorID(s%actors+1)*0x9e3779b97f4a7c15)
		k++
	}
	return c, stale
}

func benchSizes(b *testing.B, f func(b *testing.B, actors, siblings int)) {
	for _, actors := range []int{1, 3, 10} {
		for _, siblings := range []int{1, 10} {
			b.Run(fmt.Sprintf("actors=%d/siblings=%d", actors, siblings), func(b *testing.B) {
				f(b, actors, siblings)
			})
		}
	}
}

func BenchmarkUpdate(b *testing.B) {
	benchSizes(b, func(b *testing.B, actors, siblings int) {
		local, stale := benchClock(actors, siblings)
		if local.Len() != siblings || len(local.Entries) != actors {
			b.Fatalf("bench clock has %d values, %d entries", local.Len(), len(local.Entries))
		}
		client := New(stale, Value{Data: make([]byte, 100)})
		b.ReportAllocs()
		for b.Loop() {
			_ = Update(client, local, 0x9e3779b97f4a7c15)
		}
	})
}

func BenchmarkSync(b *testing.B) {
	benchSizes(b, func(b *testing.B, actors, siblings int) {
		x, stale := benchClock(actors, siblings)
		// y: the replica of the coordinator that took one more write.
		y := Update(New(stale, Value{Data: make([]byte, 100)}), x, 0x9e3779b97f4a7c15)
		b.ReportAllocs()
		for b.Loop() {
			_ = Sync(x, y)
		}
	})
}

func BenchmarkDigest(b *testing.B) {
	benchSizes(b, func(b *testing.B, actors, siblings int) {
		c, _ := benchClock(actors, siblings)
		b.ReportAllocs()
		for b.Loop() {
			_ = Digest(c)
		}
	})
}

func benchContext(n int) Context {
	ctx := make(Context, n)
	for k := range ctx {
		ctx[k] = ContextEntry{Actor: ActorID(uint64(k+1)<<56 | 0x0123456789abcd), Counter: uint64(1000 + k)}
	}
	return ctx
}

func BenchmarkContextEncode(b *testing.B) {
	for _, n := range []int{1, 3, 10} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			ctx := benchContext(n)
			b.ReportAllocs()
			for b.Loop() {
				_ = ctx.Encode()
			}
		})
	}
}

func BenchmarkContextDecode(b *testing.B) {
	for _, n := range []int{1, 3, 10} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			s := benchContext(n).Encode()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeContext(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
