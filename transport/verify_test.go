package transport

import (
	"testing"
)

// TestVerify: Verify passes only for the node that holds a certificate of
// the cluster CA for the name asked about, at the address asked about.
func TestVerify(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	ca, other := newTestCA(t), newTestCA(t)
	a := startNode(t, r, "a", nil, withPKI(nodeTLS(t, "a", ca, ca), callerOnly))
	b := startNode(t, r, "b", nil, withPKI(nodeTLS(t, "b", ca, ca)))
	c := startNode(t, r, "c", nil, withPKI(nodeTLS(t, "c", ca, ca)))
	foreign := startNode(t, r, "d", nil, withPKI(nodeTLS(t, "d", other, other)))
	plain := startNode(t, r, "e", nil, nil)
	ctx := t.Context()
	if err := a.Verify(ctx, "b", b.Addr()); err != nil {
		t.Fatalf("b at its own address: %v", err)
	}
	for _, tc := range []struct{ what, name, addr string }{
		{"c's address claimed for b", "b", c.Addr()},
		{"a node of another CA", "d", foreign.Addr()},
		{"a plaintext node", "e", plain.Addr()},
		{"nothing listening", "b", "127.0.0.1:1"},
	} {
		if err := a.Verify(ctx, tc.name, tc.addr); err == nil {
			t.Errorf("%s: verified", tc.what)
		}
	}
	// Without TLS, the hello's name is all there is to check.
	p := startNode(t, r, "p", nil, callerOnly)
	if err := p.Verify(ctx, "e", plain.Addr()); err != nil {
		t.Errorf("plaintext e: %v", err)
	}
	if err := p.Verify(ctx, "x", plain.Addr()); err == nil {
		t.Error("plaintext: e verified as x")
	}
}
