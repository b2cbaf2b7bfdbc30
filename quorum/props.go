package quorum

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Quorum is a replica count as a client or bucket states it: a positive
// number, or one of the symbolic values [One], [Majority], [All]. The zero
// Quorum is [Default]: use the bucket's value.
type Quorum int

// Symbolic quorum values. Counts are positive; these are not.
const (
	Default  Quorum = 0
	One      Quorum = -1
	Majority Quorum = -2
	All      Quorum = -3
)

// ErrBadQuorum reports a quorum value that is not a number, one, quorum, all
// or default, or that does not fit the bucket's n_val.
var ErrBadQuorum = errors.New("quorum: bad quorum value")

// ParseQuorum parses "one", "quorum", "all", "default" or a non-negative
// integer. "0" is a valid count only for pr, pw and dw; [Quorum.Resolve]
// checks that.
func ParseQuorum(s string) (Quorum, error) {
	switch strings.ToLower(s) {
	case "one":
		return One, nil
	case "quorum":
		return Majority, nil
	case "all":
		return All, nil
	case "default", "":
		return Default, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<16 {
		return 0, fmt.Errorf("%w: %q (want an integer, one, quorum, all or default)", ErrBadQuorum, s)
	}
	if n == 0 {
		return zeroCount, nil
	}
	return Quorum(n), nil
}

// zeroCount is an explicit count of 0 (valid for pr, pw, dw), distinct from
// Default.
const zeroCount Quorum = -4

// Resolve turns q into a count for a key with n replicas; def is used for
// Default. It fails when the count exceeds n.
func (q Quorum) Resolve(n int, def Quorum) (int, error) {
	if q == Default {
		q = def
	}
	var c int
	switch q {
	case Default, zeroCount:
		c = 0
	case One:
		c = 1
	case Majority:
		c = n/2 + 1
	case All:
		c = n
	default:
		c = int(q)
	}
	if c > n {
		return 0, fmt.Errorf("%w: %s exceeds n_val %d", ErrBadQuorum, q, n)
	}
	return c, nil
}

// String returns the form ParseQuorum accepts.
func (q Quorum) String() string {
	switch q {
	case Default:
		return "default"
	case One:
		return "one"
	case Majority:
		return "quorum"
	case All:
		return "all"
	case zeroCount:
		return "0"
	}
	return strconv.Itoa(int(q))
}

// MarshalJSON writes symbolic values as strings and counts as numbers.
func (q Quorum) MarshalJSON() ([]byte, error) {
	if q > 0 || q == zeroCount {
		n, _ := q.Resolve(1<<16, Default)
		return []byte(strconv.Itoa(n)), nil
	}
	return json.Marshal(q.String())
}

// UnmarshalJSON accepts a number or any string ParseQuorum accepts.
func (q *Quorum) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%w: %s", ErrBadQuorum, b)
		}
	} else {
		s = string(b)
	}
	v, err := ParseQuorum(s)
	if err != nil {
		return err
	}
	*q = v
	return nil
}

// Props are a bucket's properties. The zero value of a field means "not
// set"; [Props.WithDefaults] fills those in.
type Props struct {
	// NVal is the number of replicas. Default 3; 1..MaxNVal (16).
	NVal int `json:"n_val"`
	// R, W, PR, PW, DW are the default quorums of reads and writes.
	// Defaults: r = w = quorum, pr = pw = 0, dw = 0.
	R  Quorum `json:"r"`
	W  Quorum `json:"w"`
	PR Quorum `json:"pr"`
	PW Quorum `json:"pw"`
	DW Quorum `json:"dw"`
	// NotFoundOK counts a replica's not-found as a successful read reply.
	// Default true. A pointer so that an explicit false is kept.
	NotFoundOK *bool `json:"notfound_ok"`
	// ReadRepairChance is the share of reads that ask every replica and
	// repair all of them; the others ask R replicas (PR primaries), more
	// only when one fails or is slow, and repair those. Default 0.1; 1
	// asks every replica on every read (Riak's behaviour). A pointer so
	// that an explicit 0 is kept.
	ReadRepairChance *float64 `json:"read_repair_chance"`
	// Resolver names the conflict resolver: "siblings" (default), "lww", a
	// built-in merge, or "webhook:URL".
	Resolver string `json:"resolver"`
	// MaxSiblings rejects client writes that would leave more siblings.
	// Default 50; 1..MaxSiblingsLimit.
	MaxSiblings int `json:"max_siblings"`
	// WarnSiblings logs and counts reads with more siblings. Default 25.
	WarnSiblings int `json:"warn_siblings"`
	// MaxValueBytes rejects larger client values. Default 1 MiB. With
	// MaxSiblings it must keep objects within MaxObjectBytes: 16 MiB
	// values allow at most 3 siblings.
	MaxValueBytes int64 `json:"max_value_bytes"`
	// WarnValueBytes logs and counts larger writes. Default 256 KiB.
	WarnValueBytes int64 `json:"warn_value_bytes"`
	// TTL is how long a value written without a TTL of its own lives
	// (docs/design.md, "Expiry"). Default 0: for ever. 0..MaxTTL. A
	// pointer so that an explicit 0 is kept.
	TTL *Duration `json:"ttl"`
	// Datatype makes the bucket's objects states of a convergent data
	// type (docs/design.md, "Data types"): "counter", "set" or "map";
	// "" (default) for plain values. Once set it cannot change, and it
	// needs the default resolver and no ttl.
	Datatype string `json:"datatype,omitempty"`
}

