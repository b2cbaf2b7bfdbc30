package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dynamod/dynamod/internal/wire"
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
	// stStamped prefixes a reply with the replica's wall clock, 8 bytes
	// big-endian Unix ns, when it applied the write or read its store;
	// the reply itself follows. Sent only to a coordinator that asked
	// (putStamp, getStamp), so a coordinator of an earlier version never
	// sees it (see pbs.go).
	stStamped
	stConflict     // ErrConflict (data types)
	stPrecondition // ErrPrecondition (data types)
	// stSame answers a KindGet that carried a digest (getDigest) equal
	// to the replica's: its copy is the coordinator's, and it ships
	// nothing else (a stamp may precede it). Sent only to a coordinator
	// that asked, so one of an earlier version never sees it.
	stSame
)

// Flags of a putMsg.
const (
	putSync  uint8 = 1 << iota // the replica fsyncs the write
	putStamp                   // the reply is stStamped (replicate only)
)

// Flags of a KindGet request, a byte after its key.
const (
	// getStamp asks for a stStamped reply.
	getStamp uint8 = 1 << iota
	// getDigest says the flags byte is followed by the coordinator's
	// versioning.Digest of its own copy (8 bytes, big-endian): a replica
	// whose copy has that digest answers stSame instead of the copy.
	getDigest
)

var errMalformed = errors.New("quorum: malformed message")

// encoder and decoder are the shared wire primitives plus this protocol's
// keys and objects.
type encoder struct{ wire.Encoder }

func (e *encoder) object(c versioning.Clock) { e.Bytes(storage.AppendObject(nil, c)) }
func (e *encoder) key(k storage.Key)         { e.Fixed64(k.Hash); e.Str(k.Bucket); e.Str(k.Key) }

// decoder reads what encoder wrote; failures wrap errMalformed.
type decoder struct{ wire.Decoder }

func newDecoder(b []byte) decoder { return decoder{wire.Decoder{B: b, Malformed: errMalformed}} }

func (d *decoder) key() storage.Key {
	h := d.Fixed64()
	b := d.Str()
	k := d.Str()
	return storage.Key{Hash: h, Bucket: b, Key: k}
}

func (d *decoder) object() versioning.Clock {
	raw := d.Bytes()
	if d.Err != nil {
		return versioning.Clock{}
	}
	c, err := storage.DecodeObject(raw)
	if err != nil {
		d.Fail(err.Error())
	}
	return c
}

// putMsg carries a replica state: replicate, repair and handoff.
type putMsg struct {
	key     storage.Key
	clock   versioning.Clock
	raw     []byte // clock's encoding, inside the message
	sync    bool
	stamp   bool   // the coordinator wants a stStamped reply
	hintFor string // the primary this copy stands in for; "" if none
}

// putBody is a putMsg built around an object encoded once: b is the whole
// message for targets that stand for themselves (hintFor ""), obj the
// object's encoding inside it, which the coordinator also stores. A write
// of a 48 MiB object thus holds one encoding, not one for the store, one
// to replicate and one per target.
type putBody struct {
	b, obj []byte
	stamp  bool // b asks for a stamped reply
}

// newPutBody encodes c into a putMsg for k with no hintFor.
func newPutBody(k storage.Key, sync bool, c versioning.Clock) putBody {
	return newPutBodyStamp(k, sync, false, c)
}

// newReplicateBody is newPutBody for a replicate, whose replies carry the
// replica's clock (stStamped) for the staleness samples.
func newReplicateBody(k storage.Key, sync bool, c versioning.Clock) putBody {
	return newPutBodyStamp(k, sync, true, c)
}

func newPutBodyStamp(k storage.Key, sync, stamp bool, c versioning.Clock) putBody {
	size := storage.ObjectSize(c)
	e := encoder{wire.Encoder{B: make([]byte, 0, putHeaderMax(k, "")+size)}}
	putHeader(&e, k, putFlags(sync, stamp), "")
	e.Uvarint(uint64(size))
	off := len(e.B)
	b := storage.AppendObject(e.B, c)
	return putBody{b: b, obj: b[off:], stamp: stamp}
}

// to returns the message for a target standing in for hintFor ("" for
// none): b itself, or a copy with that hintFor.
func (p putBody) to(k storage.Key, sync bool, hintFor string) []byte {
	if hintFor == "" {
		return p.b
	}
	return encodePutFlags(k, putFlags(sync, p.stamp), hintFor, p.obj)
}

func putFlags(sync, stamp bool) uint8 {
	var f uint8
	if sync {
		f |= putSync
	}
	if stamp {
		f |= putStamp
	}
	return f
}

