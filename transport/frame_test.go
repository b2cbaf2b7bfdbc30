package transport

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// frameCases are encoded frames with what they decode to; they seed the
// fuzzer and pin the wire format in testdata/frames.golden.
var frameCases = []struct {
	name  string
	frame []byte
	want  frameHeader
	body  string
}{
	{
		name:  "request",
		frame: catFrame(requestHeader(0x0102030405060708, 9, 1500, 5), "hello"),
		want:  frameHeader{typ: frameRequest, id: 0x0102030405060708, kind: 9, timeout: 1500, bodyLen: 5},
		body:  "hello",
	},
	{
		name:  "empty request",
		frame: catFrame(requestHeader(1, 0, 0, 0), ""),
		want:  frameHeader{typ: frameRequest, id: 1},
	},
	{
		name:  "response ok",
		frame: catFrame(responseHeader(42, statusOK, 3), "abc"),
		want:  frameHeader{typ: frameResponse, id: 42, status: statusOK, bodyLen: 3},
		body:  "abc",
	},
	{
		name:  "response error",
		frame: catFrame(responseHeader(43, statusError, 4), "boom"),
		want:  frameHeader{typ: frameResponse, id: 43, status: statusError, bodyLen: 4},
		body:  "boom",
	},
	{
		name:  "response too large",
		frame: catFrame(responseHeader(44, statusTooLarge, 0), ""),
		want:  frameHeader{typ: frameResponse, id: 44, status: statusTooLarge},
	},
	{
		name:  "hello",
		frame: appendHello(nil, "node-1", 64<<20),
		want:  frameHeader{typ: frameHello, version: protoVersion, maxFrame: 64 << 20, bodyLen: 6},
		body:  "node-1",
	},
}

func catFrame[H [requestHeaderLen]byte | [responseHeaderLen]byte](h H, body string) []byte {
	var b []byte
	switch h := any(h).(type) {
	case [requestHeaderLen]byte:
		b = h[:]
	case [responseHeaderLen]byte:
		b = h[:]
	}
	return append(bytes.Clone(b), body...)
}

func newTestReader(b []byte, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(bytes.NewReader(b), requestHeaderLen+2), max: max}
}