// MaxTTL bounds a bucket's ttl and a write's.
const MaxTTL = 100 * 365 * 24 * time.Hour

// Duration is a length of time in JSON: a string time.ParseDuration
// reads ("30m", "1h30m", "0s"), written as time.Duration's String.
type Duration time.Duration

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a string time.ParseDuration accepts.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"30m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration string such as \"30m\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// ParseTTL parses a write's TTL (the ttl query parameter or the
// Dynamod-TTL header): a duration time.ParseDuration reads, or a number
// of seconds, more than 0 and at most MaxTTL.
func ParseTTL(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseUint(s, 10, 32)
		if nerr != nil {
			return 0, fmt.Errorf("%w: ttl %q: want a duration such as 30m or a number of seconds", ErrBadRequest, s)
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 || d > MaxTTL {
		return 0, fmt.Errorf("%w: ttl %q: must be more than 0 and at most %v", ErrBadRequest, s, MaxTTL)
	}
	return d, nil
}

// DefaultProps returns the properties of a bucket nobody has configured.
func DefaultProps() Props {
	t, rrc, ttl := true, 0.1, Duration(0)
	return Props{
		NVal: 3, R: Majority, W: Majority, PR: zeroCount, PW: zeroCount, DW: zeroCount,
		NotFoundOK: &t, ReadRepairChance: &rrc, Resolver: "siblings", TTL: &ttl,
		MaxSiblings: 50, WarnSiblings: 25,
		MaxValueBytes: 1 << 20, WarnValueBytes: 256 << 10,
	}
}

// WithDefaults returns p with every unset field taken from d.
func (p Props) WithDefaults(d Props) Props {
	if p.NVal == 0 {
		p.NVal = d.NVal
	}
	for _, f := range []struct{ dst, src *Quorum }{{&p.R, &d.R}, {&p.W, &d.W}, {&p.PR, &d.PR}, {&p.PW, &d.PW}, {&p.DW, &d.DW}} {
		if *f.dst == Default {
			*f.dst = *f.src
		}
	}
	if p.NotFoundOK == nil {
		p.NotFoundOK = d.NotFoundOK
	}
	if p.ReadRepairChance == nil {
		p.ReadRepairChance = d.ReadRepairChance
	}
	if p.Resolver == "" {
		p.Resolver = d.Resolver
	}
	if p.MaxSiblings == 0 {
		p.MaxSiblings = d.MaxSiblings
	}
	if p.WarnSiblings == 0 {
		p.WarnSiblings = d.WarnSiblings
	}
	if p.MaxValueBytes == 0 {
		p.MaxValueBytes = d.MaxValueBytes
	}
	if p.WarnValueBytes == 0 {
		p.WarnValueBytes = d.WarnValueBytes
	}
	if p.TTL == nil {
		p.TTL = d.TTL
	}
	if p.Datatype == "" {
		p.Datatype = d.Datatype
	}
	return p
}

// ttl is p's ttl, 0 (none) if unset.
func (p Props) ttl() time.Duration {
	if p.TTL == nil {
		return 0
	}
	return time.Duration(*p.TTL)
}

// Expiry returns when a value written at now (Unix nanoseconds) with the
// write's own ttl (0: none given) expires under p: the write's ttl, else
// the bucket's; 0 when neither is set.
func (p Props) Expiry(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		ttl = p.ttl()
	}
	if ttl <= 0 {
		return 0
	}
	return now + int64(ttl)
}