// putHeaderMax bounds the bytes putHeader and the object's length prefix
// take.
func putHeaderMax(k storage.Key, hintFor string) int {
	return 8 + 3*binary.MaxVarintLen64 + len(k.Bucket) + len(k.Key) + 1 + binary.MaxVarintLen64 + len(hintFor)
}

// putHeader writes a putMsg's fields before the object.
func putHeader(e *encoder, k storage.Key, flags uint8, hintFor string) {
	e.key(k)
	e.Byte(flags)
	e.Str(hintFor)
}

// encodePut builds a putMsg body around an object already encoded with
// storage.AppendObject.
func encodePut(k storage.Key, sync bool, hintFor string, obj []byte) []byte {
	return encodePutFlags(k, putFlags(sync, false), hintFor, obj)
}

// encodePutFlags is encodePut with its flags byte given.
func encodePutFlags(k storage.Key, flags uint8, hintFor string, obj []byte) []byte {
	e := encoder{wire.Encoder{B: make([]byte, 0, putHeaderMax(k, hintFor)+len(obj))}}
	putHeader(&e, k, flags, hintFor)
	e.Bytes(obj)
	return e.B
}

func decodePut(b []byte) (putMsg, error) {
	d := newDecoder(b)
	var m putMsg
	m.key = d.key()
	flags := d.Byte() // bits this version does not know are ignored
	m.sync = flags&putSync != 0
	m.stamp = flags&putStamp != 0
	m.hintFor = d.Str()
	m.raw = d.Bytes()
	if d.Err == nil {
		var err error
		if m.clock, err = storage.DecodeObject(m.raw); err != nil {
			d.Fail(err.Error())
		}
	}
	return m, d.End()
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
	e.Varint(int64(m.w))
	e.Varint(int64(m.pw))
	e.Varint(int64(m.dw))
	e.Varint(m.timeoutMS)
	e.object(m.client)
	return e.B
}

func decodeCoord(b []byte) (coordMsg, error) {
	d := newDecoder(b)
	var m coordMsg
	m.key = d.key()
	m.w = Quorum(d.Varint())
	m.pw = Quorum(d.Varint())
	m.dw = Quorum(d.Varint())
	m.timeoutMS = d.Varint()
	m.client = d.object()
	if d.Err == nil && len(m.client.Anon) == 0 {
		d.Err = fmt.Errorf("%w: forwarded write carries %d values", errMalformed, len(m.client.Anon))
	}
	return m, d.End()
}

// encodeErr turns a coordinator error into a reply body that keeps its
// class (and counts) across the wire.
func encodeErr(err error) []byte {
	e := encoder{}
	var ue *UnavailableError
	switch {
	case errors.As(err, &ue):
		e.Byte(stUnavailable)
		e.Str(ue.Op)
		for _, v := range []int{ue.Want, ue.Got, ue.WantPrimary, ue.GotPrimary, ue.WantDurable, ue.GotDurable} {
			e.Uvarint(uint64(max(v, 0)))
		}
		e.Str(ue.Reason)
		return e.B
	case errors.Is(err, ErrNotFound):
		e.Byte(stNotFound)
	case errors.Is(err, ErrTooLarge):
		e.Byte(stTooLarge)
	case errors.Is(err, ErrConflict):
		e.Byte(stConflict)
	case errors.Is(err, ErrPrecondition):
		e.Byte(stPrecondition)
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrBadQuorum), errors.Is(err, errMalformed):
		e.Byte(stBadRequest)
	default:
		e.Byte(stError)
	}
	e.Str(err.Error())
	return e.B
}

// decodeErr reverses encodeErr for a status other than stOK.
func decodeErr(st uint8, d *decoder) error {
	switch st {
	case stUnavailable:
		ue := &UnavailableError{Op: d.Str()}
		for _, p := range []*int{&ue.Want, &ue.Got, &ue.WantPrimary, &ue.GotPrimary, &ue.WantDurable, &ue.GotDurable} {
			*p = int(d.Uvarint())
		}
		ue.Reason = d.Str()
		if d.Err != nil {
			return d.Err
		}
		return ue
	case stNotFound:
		return fmt.Errorf("%w (remote: %s)", ErrNotFound, d.Str())
	case stTooLarge:
		return fmt.Errorf("%w (remote: %s)", ErrTooLarge, d.Str())
	case stBadRequest:
		return fmt.Errorf("%w (remote: %s)", ErrBadRequest, d.Str())
	case stConflict:
		return fmt.Errorf("%w (remote: %s)", ErrConflict, d.Str())
	case stPrecondition:
		return fmt.Errorf("%w (remote: %s)", ErrPrecondition, d.Str())
	case stError:
		return fmt.Errorf("quorum: remote error: %s", d.Str())
	}
	return fmt.Errorf("%w: status %d", errMalformed, st)
}
