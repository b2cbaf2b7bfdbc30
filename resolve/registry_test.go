package resolve

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

func TestRegistry_builtins(t *testing.T) {
	reg, _ := newTestRegistry(t, WebhookConfig{})
	in := Input{Siblings: []versioning.Value{valAt(`{"a":1}`, 2), valAt(`{"a":2,"b":1}`, 1)}}
	for _, tc := range []struct{ spec, want string }{
		{SpecLWW, `{"a":1}`},
		{SpecMergeObjects, `{"a":{"_siblings":[1,2]},"b":1}`},
		{SpecCounter, `{"a":2,"b":1}`},
	} {
		r, err := reg.Lookup(tc.spec)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", tc.spec, err)
		}
		res, err := r.Resolve(t.Context(), in)
		if err != nil || string(res.Value.Data) != tc.want {
			t.Errorf("%s: Resolve = %s, %v; want %s", tc.spec, res.Value.Data, err, tc.want)
		}
		if err := reg.Valid(tc.spec); err != nil {
			t.Errorf("Registry.Valid(%q): %v", tc.spec, err)
		}
		if err := Valid(tc.spec); err != nil {
			t.Errorf("Valid(%q): %v", tc.spec, err)
		}
	}
	r, err := reg.Lookup(SpecSetUnion)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Resolve(t.Context(), Input{Siblings: []versioning.Value{val(`[2]`), val(`[1]`)}})
	if err != nil || string(res.Value.Data) != `[1,2]` {
		t.Errorf("json-set-union: Resolve = %s, %v", res.Value.Data, err)
	}
	for _, spec := range []string{SpecSiblings, ""} {
		r, err := reg.Lookup(spec)
		if r != nil || err != nil {
			t.Errorf("Lookup(%q) = %v, %v; want nil, nil", spec, r, err)
		}
		if err := Valid(spec); err != nil {
			t.Errorf("Valid(%q): %v", spec, err)
		}
	}
}

func TestRegistry_unknown(t *testing.T) {
	reg, _ := newTestRegistry(t, WebhookConfig{})
	for _, spec := range []string{"LWW", "json", "webhook", "set-union", " lww", "lww ", strings.Repeat("x", 500)} {
		if _, err := reg.Lookup(spec); !errors.Is(err, ErrUnknown) {
			t.Errorf("Lookup(%.20q) error = %v, want ErrUnknown", spec, err)
		}
		if err := Valid(spec); !errors.Is(err, ErrUnknown) {
			t.Errorf("Valid(%.20q) = %v, want ErrUnknown", spec, err)
		}
		if err := reg.Valid(spec); !errors.Is(err, ErrUnknown) {
			t.Errorf("Registry.Valid(%.20q) = %v, want ErrUnknown", spec, err)
		}
	}
}

func TestRegistry_webhookSpecs(t *testing.T) {
	reg, _ := newTestRegistry(t, WebhookConfig{Allow: []string{"127.0.0.1", "hooks.example.com", "::1", "example.com"}})
	for _, u := range []string{"http://127.0.0.1:8080/resolve", "https://hooks.example.com/r?bucket=x", "http://[::1]:9/", "HTTP://EXAMPLE.COM"} {
		spec := WebhookPrefix + u
		if err := Valid(spec); err != nil {
			t.Errorf("Valid(%q): %v", spec, err)
		}
		r1, err := reg.Lookup(spec)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", spec, err)
		}
		r2, _ := reg.Lookup(spec)
		if r1 != r2 {
			t.Errorf("Lookup(%q) twice gave two resolvers", spec)
		}
	}
	a, _ := reg.Lookup(WebhookPrefix + "http://127.0.0.1:1/a")
	b, _ := reg.Lookup(WebhookPrefix + "http://127.0.0.1:1/b")
	if a == b {
		t.Error("two URLs share a resolver")
	}
	for _, u := range []string{"", "ftp://x/", "/path", "http://", "http:opaque", "http://%zz/", "127.0.0.1:80", "http://:80/",
		"http://x/" + strings.Repeat("a", maxURLLen)} {
		spec := WebhookPrefix + u
		if _, err := reg.Lookup(spec); !errors.Is(err, ErrBadSpec) {
			t.Errorf("Lookup(%.40q) error = %v, want ErrBadSpec", spec, err)
		}
		if err := Valid(spec); !errors.Is(err, ErrBadSpec) {
			t.Errorf("Valid(%.40q) = %v, want ErrBadSpec", spec, err)
		}
	}
	if n := len(reg.webhooks); n != 6 {
		t.Errorf("%d webhooks cached, want 6", n)
	}
}

