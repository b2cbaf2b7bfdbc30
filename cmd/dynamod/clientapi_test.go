package main

import (
	"strings"
	"testing"
)

// TestServe_clientAPIFlags: bad --client-auth, a lone --http-tls-cert and
// a bad --admin are usage errors before anything starts.
func TestServe_clientAPIFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--client-auth", "maybe"}, "--client-auth"},
		{[]string{"--http-tls-cert", "c.pem"}, "go together"},
		{[]string{"--http-tls-key", "k.pem"}, "go together"},
		{[]string{"--admin", "nonsense"}, "--admin"},
	} {
		code, _, errs := runCLI(append([]string{"serve", "--data", t.TempDir()}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("serve %q: exit %d %q, want 2 naming %s", tc.args, code, errs, tc.want)
		}
	}
}
