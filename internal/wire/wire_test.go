package wire

import (
	"errors"
	"testing"
)

var errOwn = errors.New("own: malformed")

func TestRoundTrip(t *testing.T) {
	var e Encoder
	e.Byte(7)
	e.Uvarint(300)
	e.Varint(-5)
	e.Fixed64(1 << 60)
	e.Bytes([]byte("ab"))
	e.Str("ü/\x00")
	d := Decoder{B: e.B}
	if d.Byte() != 7 || d.Uvarint() != 300 || d.Varint() != -5 || d.Fixed64() != 1<<60 ||
		string(d.Bytes()) != "ab" || d.Str() != "ü/\x00" {
		t.Fatal("round trip differs")
	}
	if err := d.End(); err != nil {
		t.Fatal(err)
	}
}

func TestDecoder_failuresStick(t *testing.T) {
	var e Encoder
	e.Str("hello")
	for cut := range len(e.B) {
		d := Decoder{B: e.B[:cut], Malformed: errOwn}
		_ = d.Str()
		_ = d.Uvarint() // after a failure: zero values, no panic
		if err := d.End(); !errors.Is(err, errOwn) {
			t.Fatalf("cut at %d: err = %v, want the package's sentinel", cut, err)
		}
	}
	d := Decoder{B: append(e.B, 1)}
	_ = d.Str()
	if err := d.End(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: err = %v", err)
	}
	// A length larger than the input fails without allocating it.
	var big Encoder
	big.Uvarint(1 << 40)
	d = Decoder{B: big.B}
	if b := d.Bytes(); b != nil || d.Err == nil {
		t.Fatal("an oversized length was accepted")
	}
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0x05, 'h', 'e', 'l', 'l', 'o', 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := Decoder{B: b}
		for d.Err == nil && len(d.B) > 0 {
			switch d.Byte() % 5 {
			case 0:
				d.Uvarint()
			case 1:
				d.Varint()
			case 2:
				d.Fixed64()
			case 3:
				d.Bytes()
			default:
				d.Str()
			}
		}
		_ = d.End()
	})
}