// readRepairChance is p's read_repair_chance, the default's if unset.
func (p Props) readRepairChance() float64 {
	if p.ReadRepairChance == nil {
		return *DefaultProps().ReadRepairChance
	}
	return *p.ReadRepairChance
}

// MaxNVal bounds n_val.
const MaxNVal = 16

// Bounds of the sibling and size limits.
const (
	// MaxSiblingsLimit bounds max_siblings.
	MaxSiblingsLimit = 1000
	// MaxObjectBytes bounds the object a bucket's limits allow:
	// max_siblings × (max_value_bytes + ValueOverheadBytes). Every
	// object must fit one node-to-node frame, or it can never be
	// replicated, handed off or repaired: the frame is 64 MiB
	// (transport.DefaultConfig().MaxFrame; quorum does not import
	// transport), of which 1 MiB is left for the message around the
	// object (bucket, key, clock entries, framing).
	MaxObjectBytes = 63 << 20
	// ValueOverheadBytes bounds what one value adds to an object besides
	// its data: metadata (16 KiB in the HTTP API), content type (1 KiB),
	// last-modified stamp, flags and dot, with room to spare.
	ValueOverheadBytes = 32 << 10
)

// Validate reports every bad field of a complete (defaults applied) Props.
// checkResolver, if not nil, says why a resolver spec is not usable (nil
// if it is).
func (p Props) Validate(checkResolver func(string) error) error {
	var errs []error
	if p.NVal < 1 || p.NVal > MaxNVal {
		errs = append(errs, fmt.Errorf("n_val must be 1..%d, got %d", MaxNVal, p.NVal))
	}
	for _, f := range []struct {
		name string
		q    Quorum
		min  int
	}{{"r", p.R, 1}, {"w", p.W, 1}, {"pr", p.PR, 0}, {"pw", p.PW, 0}, {"dw", p.DW, 0}} {
		c, err := f.q.Resolve(p.NVal, Default)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		} else if c < f.min {
			errs = append(errs, fmt.Errorf("%s must be at least %d", f.name, f.min))
		}
	}
	if c := p.ReadRepairChance; c == nil || !(*c >= 0 && *c <= 1) {
		got := "unset"
		if c != nil {
			got = strconv.FormatFloat(*c, 'g', -1, 64)
		}
		errs = append(errs, fmt.Errorf("read_repair_chance must be 0..1, got %s", got))
	}
	if p.MaxSiblings < 1 || p.MaxSiblings > MaxSiblingsLimit {
		errs = append(errs, fmt.Errorf("max_siblings must be 1..%d, got %d", MaxSiblingsLimit, p.MaxSiblings))
	}
	if p.WarnSiblings < 1 {
		errs = append(errs, fmt.Errorf("warn_siblings must be >= 1, got %d", p.WarnSiblings))
	}
	if p.MaxValueBytes < 1 {
		errs = append(errs, fmt.Errorf("max_value_bytes must be >= 1, got %d", p.MaxValueBytes))
	}
	if p.WarnValueBytes < 1 {
		errs = append(errs, fmt.Errorf("warn_value_bytes must be >= 1, got %d", p.WarnValueBytes))
	}
	if p.MaxSiblings >= 1 && p.MaxSiblings <= MaxSiblingsLimit && p.MaxValueBytes >= 1 &&
		(p.MaxValueBytes > MaxObjectBytes || int64(p.MaxSiblings)*(p.MaxValueBytes+ValueOverheadBytes) > MaxObjectBytes) {
		errs = append(errs, fmt.Errorf("max_siblings × max_value_bytes: %d values of up to %d bytes (and %d bytes of metadata each) "+
			"make objects larger than %d bytes, which do not fit a node-to-node frame; lower max_siblings or max_value_bytes",
			p.MaxSiblings, p.MaxValueBytes, ValueOverheadBytes, MaxObjectBytes))
	}
	if p.TTL != nil && (*p.TTL < 0 || time.Duration(*p.TTL) > MaxTTL) {
		errs = append(errs, fmt.Errorf("ttl must be 0s..%v, got %v", MaxTTL, time.Duration(*p.TTL)))
	}
	errs = append(errs, p.validateDatatype()...)
	if checkResolver != nil {
		if err := checkResolver(p.Resolver); err != nil {
			errs = append(errs, fmt.Errorf("resolver: %w", err))
		}
	}
	return errors.Join(errs...)
}
