package main

import (
	"log/slog"
	"net"
	"testing"

	dhttp "github.com/dynamod/dynamod/http"
)

func TestClientAPI_adminAuto(t *testing.T) {
	for _, tc := range []struct{ admin, want string }{
		{"auto", "127.0.0.1:7072"},
		{"10.0.0.1:9000", "10.0.0.1:9000"},
		{"", ""},
	} {
		f := clientAPIFlags{admin: tc.admin}
		f.resolveAdmin()
		if f.admin != tc.want || f.adminAuto != (tc.admin == "auto") {
			t.Errorf("--admin %q: %q (auto %v), want %q", tc.admin, f.admin, f.adminAuto, tc.want)
		}
	}
}

// TestClientAPI_adminPortTaken: a node whose automatic admin address is
// taken (a second node on the host) starts without one; an explicit
// address that is taken stops the start.
func TestClientAPI_adminPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	log := slog.New(slog.DiscardHandler)
	auto := clientAPIFlags{admin: ln.Addr().String(), adminAuto: true}
	stop, err := auto.startAdmin(nil, dhttp.DefaultConfig(), log)
	if err != nil {
		t.Fatalf("auto address taken: %v, want a start without the admin listener", err)
	}
	if err := stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	explicit := clientAPIFlags{admin: ln.Addr().String()}
	if _, err := explicit.startAdmin(nil, dhttp.DefaultConfig(), log); err == nil {
		t.Fatal("an explicit --admin that is taken was accepted")
	}
}

func TestServe_tlsDir(t *testing.T) {
	f := serveFlags{name: "n2"}
	f.nodeTLS.dir = "/c"
	f.nodeTLS.key = "/elsewhere/k.key" // given: kept
	f.applyTLSDir()
	if f.nodeTLS.ca != "/c/ca.crt" || f.nodeTLS.cert != "/c/node-n2.crt" || f.nodeTLS.key != "/elsewhere/k.key" || f.gossipKeyFile != "/c/gossip.key" {
		t.Errorf("--tls-dir gave %+v, gossip key file %q", f.nodeTLS, f.gossipKeyFile)
	}
	if !f.nodeTLS.enabled() {
		t.Error("node TLS not enabled by --tls-dir")
	}
}
