package node

import (
	"errors"
	"strings"
	"testing"
)

func TestExposure_check(t *testing.T) {
	local := Exposure{RPCAddr: "127.0.0.1:7071", GossipAddr: "127.0.0.1:7946", HTTPAddr: "127.0.0.1:7070", AdminAddr: "127.0.0.1:7072", ClientAuth: "auto"}
	for _, tc := range []struct {
		name   string
		edit   func(*Exposure)
		refuse bool
		warn   []string // substrings, one per expected warning
	}{
		{"laptop defaults", func(*Exposure) {}, false, nil},
		{"localhost and ::1", func(e *Exposure) { e.RPCAddr, e.GossipAddr = "localhost:1", "[::1]:2" }, false, nil},
		{"rpc on all interfaces", func(e *Exposure) { e.RPCAddr = "0.0.0.0:7071" }, true, nil},
		{"gossip on an empty host", func(e *Exposure) { e.GossipAddr = ":7946" }, true, nil},
		{"gossip on a LAN address", func(e *Exposure) { e.GossipAddr = "10.0.0.5:7946" }, true, nil},
		{"exposed with a key but no TLS", func(e *Exposure) { e.RPCAddr, e.GossipKey = "0.0.0.0:1", true }, true, nil},
		{"exposed with TLS but no key", func(e *Exposure) { e.RPCAddr, e.NodeTLS = "0.0.0.0:1", true }, true, nil},
		{"exposed with both", func(e *Exposure) {
			e.RPCAddr, e.GossipAddr, e.GossipKey, e.NodeTLS = "0.0.0.0:1", "0.0.0.0:2", true, true
		}, false, nil},
		{"exposed, insecure", func(e *Exposure) { e.RPCAddr, e.Insecure = "0.0.0.0:1", true }, false, []string{"INSECURE (--insecure)"}},
		{"unresolvable host", func(e *Exposure) { e.RPCAddr = "no-such-host.invalid:1" }, true, nil},
		{"client open on LAN", func(e *Exposure) { e.HTTPAddr, e.ClientAuth, e.ClientTLS = "0.0.0.0:7070", "off", true }, false,
			[]string{"INSECURE (--client-auth=off)"}},
		{"client plaintext on LAN", func(e *Exposure) { e.HTTPAddr = "0.0.0.0:7070" }, false, []string{"plain HTTP"}},
		{"admin on LAN", func(e *Exposure) { e.AdminAddr = "0.0.0.0:7072" }, false, []string{"admin listener"}},
		{"no admin listener", func(e *Exposure) { e.AdminAddr = "" }, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := local
			tc.edit(&e)
			warnings, err := e.Check(t.Context())
			if tc.refuse {
				if !errors.Is(err, ErrUnsafeStart) || !strings.Contains(err.Error(), "dynamod certs init") || !strings.Contains(err.Error(), "--insecure") {
					t.Fatalf("Check = %v; want a refusal saying how to make the material and how to override", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check = %v, want a start", err)
			}
			if len(warnings) != len(tc.warn) {
				t.Fatalf("warnings %q, want %d", warnings, len(tc.warn))
			}
			for i, w := range tc.warn {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q, want it to mention %q", warnings[i], w)
				}
			}
		})
	}
}
