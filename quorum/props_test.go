package quorum

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestPropsValidate: every bound of Props.Validate, each named in its
// error; the defaults pass, and the largest objects they allow fit one
// node-to-node frame.
func TestPropsValidate(t *testing.T) {
	if err := DefaultProps().Validate(nil); err != nil {
		t.Fatalf("DefaultProps: %v", err)
	}
	d := DefaultProps()
	if size := int64(d.MaxSiblings) * (d.MaxValueBytes + ValueOverheadBytes); size > MaxObjectBytes {
		t.Fatalf("default props allow objects of %d bytes, over MaxObjectBytes %d", size, MaxObjectBytes)
	}
	if MaxObjectBytes > 64<<20 {
		t.Fatalf("MaxObjectBytes %d does not fit a 64 MiB frame", MaxObjectBytes)
	}

	with := func(f func(p *Props)) Props {
		p := DefaultProps()
		f(&p)
		return p
	}
	for _, tc := range []struct {
		name  string
		p     Props
		field string // "" if valid
	}{
		{"n_val 1", with(func(p *Props) { p.NVal, p.R, p.W = 1, One, One }), ""},
		{"read_repair_chance 0", with(func(p *Props) { p.ReadRepairChance = ptr(0.0) }), ""},
		{"read_repair_chance 1", with(func(p *Props) { p.ReadRepairChance = ptr(1.0) }), ""},
		{"read_repair_chance -0.1", with(func(p *Props) { p.ReadRepairChance = ptr(-0.1) }), "read_repair_chance"},
		{"read_repair_chance 1.5", with(func(p *Props) { p.ReadRepairChance = ptr(1.5) }), "read_repair_chance"},
		{"read_repair_chance NaN", with(func(p *Props) { p.ReadRepairChance = ptr(math.NaN()) }), "read_repair_chance"},
		{"n_val 16", with(func(p *Props) { p.NVal = MaxNVal }), ""},
		{"n_val 0", with(func(p *Props) { p.NVal = 0 }), "n_val"},
		{"n_val -1", with(func(p *Props) { p.NVal = -1 }), "n_val"},
		{"n_val 17", with(func(p *Props) { p.NVal = MaxNVal + 1 }), "n_val"},
		{"n_val 1000", with(func(p *Props) { p.NVal = 1000 }), "n_val"},
		{"r over n_val", with(func(p *Props) { p.R = 4 }), "r"},
		{"w over n_val", with(func(p *Props) { p.W = 4 }), "w"},
		{"pr over n_val", with(func(p *Props) { p.PR = 4 }), "pr"},
		{"pw over n_val", with(func(p *Props) { p.PW = 4 }), "pw"},
		{"dw over n_val", with(func(p *Props) { p.DW = 4 }), "dw"},
		{"r zero", with(func(p *Props) { p.R = zeroCount }), "r"},
		{"w zero", with(func(p *Props) { p.W = zeroCount }), "w"},
		{"r all", with(func(p *Props) { p.R = All }), ""},
		{"max_siblings 1", with(func(p *Props) { p.MaxSiblings = 1 }), ""},
		{"max_siblings 0", with(func(p *Props) { p.MaxSiblings = 0 }), "max_siblings"},
		{"max_siblings -1", with(func(p *Props) { p.MaxSiblings = -1 }), "max_siblings"},
		{"max_siblings at the bound", with(func(p *Props) { p.MaxSiblings, p.MaxValueBytes = MaxSiblingsLimit, 1024 }), ""},
		{"max_siblings over the bound", with(func(p *Props) { p.MaxSiblings, p.MaxValueBytes = MaxSiblingsLimit+1, 1 }), "max_siblings"},
		{"max_siblings 10^9", with(func(p *Props) { p.MaxSiblings = 1e9 }), "max_siblings"},
		{"warn_siblings 0", with(func(p *Props) { p.WarnSiblings = 0 }), "warn_siblings"},
		{"warn_siblings -5", with(func(p *Props) { p.WarnSiblings = -5 }), "warn_siblings"},
		{"max_value_bytes 0", with(func(p *Props) { p.MaxValueBytes = 0 }), "max_value_bytes"},
		{"max_value_bytes -1", with(func(p *Props) { p.MaxValueBytes = -1 }), "max_value_bytes"},
		{"warn_value_bytes -1", with(func(p *Props) { p.WarnValueBytes = -1 }), "warn_value_bytes"},
		{"16 MiB values, 3 siblings", with(func(p *Props) { p.MaxValueBytes, p.MaxSiblings = 16<<20, 3 }), ""},
		{"16 MiB values, 4 siblings", with(func(p *Props) { p.MaxValueBytes, p.MaxSiblings = 16<<20, 4 }), "max_siblings × max_value_bytes"},
		{"16 MiB values, default siblings", with(func(p *Props) { p.MaxValueBytes = 16 << 20 }), "max_siblings × max_value_bytes"},
		{"values as large as an object", with(func(p *Props) { p.MaxValueBytes, p.MaxSiblings = MaxObjectBytes, 1 }), "max_siblings × max_value_bytes"},
		{"huge values overflow", with(func(p *Props) { p.MaxValueBytes, p.MaxSiblings = 1<<62, 1000 }), "max_siblings × max_value_bytes"},
		{"unknown resolver", with(func(p *Props) { p.Resolver = "nope" }), "resolver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate(func(s string) error {
				if s != "siblings" {
					return errors.New("not known")
				}
				return nil
			})
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("Validate(%+v) = %v, want valid", tc.p, err)
			case tc.field != "" && err == nil:
				t.Fatalf("Validate(%+v) = nil, want an error naming %s", tc.p, tc.field)
			case tc.field != "" && !strings.Contains(err.Error(), tc.field):
				t.Fatalf("Validate = %v, want it to name %s", err, tc.field)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestPropsReadRepairChance: an explicit 0 is kept over the default, and
// an unset one takes it.
func TestPropsReadRepairChance(t *testing.T) {
	d := DefaultProps()
	if got := (Props{ReadRepairChance: ptr(0.0)}).WithDefaults(d).readRepairChance(); got != 0 {
		t.Errorf("explicit 0 became %v", got)
	}
	if got := (Props{}).WithDefaults(d).readRepairChance(); got != 0.1 {
		t.Errorf("unset became %v, want 0.1", got)
	}
	if got := (Props{}).readRepairChance(); got != 0.1 {
		t.Errorf("nil pointer reads as %v, want the default 0.1", got)
	}
}