func TestRegistry_register(t *testing.T) {
	reg, _ := newTestRegistry(t, WebhookConfig{})
	first := Func(func(_ context.Context, in Input) (Result, error) {
		return Result{Value: in.Siblings[0]}, nil
	})
	if err := reg.Register("my.resolver_1-x", first); err != nil {
		t.Fatal(err)
	}
	r, err := reg.Lookup("my.resolver_1-x")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := r.Resolve(t.Context(), Input{Siblings: []versioning.Value{val("a")}}); err != nil || string(res.Value.Data) != "a" {
		t.Errorf("registered resolver: %s, %v", res.Value.Data, err)
	}
	if err := reg.Valid("my.resolver_1-x"); err != nil {
		t.Errorf("Registry.Valid of a registered name: %v", err)
	}
	if err := Valid("my.resolver_1-x"); !errors.Is(err, ErrUnknown) {
		t.Errorf("package Valid of a registered name = %v, want ErrUnknown", err)
	}
	other, _ := newTestRegistry(t, WebhookConfig{})
	if _, err := other.Lookup("my.resolver_1-x"); !errors.Is(err, ErrUnknown) {
		t.Errorf("a name leaked into another registry: %v", err)
	}
	for _, tc := range []struct {
		name string
		r    Resolver
	}{
		{"my.resolver_1-x", first}, // already registered
		{SpecLWW, first}, {SpecSetUnion, first}, {SpecSiblings, first},
		{"", first}, {"a:b", first}, {"webhook:x", first}, {"a b", first}, {"é", first},
		{strings.Repeat("n", maxNameLen+1), first},
		{"nil-resolver", nil},
	} {
		if err := reg.Register(tc.name, tc.r); !errors.Is(err, ErrBadSpec) {
			t.Errorf("Register(%.20q) error = %v, want ErrBadSpec", tc.name, err)
		}
	}
	if err := reg.Register(strings.Repeat("n", maxNameLen), first); err != nil {
		t.Errorf("Register of a %d-byte name: %v", maxNameLen, err)
	}
	// The built-in stays.
	r, _ = reg.Lookup(SpecLWW)
	if res, _ := r.Resolve(t.Context(), Input{Siblings: []versioning.Value{valAt("old", 1), valAt("new", 2)}}); string(res.Value.Data) != "new" {
		t.Errorf("lww after a refused Register = %s", res.Value.Data)
	}
}

// Lookups and registrations from many goroutines agree (run with -race).
func TestRegistry_concurrent(t *testing.T) {
	reg, _ := newTestRegistry(t, WebhookConfig{})
	const n = 8
	got := make([]Resolver, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got[i], _ = reg.Lookup(WebhookPrefix + "http://127.0.0.1:1/same")
			_ = reg.Register("name-"+string(rune('a'+i)), LWWResolver)
			_ = reg.Valid("name-a")
		})
	}
	wg.Wait()
	for i := range n {
		if got[i] == nil || got[i] != got[0] {
			t.Fatalf("goroutine %d got another webhook resolver", i)
		}
		if _, err := reg.Lookup("name-" + string(rune('a'+i))); err != nil {
			t.Error(err)
		}
	}
}
