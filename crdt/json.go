package crdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Value is a state's value as a client sees it: an int64 for a counter,
// a sorted []string for a set, a map[string]any for a map. A map's keys
// are the field's name and type joined by "_" ("visits_counter"); a
// register is its newest value (by time, then dot), a flag true when
// enabled (a disabled flag is absent).
func (s State) Value() any {
	switch s.Type {
	case TypeCounter:
		return sum(s.P) - sum(s.N)
	case TypeSet:
		return setValue(s.Store)
	case TypeMap:
		return mapValue(s.Store)
	}
	return nil
}

// sum adds a counter's entries; each is at most MaxCount, so up to 2^11
// actors sum exactly, and more saturate.
func sum(l []Dot) int64 {
	var t int64
	for _, d := range l {
		if t > 1<<62 {
			break
		}
		t += int64(d.N)
	}
	return t
}

func setValue(st Store) []string {
	out := make([]string, 0, len(st.Elems))
	for _, e := range st.Elems {
		out = append(out, e.Value)
	}
	return out
}

func mapValue(st Store) map[string]any {
	out := make(map[string]any, len(st.Fields))
	for _, f := range st.Fields {
		var v any
		switch f.Type {
		case TypeCounter:
			var inc, dec int64
			for _, c := range f.Store.Cnts {
				inc += int64(c.Inc)
				dec += int64(c.Dec)
			}
			v = inc - dec
		case TypeSet:
			v = setValue(f.Store)
		case TypeMap:
			v = mapValue(f.Store)
		case TypeRegister:
			best := f.Store.Regs[0]
			for _, r := range f.Store.Regs[1:] {
				if r.Time > best.Time || (r.Time == best.Time && compareDots(r.Dot, best.Dot) > 0) {
					best = r
				}
			}
			v = best.Value
		case TypeFlag:
			v = true
		}
		out[f.Name+"_"+f.Type.String()] = v
	}
	return out
}

// ParseFieldKey splits "name_type" into a field key.
func ParseFieldKey(s string) (FieldKey, error) {
	i := strings.LastIndexByte(s, '_')
	if i <= 0 {
		return FieldKey{}, fmt.Errorf("%w: field %q: want name_type (e.g. visits_counter)", ErrBadOp, s)
	}
	t, ok := ParseType(s[i+1:])
	if !ok {
		return FieldKey{}, fmt.Errorf("%w: field %q: unknown type %q (counter, set, map, register, flag)", ErrBadOp, s, s[i+1:])
	}
	return FieldKey{s[:i], t}, nil
}

// jsonOp is every member an operation's JSON may have; which are allowed
// depends on the type.
type jsonOp struct {
	Increment *int64                     `json:"increment"`
	Add       []string                   `json:"add"`
	Remove    []string                   `json:"remove"`
	Update    map[string]json.RawMessage `json:"update"`
	Assign    *string                    `json:"assign"`
	Enable    *bool                      `json:"enable"`
	Context   *string                    `json:"context"`
}

// ParseOp parses a client's JSON operation on a value of type t:
//
//	counter  {"increment": n}                       (n may be negative)
//	set      {"add": ["a"], "remove": ["b"]}
//	map      {"update": {"name_type": fieldop, ...}, "remove": ["name_type", ...]}
//
// and within a map's update: the same for counter, set and map fields,
// {"assign": "v"} for a register, {"enable": true|false} for a flag. The
// top level may carry "context" (a context from a read). Unknown members,
// members of another type, and trailing data are errors (ErrBadOp).
func ParseOp(t Type, data []byte) (Op, error) {
	o, ctx, err := parseOp(t, data, 1)
	if err != nil {
		return Op{}, err
	}
	if ctx != nil {
		c, err := DecodeContext(*ctx)
		if err != nil {
			return Op{}, fmt.Errorf("%w: bad context: %w", ErrBadOp, err)
		}
		o.Context = &c
	}
	if err := o.Validate(); err != nil {
		return Op{}, err
	}
	return o, nil
}

func parseOp(t Type, data []byte, depth int) (Op, *string, error) {
	if depth > MaxDepth {
		return Op{}, nil, fmt.Errorf("%w: maps nested deeper than %d", ErrBadOp, MaxDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j jsonOp
	if err := dec.Decode(&j); err != nil {
		return Op{}, nil, fmt.Errorf("%w: %v operation: %s", ErrBadOp, t, jsonReason(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Op{}, nil, fmt.Errorf("%w: %v operation: data after the object", ErrBadOp, t)
	}
	if depth > 1 && j.Context != nil {
		return Op{}, nil, fmt.Errorf("%w: context goes at the top of the operation", ErrBadOp)
	}
	allowed := map[Type][]string{
		TypeCounter:  {"increment"},
		TypeSet:      {"add", "remove"},
		TypeMap:      {"update", "remove"},
		TypeRegister: {"assign"},
		TypeFlag:     {"enable"},
	}[t]
	given := map[string]bool{"increment": j.Increment != nil, "add": j.Add != nil, "remove": j.Remove != nil,
		"update": j.Update != nil, "assign": j.Assign != nil, "enable": j.Enable != nil}
	for _, k := range []string{"increment", "add", "remove", "update", "assign", "enable"} {
		if given[k] && !slices.Contains(allowed, k) {
			return Op{}, nil, fmt.Errorf("%w: %q is not an operation on a %v", ErrBadOp, k, t)
		}
	}
	o := Op{Type: t}
	switch t {
	case TypeCounter:
		if j.Increment == nil {
			return Op{}, nil, fmt.Errorf("%w: a counter operation is {\"increment\": n}", ErrBadOp)
		}
		o.Increment = *j.Increment
	case TypeSet:
		o.Add, o.Remove = j.Add, j.Remove
	case TypeRegister:
		if j.Assign == nil {
			return Op{}, nil, fmt.Errorf("%w: a register operation is {\"assign\": \"value\"}", ErrBadOp)
		}
		o.Assign = *j.Assign
	case TypeFlag:
		if j.Enable == nil {
			return Op{}, nil, fmt.Errorf("%w: a flag operation is {\"enable\": true|false}", ErrBadOp)
		}
		o.Enable = *j.Enable
	case TypeMap:
		names := make([]string, 0, len(j.Update))
		for k := range j.Update {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			fk, err := ParseFieldKey(k)
			if err != nil {
				return Op{}, nil, err
			}
			sub, _, err := parseOp(fk.Type, j.Update[k], depth+1)
			if err != nil {
				return Op{}, nil, fmt.Errorf("field %s: %w", k, err)
			}
			o.Update = append(o.Update, FieldOp{Name: fk.Name, Op: sub})
		}
		for _, k := range j.Remove {
			fk, err := ParseFieldKey(k)
			if err != nil {
				return Op{}, nil, err
			}
			o.RemoveF = append(o.RemoveF, fk)
		}
	}
	return o, j.Context, nil
}

// jsonReason is a client-facing reason for a JSON decoding error.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "malformed JSON"
	case errors.As(err, &te):
		return fmt.Sprintf("member %q must be %v", te.Field, te.Type)
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	return err.Error() // unknown member: json: unknown field "x"
}
