package http

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/dynamod/dynamod/quorum"
)

// Tests of issue 12: no input from a client can crash or exhaust a node,
// and bad input is a 4xx that changes nothing.

// trickleBody yields data, then fails as a connection that broke would.
type trickleBody struct {
	data []byte
	err  error
}

func (b *trickleBody) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		return 0, b.err
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

// TestDeclaredBodyNotAllocated: a PUT that announces 16 MiB and sends a
// few bytes must cost about what it sent, not what it announced.
func TestDeclaredBodyNotAllocated(t *testing.T) {
	e := newEnv(t)
	const declared = 16 << 20
	measure := func() uint64 {
		req := mustRequest(t, "PUT", "/kv/b/k", "")
		req.Body = io.NopCloser(&trickleBody{data: []byte("hello"), err: io.ErrUnexpectedEOF})
		req.ContentLength = declared
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := serve(e.h, req)
		runtime.ReadMemStats(&after)
		if r.code != 400 {
			t.Fatalf("broken upload = %d %s, want 400", r.code, r.body)
		}
		r.errorBody(t)
		return after.TotalAlloc - before.TotalAlloc
	}
	measure() // warm up: metrics series, pools
	if got := measure(); got > 1<<20 {
		t.Fatalf("a 5-byte upload that announced %d bytes allocated %d bytes", declared, got)
	}
	if n := e.f.size(); n != 0 {
		t.Fatalf("%d keys stored by broken uploads", n)
	}
}

// TestReadLimited: bodies at, under and over the limit, with an honest, a
// false and no announced length, come back whole or as a 413, and the
// buffer is never larger than the body plus one byte (or the first chunk).
func TestReadLimited(t *testing.T) {
	const limit = 100 << 10
	for _, tc := range []struct {
		name     string
		size     int
		declared int64
		tooLarge bool
	}{
		{"empty", 0, 0, false},
		{"empty unknown", 0, -1, false},
		{"small", 10, 10, false},
		{"first chunk exactly", firstBodyChunk, firstBodyChunk, false},
		{"at the limit", limit, limit, false},
		{"at the limit unknown", limit, -1, false},
		{"over the limit unknown", limit + 1, -1, true},
		{"longer than announced", 5000, 10, false},
		{"longer than announced and the limit", limit + 1, 10, true},
		{"shorter than announced", 10, 5000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(i)
			}
			got, err := readLimited(&trickleBody{data: data, err: io.EOF}, limit, tc.declared)
			if tc.tooLarge {
				if !errors.Is(err, quorum.ErrTooLarge) {
					t.Fatalf("err = %v, want too large", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("= %d bytes, %v; want the %d bytes sent", len(got), err, len(data))
			}
			if c := cap(got); c > max(firstBodyChunk, 2*(tc.size+1)) || (tc.declared == int64(tc.size) && c > max(firstBodyChunk, tc.size+1)) {
				t.Errorf("cap %d for %d bytes announced as %d", c, tc.size, tc.declared)
			}
		})
	}
	t.Run("no progress", func(t *testing.T) {
		if _, err := readLimited(zeroReader{}, limit, -1); !errors.Is(err, quorum.ErrBadRequest) {
			t.Fatalf("err = %v, want bad request", err)
		}
	})
}

// zeroReader never makes progress.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }
