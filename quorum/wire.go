package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Message kinds of the node-to-node protocol. A request's kind selects its
// handler; the fault network's hooks see them by name through String.
const (
	KindGet        uint8 = 1 + iota // read one replica
	KindReplicate                   // a coordinator's new state for a replica
	KindCoordinate                  // a forwarded client write
	KindRepair                      // read repair
	KindHandoff                     // hinted handoff delivery
	KindList                        // list a bucket's keys in some partitions
	KindBuckets                     // list the buckets a node stores
)

// KindName names a message kind for logs, metrics and test hooks.
func KindName(k uint8) string {
	switch k {
	case KindGet:
		return "get"
	case KindReplicate:
		return "replicate"
	case KindCoordinate:
		return "coordinate"
	case KindRepair:
		return "repair"
	case KindHandoff:
		return "handoff"
	case KindList:
		return "list"
	case KindBuckets:
		return "buckets"
	}
	return fmt.Sprintf("kind%d", k)
}

// Reply status codes, the first byte of every response body.
const (
	stOK uint8 = 1 + iota
	stNotFound
	stUnavailable
	stTooLarge
	stBadRequest
	stError
)

var errMalformed = errors.New("quorum: malformed message")

type encoder struct{ b []byte }

func (e *encoder) byte(v uint8)              { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64)          { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)            { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(v []byte)            { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) str(v string)              { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) fixed64(v uint64)          { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) object(c versioning.Clock) { e.bytes(storage.AppendObject(nil, c)) }
func (e *encoder) key(k storage.Key)         { e.fixed64(k.Hash); e.str(k.Bucket); e.str(k.Key) }

// decoder reads what encoder wrote. The first error sticks; every read after
// it returns zero values, so a handler checks err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errMalformed
	}
	d.b = nil
}

func (d *decoder) byte() uint8 {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) fixed64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytes returns a slice of the input; callers copy what they keep.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) key() storage.Key {
	h := d.fixed64()
	b := d.str()
	k := d.str()
	return storage.Key{Hash: h, Bucket: b, Key: k}
}

func (d *decoder) object() versioning.Clock {
	raw := d.bytes()
	if d.err != nil {
		return versioning.Clock{}
	}
	c, err := storage.DecodeObject(raw)
	if err != nil {
		d.err = fmt.Errorf("%w: %w", errMalformed, err)
		d.b = nil
	}
	return c
}

// end fails if input is left over, and returns the sticky error.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errMalformed, len(d.b))
	}
	return d.err
}

// putMsg carries a replica state: replicate, repair and handoff.
type putMsg struct {
	key     storage.Key
	clock   versioning.Clock
	sync    bool
	hintFor string // the primary this copy stands in for; "" if none
}

// encodePut builds a putMsg body around an object already encoded with
// storage.AppendObject, so a fan-out encodes the object once.
func encodePut(k storage.Key, sync bool, hintFor string, obj []byte) []byte {
	e := encoder{b: make([]byte, 0, 32+len(k.Bucket)+len(k.Key)+len(hintFor)+len(obj))}
	e.key(k)
	flags := uint8(0)
	if sync {
		flags |= 1
	}
	e.byte(flags)
	e.str(hintFor)
	e.bytes(obj)
	return e.b
}

func decodePut(b []byte) (putMsg, error) {
	d := decoder{b: b}
	var m putMsg
	m.key = d.key()
	m.sync = d.byte()&1 != 0
	m.hintFor = d.str()
	m.clock = d.object()
	return m, d.end()
}

// coordMsg is a client write forwarded to a primary.
type coordMsg struct {
	key       storage.Key
	client    versioning.Clock // versioning.New(context, value)
	w, pw, dw Quorum
	timeoutMS int64
}

func (m *coordMsg) encode() []byte {
	e := encoder{}
	e.key(m.key)
	e.varint(int64(m.w))
	e.varint(int64(m.pw))
	e.varint(int64(m.dw))
	e.varint(m.timeoutMS)
	e.object(m.client)
	return e.b
}

func decodeCoord(b []byte) (coordMsg, error) {
	d := decoder{b: b}
	var m coordMsg
	m.key = d.key()
	m.w = Quorum(d.varint())
	m.pw = Quorum(d.varint())
	m.dw = Quorum(d.varint())
	m.timeoutMS = d.varint()
	m.client = d.object()
	if d.err == nil && len(m.client.Anon) == 0 {
		d.err = fmt.Errorf("%w: forwarded write carries %d values", errMalformed, len(m.client.Anon))
	}
	return m, d.end()
}

// encodeErr turns a coordinator error into a reply body that keeps its
// class (and counts) across the wire.
func encodeErr(err error) []byte {
	e := encoder{}
	var ue *UnavailableError
	switch {
	case errors.As(err, &ue):
		e.byte(stUnavailable)
		e.str(ue.Op)
		for _, v := range []int{ue.Want, ue.Got, ue.WantPrimary, ue.GotPrimary, ue.WantDurable, ue.GotDurable} {
			e.uvarint(uint64(max(v, 0)))
		}
		e.str(ue.Reason)
		return e.b
	case errors.Is(err, ErrNotFound):
		e.byte(stNotFound)
	case errors.Is(err, ErrTooLarge):
		e.byte(stTooLarge)
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrBadQuorum), errors.Is(err, errMalformed):
		e.byte(stBadRequest)
	default:
		e.byte(stError)
	}
	e.str(err.Error())
	return e.b
}

// decodeErr reverses encodeErr for a status other than stOK.
func decodeErr(st uint8, d *decoder) error {
	switch st {
	case stUnavailable:
		ue := &UnavailableError{Op: d.str()}
		for _, p := range []*int{&ue.Want, &ue.Got, &ue.WantPrimary, &ue.GotPrimary, &ue.WantDurable, &ue.GotDurable} {
			*p = int(d.uvarint())
		}
		ue.Reason = d.str()
		if d.err != nil {
			return d.err
		}
		return ue
	case stNotFound:
		return fmt.Errorf("%w (remote: %s)", ErrNotFound, d.str())
	case stTooLarge:
		return fmt.Errorf("%w (remote: %s)", ErrTooLarge, d.str())
	case stBadRequest:
		return fmt.Errorf("%w (remote: %s)", ErrBadRequest, d.str())
	case stError:
		return fmt.Errorf("quorum: remote error: %s", d.str())
	}
	return fmt.Errorf("%w: status %d", errMalformed, st)
}
