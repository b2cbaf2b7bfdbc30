package depstest

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that keeps the errors it is given.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestChecks(t *testing.T) {
	imps := []string{
		"fmt", "net/http", "log/slog", "github.com/cespare/xxhash/v2",
		Module + "/versioning", Module + "/internal/wire", Module + "/storage/faulty",
	}
	for _, tc := range []struct {
		name  string
		check func(testing.TB)
		want  int
	}{
		{"Dynamod all allowed", func(tb testing.TB) { Dynamod(tb, imps, "versioning", "internal/wire", "storage/faulty") }, 0},
		{"Dynamod none allowed", func(tb testing.TB) { Dynamod(tb, imps) }, 3},
		{"Dynamod no subpackages", func(tb testing.TB) { Dynamod(tb, imps, "versioning", "internal/wire", "storage") }, 1},
		{"Forbid below", func(tb testing.TB) { Forbid(tb, imps, "why", "storage", "gossip") }, 1},
		{"ThirdParty stdlib only", func(tb testing.TB) { ThirdParty(tb, imps) }, 1},
		{"ThirdParty allowed", func(tb testing.TB) { ThirdParty(tb, imps, "github.com/cespare/xxhash") }, 0},
		{"Ban below", func(tb testing.TB) { Ban(tb, imps, map[string]string{"net": "no I/O", "log": "no logs"}) }, 2},
		{"Ban impure", func(tb testing.TB) { Ban(tb, imps, Impure) }, 2},
	} {
		r := &recorder{TB: t}
		tc.check(r)
		if len(r.errs) != tc.want {
			t.Errorf("%s: %d errors, want %d: %q", tc.name, len(r.errs), tc.want, r.errs)
		}
	}
}