func TestFrame_decode(t *testing.T) {
	var stream []byte
	for _, tc := range frameCases {
		t.Run(tc.name, func(t *testing.T) {
			fr := newTestReader(tc.frame, 1<<20)
			h, err := fr.readHeader()
			if err != nil {
				t.Fatal(err)
			}
			if h != tc.want {
				t.Fatalf("header = %+v, want %+v", h, tc.want)
			}
			body := make([]byte, h.bodyLen)
			if err := fr.readBody(body); err != nil || string(body) != tc.body {
				t.Fatalf("body = %q, %v; want %q", body, err, tc.body)
			}
			if _, err := fr.readHeader(); err != io.EOF {
				t.Fatalf("after the frame: %v, want EOF", err)
			}
		})
		stream = append(stream, tc.frame...)
	}
	// Back to back in one stream, read with a tiny buffer.
	fr := newTestReader(stream, 1<<20)
	for _, tc := range frameCases {
		h, err := fr.readHeader()
		if err != nil || h != tc.want {
			t.Fatalf("stream %s: %+v, %v", tc.name, h, err)
		}
		if err := fr.discard(h.bodyLen); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFrame_decodeErrors(t *testing.T) {
	req := catFrame(requestHeader(1, 1, 1, 4), "body")
	for _, tc := range []struct {
		name  string
		input []byte
		max   int
		want  error
	}{
		{"empty", nil, 1 << 20, io.EOF},
		{"partial length", []byte{0, 0}, 1 << 20, io.ErrUnexpectedEOF},
		{"partial header", req[:8], 1 << 20, io.ErrUnexpectedEOF},
		{"over the limit", req, len(req) - lenSize - 1, errBadFrame},
		{"at the limit", req, len(req) - lenSize, nil},
		{"unknown type", []byte{0, 0, 0, 1, 9}, 1 << 20, errBadFrame},
		{"zero length", []byte{0, 0, 0, 0, frameRequest}, 1 << 20, errBadFrame},
		{"short request", []byte{0, 0, 0, 3, frameRequest, 0, 0}, 1 << 20, errBadFrame},
		{"bad status", catFrame(responseHeader(1, 3, 0), ""), 1 << 20, errBadFrame},
		{"hello without name", appendHello(nil, "", 1<<20), 1 << 20, errBadFrame},
		{"hello with long name", appendHello(nil, strings.Repeat("n", 256), 1<<20), 1 << 20, errBadFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newTestReader(tc.input, tc.max).readHeader()
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("truncated body", func(t *testing.T) {
		fr := newTestReader(req[:len(req)-1], 1<<20)
		h, err := fr.readHeader()
		if err != nil {
			t.Fatal(err)
		}
		if err := fr.readBody(make([]byte, h.bodyLen)); err != io.ErrUnexpectedEOF {
			t.Fatalf("err = %v, want ErrUnexpectedEOF", err)
		}
	})
	t.Run("hello checks", func(t *testing.T) {
		bad := appendHello(nil, "n", 1<<20)
		bad[9] = protoVersion + 1
		if name, _, err := newTestReader(bad, 1<<20).readHello(); !errors.Is(err, errBadFrame) || name != "n" {
			t.Errorf("version mismatch: %q, %v", name, err)
		}
		if _, _, err := newTestReader(appendHello(nil, "n", 10), 1<<20).readHello(); !errors.Is(err, errBadFrame) {
			t.Errorf("tiny frame limit: %v", err)
		}
		if _, _, err := newTestReader(req, 1<<20).readHello(); !errors.Is(err, errBadFrame) {
			t.Errorf("request instead of hello: %v", err)
		}
		name, max, err := newTestReader(appendHello(nil, "n", 4096), 1<<20).readHello()
		if err != nil || name != "n" || max != 4096 {
			t.Errorf("good hello: %q %d %v", name, max, err)
		}
	})
}

// TestFrame_readBodyGrowing: a body arrives intact through the growing
// buffer, whose allocations follow the bytes received, not the length
// announced.
func TestFrame_readBodyGrowing(t *testing.T) {
	body := make([]byte, 5*growChunk+123)
	for i := range body {
		body[i] = byte(i * 7)
	}
	var allocated int
	get := func(n int) *[]byte { allocated += n; return newBuf(n) }
	for _, n := range []int{0, 1, growChunk, growChunk + 1, len(body)} {
		allocated = 0
		fr := newTestReader(body[:n], 1<<30)
		b, err := fr.readBodyGrowing(n, get, nil)
		if err != nil || !bytes.Equal(*b, body[:n]) {
			t.Fatalf("%d bytes: %d bytes read, %v", n, len(*b), err)
		}
		if allocated > 3*n+growChunk { // the doublings sum to less than 2n
			t.Errorf("%d bytes: allocated %d", n, allocated)
		}
	}
	// 100 KiB of a 1 GiB body, then the end of the stream.
	allocated = 0
	put := 0
	fr := newTestReader(body[:100<<10], 1<<30)
	if _, err := fr.readBodyGrowing(1<<30, get, func(*[]byte) { put++ }); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated body: %v, want ErrUnexpectedEOF", err)
	}
	if allocated > 3*(100<<10) {
		t.Errorf("allocated %d bytes for 100 KiB received", allocated)
	}
	if put != 2 {
		t.Errorf("%d buffers handed back, want both", put)
	}
}

// TestFrame_golden pins the wire format: a change to these bytes breaks
// mixed-version clusters and needs a protocol version bump.
func TestFrame_golden(t *testing.T) {
	var sb strings.Builder
	for _, tc := range frameCases {
		sb.WriteString(tc.name + ": " + hex.EncodeToString(tc.frame) + "\n")
	}
	path := filepath.Join("testdata", "frames.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := sb.String(); got != string(want) {
		t.Errorf("wire format changed:\ngot:\n%swant:\n%s", got, want)
	}
}

// FuzzFrameDecode feeds arbitrary bytes to the frame decoder: it must never
// panic, never report a body longer than its limit and, on frames it
// accepts, consume exactly what the length said.
func FuzzFrameDecode(f *testing.F) {
	for _, tc := range frameCases {
		f.Add(tc.frame)
	}
	var all []byte
	for _, tc := range frameCases {
		all = append(all, tc.frame...)
	}
	f.Add(all)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, frameRequest})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 12
		fr := newTestReader(data, max)
		consumed := 0
		for range len(data) + 1 { // every accepted frame consumes at least 5 bytes
			h, err := fr.readHeader()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, errBadFrame) {
					t.Fatalf("unexpected error type: %v", err)
				}
				return
			}
			if h.bodyLen < 0 || h.bodyLen > max {
				t.Fatalf("body length %d outside [0, %d]", h.bodyLen, max)
			}
			b, err := fr.readBodyGrowing(h.bodyLen, newBuf, nil)
			if err != nil {
				return
			}
			body := *b
			frameLen := lenSize + int(uint32(data[consumed])<<24|uint32(data[consumed+1])<<16|uint32(data[consumed+2])<<8|uint32(data[consumed+3]))
			if want := data[consumed+frameLen-h.bodyLen : consumed+frameLen]; !bytes.Equal(body, want) {
				t.Fatalf("body %x, want the frame's last %d bytes %x", body, h.bodyLen, want)
			}
			consumed += frameLen
			// Re-encoding what was decoded gives the same bytes.
			var again []byte
			switch h.typ {
			case frameRequest:
				again = catFrame(requestHeader(h.id, h.kind, h.timeout, h.bodyLen), string(body))
			case frameResponse:
				again = catFrame(responseHeader(h.id, h.status, h.bodyLen), string(body))
			case frameHello:
				if h.version == protoVersion {
					again = appendHello(nil, string(body), int(h.maxFrame))
				}
			}
			if again != nil && !bytes.Equal(again, data[consumed-frameLen:consumed]) {
				t.Fatalf("re-encoded %x, read %x", again, data[consumed-frameLen:consumed])
			}
		}
		t.Fatal("decoder loop did not end")
	})
}
