package gossip

import (
	"bytes"
	"errors"
	"log"
	"net"
	"strconv"
	"testing"

	"github.com/hashicorp/memberlist"
)

func TestDelegate_malformedInputIgnored(t *testing.T) {
	c := newCluster(t)
	g := c.startN("a")[0]
	if err := g.SetBucketProps("b", []byte(`{"n_val":3}`)); err != nil {
		t.Fatal(err)
	}
	snapshot := func() []byte {
		g.mu.Lock()
		defer g.mu.Unlock()
		return encodeState(g.state.wire(""))
	}
	before := snapshot()
	d := &delegate{g: g}
	var fed float64
	for _, tc := range malformedStates {
		d.NotifyMsg([]byte(tc.in))
		d.MergeRemoteState([]byte(tc.in), false)
		if tc.in != "" {
			fed++
		}
	}
	if after := snapshot(); !bytes.Equal(before, after) {
		t.Errorf("malformed input changed the state:\n%s\n%s", before, after)
	}
	for _, source := range []string{"broadcast", "pushpull"} {
		if got := value(t, g.metrics.merges.WithLabelValues(source, "rejected")); got != fed {
			t.Errorf("%s rejected = %v, want %v", source, got, fed)
		}
	}
}

// rogue is a memberlist node whose delegate sends junk as its state.
type rogue struct{ junk []byte }

func (r rogue) NodeMeta(int) []byte             { return nil }
func (r rogue) NotifyMsg([]byte)                {}
func (r rogue) GetBroadcasts(int, int) [][]byte { return nil }
func (r rogue) LocalState(bool) []byte          { return r.junk }
func (r rogue) MergeRemoteState([]byte, bool)   {}

func TestGossip_malformedPeerIgnored(t *testing.T) {
	c := newCluster(t)
	g := c.startN("a")[0]

	junk := []byte(`{"v":1,"members":{"x":{"ver":1,"origin":"x","gossip":"nowhere","status":"joined"}}}`)
	mc := memberlist.DefaultLocalConfig()
	fastTimings(mc)
	mc.Name = "rogue"
	mc.Delegate = rogue{junk: junk}
	mc.Logger = log.New(logBridge{log: testLogger(t)}, "", 0)
	tr, addr := c.net.transport(t, "rogue", mc.Logger)
	mc.Transport = tr
	host, port, _ := net.SplitHostPort(addr)
	mc.BindAddr, mc.AdvertiseAddr = host, host
	mc.BindPort, _ = strconv.Atoi(port)
	mc.AdvertisePort = mc.BindPort
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Shutdown() })

	if _, err := ml.Join([]string{gossipAddr(g)}); err != nil {
		t.Fatalf("rogue join: %v", err)
	}
	gp, _ := strconv.Atoi(gossipAddr(g)[len("127.0.0.1:"):])
	if err := ml.SendReliable(&memberlist.Node{Name: "a", Addr: net.ParseIP("127.0.0.1"), Port: uint16(gp)}, []byte("\x00junk")); err != nil {
		t.Fatalf("rogue send: %v", err)
	}
	waitFor(t, settle, "junk rejected", func() error {
		if value(t, g.metrics.merges.WithLabelValues("pushpull", "rejected")) == 0 {
			return errors.New("push-pull junk not rejected yet")
		}
		if value(t, g.metrics.merges.WithLabelValues("broadcast", "rejected")) == 0 {
			return errors.New("message junk not rejected yet")
		}
		return nil
	})
	// memberlist sees the rogue; the cluster state does not carry it.
	if !g.Alive("rogue") {
		t.Error("rogue not alive for memberlist")
	}
	if err := wantView(g, "a:joined:alive"); err != nil {
		t.Error(err)
	}
	if err := g.SetBucketProps("still", []byte(`{}`)); err != nil {
		t.Errorf("node unusable after junk: %v", err)
	}
}
