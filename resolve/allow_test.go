package resolve

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestAllowlist(t *testing.T) {
	reg, _ := newTestRegistry(t, WebhookConfig{Allow: []string{
		"hooks.internal", "merge.example:8443", "10.0.0.0/8", "192.168.1.7", "[fd00::1]:9000", "2001:db8::/32",
	}})
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://hooks.internal/x", true},
		{"https://HOOKS.internal:9999/x", true}, // a bare host allows any port
		{"https://merge.example:8443/", true},
		{"https://merge.example/", false}, // port 443, not 8443
		{"http://merge.example:8443/", true},
		{"http://10.200.3.4:80/", true},
		{"http://192.168.1.7:1234/", true},
		{"http://192.168.1.8/", false},
		{"http://[fd00::1]:9000/", true},
		{"http://[fd00::1]:9001/", false},
		{"http://[2001:db8::5]/", true},
		{"http://[::ffff:10.1.1.1]/", true}, // a v4-mapped address is the v4 one
		{"http://127.0.0.1/", false},
		{"http://localhost/", false},
		{"http://169.254.169.254/latest/meta-data/", false},
		{"http://[::1]/", false},
		{"http://0x7f.0.0.1/", false}, // not an IP literal to Go, and not a listed name
		{"http://hooks.internal.evil.example/", false},
		{"http://evil.example#@hooks.internal/", false},
	} {
		err := reg.Valid(WebhookPrefix + tc.url)
		if tc.ok && err != nil {
			t.Errorf("%s: %v, want allowed", tc.url, err)
		}
		if !tc.ok && !errors.Is(err, ErrNotAllowed) {
			t.Errorf("%s: %v, want ErrNotAllowed", tc.url, err)
		}
		_, lerr := reg.Lookup(WebhookPrefix + tc.url)
		if (lerr == nil) != tc.ok {
			t.Errorf("%s: Lookup error %v, want allowed=%v", tc.url, lerr, tc.ok)
		}
		if !tc.ok && FailureClass(lerr) != ClassNotAllowed {
			t.Errorf("%s: class %q, want %q", tc.url, FailureClass(lerr), ClassNotAllowed)
		}
	}
}

// TestAllowlist_emptyAllowsNothing: with no allowlist no webhook may be
// set or called; the built-ins are unaffected.
func TestAllowlist_emptyAllowsNothing(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Valid("webhook:http://127.0.0.1:9/"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("Valid = %v, want ErrNotAllowed", err)
	}
	if _, err := reg.Lookup("webhook:https://example.com/"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("Lookup = %v, want ErrNotAllowed", err)
	}
	if err := reg.Valid(SpecLWW); err != nil {
		t.Errorf("Valid(lww) = %v", err)
	}
}

func TestAllowlist_badEntries(t *testing.T) {
	for _, e := range []string{"", " ", "10.0.0.0/33", "host:0", "host:70000", "host:port", "a b", "http://x", "x/y/z", "[::1"} {
		if _, err := NewRegistry(WithWebhook(WebhookConfig{Allow: []string{e}})); err == nil {
			t.Errorf("entry %q accepted", e)
		}
	}
	many := make([]string, maxAllowEntries+1)
	for i := range many {
		many[i] = fmt.Sprintf("h%d", i)
	}
	if _, err := NewRegistry(WithWebhook(WebhookConfig{Allow: many})); err == nil {
		t.Error("an allowlist over the limit was accepted")
	}
}

func TestFailureClass(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", ErrNoValue), ClassNoValue},
		{fmt.Errorf("x: %w", ErrUnknown), ClassUnknown},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), ClassTimeout},
		{errors.New("other"), ClassFailed},
		{&classified{ClassBadStatus, errors.New("status 500")}, ClassBadStatus},
	} {
		if got := FailureClass(tc.err); got != tc.want {
			t.Errorf("FailureClass(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
