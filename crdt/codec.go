package crdt

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/dynamod/dynamod/versioning"
)

// Encoding versions: the first byte of every encoded state, op and context.
const (
	stateV1   = 1
	opV1      = 1
	contextV1 = 1
)

// MaxEncoded bounds what the decoders read: 64 MiB, an object frame.
const MaxEncoded = 64 << 20

// Encode returns the canonical encoding of s: a version byte, the type,
// then the type's body. Lists are sorted, counts and counters minimal
// uvarints, so equal states encode equally.
func (s State) Encode() []byte {
	b := []byte{stateV1, byte(s.Type)}
	if s.Type == TypeCounter {
		b = appendActors(b, s.P)
		return appendActors(b, s.N)
	}
	b = appendContext(b, s.Ctx)
	b = appendStore(b, s.Type, s.Store)
	b = binary.AppendUvarint(b, uint64(len(s.Deferred)))
	for _, d := range s.Deferred {
		b = appendDeferred(b, d)
	}
	return b
}

func appendActors(b []byte, l []Dot) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, d := range l {
		b = appendDot(b, d)
	}
	return b
}

func appendDot(b []byte, d Dot) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(d.Actor))
	return binary.AppendUvarint(b, d.N)
}

func appendContext(b []byte, c Context) []byte {
	b = appendActors(b, c.VV)
	return appendActors(b, c.Cloud)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStore(b []byte, t Type, st Store) []byte {
	switch t {
	case TypeSet:
		b = binary.AppendUvarint(b, uint64(len(st.Elems)))
		for _, e := range st.Elems {
			b = appendStr(b, e.Value)
			b = appendActors(b, e.Dots)
		}
	case TypeFlag:
		b = appendActors(b, st.Dots)
	case TypeRegister:
		b = binary.AppendUvarint(b, uint64(len(st.Regs)))
		for _, r := range st.Regs {
			b = appendDot(b, r.Dot)
			b = binary.AppendVarint(b, r.Time)
			b = appendStr(b, r.Value)
		}
	case TypeCounter:
		b = binary.AppendUvarint(b, uint64(len(st.Cnts)))
		for _, c := range st.Cnts {
			b = appendDot(b, c.Dot)
			b = binary.AppendUvarint(b, c.Inc)
			b = binary.AppendUvarint(b, c.Dec)
		}
	case TypeMap:
		b = binary.AppendUvarint(b, uint64(len(st.Fields)))
		for _, f := range st.Fields {
			b = appendStr(b, f.Name)
			b = append(b, byte(f.Type))
			b = appendStore(b, f.Type, f.Store)
		}
	}
	return b
}

func appendDeferred(b []byte, d Deferred) []byte {
	b = appendContext(b, d.Ctx)
	b = binary.AppendUvarint(b, uint64(len(d.Path)))
	for _, s := range d.Path {
		b = append(b, byte(s.Type))
		b = appendStr(b, s.Name)
	}
	return b
}

// reader decodes with bounds: the first error sticks, every count is
// checked against the bytes left, and nothing it reads can make it panic.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		r.fail("non-minimal uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 || n != len(binary.AppendVarint(nil, v)) {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a list length; each item takes at least min bytes.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.fail("count %d past the input", n)
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail("string past the input")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) dot() Dot {
	if r.err != nil {
		return Dot{}
	}
	if len(r.b) < 8 {
		r.fail("truncated dot")
		return Dot{}
	}
	a := versioning.ActorID(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	n := r.uvarint()
	if r.err == nil && n == 0 {
		r.fail("zero counter")
	}
	return Dot{a, n}
}

// dots reads a list of dots, strictly sorted; byActor: by actor alone.
func (r *reader) dots(byActor bool) []Dot {
	n := r.count(9)
	var out []Dot
	for i := 0; i < n && r.err == nil; i++ {
		d := r.dot()
		if len(out) > 0 {
			p := out[len(out)-1]
			if (byActor && p.Actor >= d.Actor) || (!byActor && compareDots(p, d) >= 0) {
				r.fail("dots out of order")
			}
		}
		out = append(out, d)
	}
	return out
}

func (r *reader) context() Context {
	vv := r.dots(true)
	cloud := r.dots(false)
	c := Context{VV: vv, Cloud: cloud}
	for _, d := range cloud {
		if d.N <= c.vv(d.Actor)+1 {
			r.fail("cloud dot %d of %x not compacted", d.N, uint64(d.Actor))
		}
	}
	if len(c.VV) == 0 {
		c.VV = nil
	}
	if len(c.Cloud) == 0 {
		c.Cloud = nil
	}
	return c
}

func (r *reader) typ() Type {
	t := Type(r.byte())
	if r.err == nil && !t.valid() {
		r.fail("unknown type %d", t)
	}
	return t
}

// store reads a non-empty store (empty when top) of type t at depth.
func (r *reader) store(t Type, ctx Context, depth int, top bool) Store {
	if depth > MaxDepth {
		r.fail("nested deeper than %d", MaxDepth)
		return Store{}
	}
	var st Store
	inCtx := func(d Dot) {
		if r.err == nil && !ctx.Contains(d) {
			r.fail("dot outside the context")
		}
	}
	switch t {
	case TypeSet:
		n := r.count(2)
		for i := 0; i < n && r.err == nil; i++ {
			e := Elem{Value: r.str(), Dots: r.dots(false)}
			if r.err == nil && len(e.Dots) == 0 {
				r.fail("element without dots")
			}
			if i > 0 && st.Elems[i-1].Value >= e.Value {
				r.fail("elements out of order")
			}
			for _, d := range e.Dots {
				inCtx(d)
			}
			st.Elems = append(st.Elems, e)
		}
	case TypeFlag:
		st.Dots = r.dots(false)
		for _, d := range st.Dots {
			inCtx(d)
		}
	case TypeRegister:
		n := r.count(11)
		for i := 0; i < n && r.err == nil; i++ {
			g := Reg{Dot: r.dot(), Time: r.varint(), Value: r.str()}
			if i > 0 && compareDots(st.Regs[i-1].Dot, g.Dot) >= 0 {
				r.fail("register values out of order")
			}
			inCtx(g.Dot)
			st.Regs = append(st.Regs, g)
		}
	case TypeCounter:
		n := r.count(11)
		for i := 0; i < n && r.err == nil; i++ {
			c := Cnt{Dot: r.dot(), Inc: r.uvarint(), Dec: r.uvarint()}
			if i > 0 && compareDots(st.Cnts[i-1].Dot, c.Dot) >= 0 {
				r.fail("counter entries out of order")
			}
			if c.Inc > MaxCount || c.Dec > MaxCount {
				r.fail("counter entry past %d", int64(MaxCount))
			}
			inCtx(c.Dot)
			st.Cnts = append(st.Cnts, c)
		}
	case TypeMap:
		n := r.count(3)
		for i := 0; i < n && r.err == nil; i++ {
			f := Field{Name: r.str(), Type: r.typ()}
			if r.err == nil && f.Name == "" {
				r.fail("empty field name")
			}
			if i > 0 && compareFields(st.Fields[i-1], f) >= 0 {
				r.fail("fields out of order")
			}
			f.Store = r.store(f.Type, ctx, depth+1, false)
			st.Fields = append(st.Fields, f)
		}
	}
	if r.err == nil && !top && st.empty() {
		r.fail("empty %v field", t)
	}
	return st
}

// DecodeState decodes an encoded state. It refuses anything Encode could
// not have produced (ErrCorrupt) and never panics.
func DecodeState(b []byte) (State, error) {
	if len(b) > MaxEncoded {
		return State{}, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != stateV1 {
		return State{}, fmt.Errorf("%w: state version %d", ErrCorrupt, v)
	}
	s := State{Type: r.typ()}
	if r.err == nil && !s.Type.Bucket() {
		r.fail("a %v is not a value", s.Type)
	}
	if s.Type == TypeCounter {
		s.P = r.dots(true)
		s.N = r.dots(true)
		for _, d := range slices.Concat(s.P, s.N) {
			if d.N > MaxCount {
				r.fail("count past %d", int64(MaxCount))
			}
		}
	} else if r.err == nil {
		s.Ctx = r.context()
		s.Store = r.store(s.Type, s.Ctx, 1, true)
		n := r.count(3)
		for i := 0; i < n && r.err == nil; i++ {
			d := r.deferred(s.Type)
			if i > 0 && compareDeferred(s.Deferred[i-1], d) >= 0 {
				r.fail("deferred removes out of order")
			}
			if r.err == nil && s.Ctx.Covers(d.Ctx) {
				r.fail("deferred remove already covered")
			}
			s.Deferred = append(s.Deferred, d)
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return State{}, r.err
	}
	if s.Type == TypeCounter {
		s.P, s.N = nilIfEmpty(s.P), nilIfEmpty(s.N)
	}
	return s, nil
}

func nilIfEmpty[T any](l []T) []T {
	if len(l) == 0 {
		return nil
	}
	return l
}

func (r *reader) deferred(t Type) Deferred {
	d := Deferred{Ctx: r.context()}
	n := r.count(2)
	if r.err == nil && (n == 0 || n > MaxDepth+1) {
		r.fail("deferred path of %d steps", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		s := Step{Type: Type(r.byte())}
		s.Name = r.str()
		switch {
		case r.err != nil:
		case s.Type == 0 && (t != TypeSet || i != n-1):
			r.fail("element step out of place")
		case s.Type != 0 && (t != TypeMap || !s.Type.valid()):
			r.fail("field step out of place")
		case s.Type != 0 && s.Name == "":
			r.fail("empty field name")
		}
		if s.Type != 0 {
			t = s.Type
		}
		d.Path = append(d.Path, s)
	}
	return d
}

// EncodeContext renders a context for a client: unpadded base64url of a
// version byte and the context's encoding.
func EncodeContext(c Context) string {
	return base64.RawURLEncoding.EncodeToString(appendContext([]byte{contextV1}, c))
}

// DecodeContext parses a client's context (ErrCorrupt if it is not one
// EncodeContext could have produced).
func DecodeContext(s string) (Context, error) {
	if len(s) > MaxEncoded || strings.ContainsAny(s, "=\r\n") {
		return Context{}, fmt.Errorf("%w: context is not unpadded base64url", ErrCorrupt)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return Context{}, fmt.Errorf("%w: context is not unpadded base64url", ErrCorrupt)
	}
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != contextV1 {
		return Context{}, fmt.Errorf("%w: context version %d", ErrCorrupt, v)
	}
	c := r.context()
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return Context{}, r.err
	}
	return c, nil
}

// EncodeOp returns an op's encoding (for the node-to-node protocol).
func EncodeOp(o Op) []byte {
	b := []byte{opV1}
	b = appendOp(b, o)
	if o.Context == nil {
		return append(b, 0)
	}
	return appendContext(append(b, 1), *o.Context)
}

func appendOp(b []byte, o Op) []byte {
	b = append(b, byte(o.Type))
	switch o.Type {
	case TypeCounter:
		b = binary.AppendVarint(b, o.Increment)
	case TypeSet:
		b = binary.AppendUvarint(b, uint64(len(o.Add)))
		for _, e := range o.Add {
			b = appendStr(b, e)
		}
		b = binary.AppendUvarint(b, uint64(len(o.Remove)))
		for _, e := range o.Remove {
			b = appendStr(b, e)
		}
	case TypeRegister:
		b = appendStr(b, o.Assign)
	case TypeFlag:
		if o.Enable {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case TypeMap:
		b = binary.AppendUvarint(b, uint64(len(o.Update)))
		for _, u := range o.Update {
			b = appendStr(b, u.Name)
			b = appendOp(b, u.Op)
		}
		b = binary.AppendUvarint(b, uint64(len(o.RemoveF)))
		for _, k := range o.RemoveF {
			b = appendStr(b, k.Name)
			b = append(b, byte(k.Type))
		}
	}
	return b
}

// DecodeOp decodes and validates an encoded op; it never panics.
func DecodeOp(b []byte) (Op, error) {
	if len(b) > MaxEncoded {
		return Op{}, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != opV1 {
		return Op{}, fmt.Errorf("%w: op version %d", ErrCorrupt, v)
	}
	o := r.op(1)
	switch r.byte() {
	case 0:
	case 1:
		c := r.context()
		o.Context = &c
	default:
		r.fail("bad context flag")
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return Op{}, r.err
	}
	if err := o.Validate(); err != nil {
		return Op{}, err
	}
	return o, nil
}

func (r *reader) op(depth int) Op {
	if depth > MaxDepth {
		r.fail("nested deeper than %d", MaxDepth)
		return Op{}
	}
	o := Op{Type: r.typ()}
	switch o.Type {
	case TypeCounter:
		o.Increment = r.varint()
	case TypeSet:
		n := r.count(1)
		for i := 0; i < n && r.err == nil; i++ {
			o.Add = append(o.Add, r.str())
		}
		n = r.count(1)
		for i := 0; i < n && r.err == nil; i++ {
			o.Remove = append(o.Remove, r.str())
		}
	case TypeRegister:
		o.Assign = r.str()
	case TypeFlag:
		switch r.byte() {
		case 0:
		case 1:
			o.Enable = true
		default:
			r.fail("bad flag")
		}
	case TypeMap:
		n := r.count(3)
		for i := 0; i < n && r.err == nil; i++ {
			name := r.str()
			o.Update = append(o.Update, FieldOp{Name: name, Op: r.op(depth + 1)})
		}
		n = r.count(2)
		for i := 0; i < n && r.err == nil; i++ {
			o.RemoveF = append(o.RemoveF, FieldKey{Name: r.str(), Type: r.typ()})
		}
	}
	return o
}
