package http

import (
	"strings"
	"testing"
)

func TestFind_params(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		path string
		code int
		want string
	}{
		{"/admin/find/siblings?min=3", 200, `"min":3`},
		{"/admin/find/siblings?min=3&partition=7&limit=10", 200, `"partition":7`},
		{"/admin/find/large?bytes=1048576", 200, `"bytes":1048576`},
		{"/admin/find/tombstones", 200, `"partition":-1`},
		{"/admin/find/siblings", 400, "min"},
		{"/admin/find/siblings?min=0", 400, "min"},
		{"/admin/find/large?bytes=x", 400, "bytes"},
		{"/admin/find/tombstones?partition=-2", 400, "partition"},
		{"/admin/find/nothing", 400, "unknown finder"},
	}
	for _, tc := range tests {
		res := e.do("GET", tc.path, nil)
		if res.code != tc.code || !strings.Contains(res.String(), tc.want) {
			t.Errorf("GET %s = %d %s, want %d containing %q", tc.path, res.code, res.String(), tc.code, tc.want)
		}
	}
}
