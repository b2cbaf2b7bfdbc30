package gossip

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Tests in this file run real memberlist nodes on 127.0.0.1 behind a
// faultNet. Each polls with a deadline and checks for leaked goroutines.

const settle = 10 * time.Second // deadline for a cluster to converge

func TestGossip_threeNodesJoin(t *testing.T) {
	c := newCluster(t)
	nodes := c.startN("a", "b")
	cfg := c.baseConfig("c") // memberlist's own transport, created by New
	cfg.Join = []string{gossipAddr(nodes[0])}
	nodes = append(nodes, c.startDefault(cfg))

	waitFor(t, settle, "all see three alive members", allSee(func(g *Gossip) error {
		return seesAlive(g, "a", "b", "c")
	}, nodes...))

	for _, g := range nodes {
		for _, m := range g.Members() {
			peer := c.nodes[m.Name]
			if m.GossipAddr != gossipAddr(peer) || m.RPCAddr != peer.cfg.RPCAddr || m.HTTPAddr != peer.cfg.HTTPAddr {
				t.Errorf("%s sees %+v, want addresses %s %s %s", g.LocalName(), m, gossipAddr(peer), peer.cfg.RPCAddr, peer.cfg.HTTPAddr)
			}
		}
		if got := g.RingMembers(); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("%s: RingMembers = %v", g.LocalName(), got)
		}
		if rpc, ok := g.Resolve("b"); !ok || rpc != c.nodes["b"].cfg.RPCAddr {
			t.Errorf("%s: Resolve(b) = %q, %v", g.LocalName(), rpc, ok)
		}
		if _, ok := g.Resolve("nope"); ok {
			t.Errorf("%s: Resolve(nope) ok", g.LocalName())
		}
		if !g.Alive("a") || !g.Alive("c") || g.Alive("nope") {
			t.Errorf("%s: Alive(a, c, nope) = %v %v %v", g.LocalName(), g.Alive("a"), g.Alive("c"), g.Alive("nope"))
		}
		if got := value(t, g.metrics.members.WithLabelValues("alive")); got != 3 {
			t.Errorf("%s: members{alive} = %v, want 3", g.LocalName(), got)
		}
		select {
		case <-g.Changes():
		default:
			t.Errorf("%s: no change notified", g.LocalName())
		}
	}
	if n := len((&delegate{g: nodes[0]}).NodeMeta(memberlist.MetaMaxSize)); n == 0 || n > 8 {
		t.Errorf("NodeMeta is %d bytes", n)
	}
}

func TestGossip_crashDetectedButStaysInRing(t *testing.T) {
	c := newCluster(t)
	nodes := c.startN("a", "b", "c")
	waitFor(t, settle, "all alive", allSee(func(g *Gossip) error { return seesAlive(g, "a", "b", "c") }, nodes...))
	for _, g := range nodes[:2] { // drain
		select {
		case <-g.Changes():
		default:
		}
	}

	c.crash("c") // no Leave: others must detect the failure
	a, b := nodes[0], nodes[1]
	waitFor(t, settle, "a and b see c dead", allSee(func(g *Gossip) error {
		if got, want := memberView(g), "a:joined:alive b:joined:alive c:joined:dead"; got != want {
			return fmt.Errorf("%s sees %q, want %q", g.LocalName(), got, want)
		}
		return nil
	}, a, b))
	for _, g := range []*Gossip{a, b} {
		if g.Alive("c") {
			t.Errorf("%s: Alive(c) after crash", g.LocalName())
		}
		if got := g.RingMembers(); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("%s: RingMembers = %v, a failure must not change ownership", g.LocalName(), got)
		}
		if got := value(t, g.metrics.members.WithLabelValues("dead")); got != 1 {
			t.Errorf("%s: members{dead} = %v", g.LocalName(), got)
		}
		select {
		case <-g.Changes():
		default:
			t.Errorf("%s: death not notified", g.LocalName())
		}
	}
}

func TestGossip_leaveRemoveAndMarkLeaving(t *testing.T) {
	c := newCluster(t)
	nodes := c.startN("a", "b", "c")
	a, b, cc := nodes[0], nodes[1], nodes[2]
	waitFor(t, settle, "all alive", allSee(func(g *Gossip) error { return seesAlive(g, "a", "b", "c") }, nodes...))

	if err := a.Remove("b"); !errors.Is(err, ErrMemberAlive) {
		t.Fatalf("Remove(alive b) = %v, want ErrMemberAlive", err)
	}
	if err := b.Leave(2 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	waitFor(t, settle, "a and c see b gone", allSee(func(g *Gossip) error {
		if g.Alive("b") {
			return fmt.Errorf("%s: b alive", g.LocalName())
		}
		return nil
	}, a, cc))
	if got := a.RingMembers(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("RingMembers after leave = %v: leaving memberlist is not leaving the ring", got)
	}
	if err := a.Remove("b"); err != nil {
		t.Fatalf("Remove(b): %v", err)
	}
	if err := a.Remove("b"); err != nil {
		t.Errorf("Remove(b) again: %v", err)
	}
	if err := a.Remove("nope"); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("Remove(nope) = %v, want ErrUnknownMember", err)
	}
	waitFor(t, settle, "b removed everywhere", allSee(func(g *Gossip) error {
		if got := g.RingMembers(); !slices.Equal(got, []string{"a", "c"}) {
			return fmt.Errorf("%s: RingMembers = %v", g.LocalName(), got)
		}
		return seesAlive(g, "a", "c")
	}, a, cc))

	// The leave flow for a live node: Leaving (out of the target ring, still
	// holding), then left for good.
	if err := cc.MarkLeaving(); err != nil {
		t.Fatalf("MarkLeaving: %v", err)
	}
	waitFor(t, settle, "a sees c leaving", func() error {
		if got, want := memberView(a), "a:joined:alive c:leaving:alive"; got != want {
			return fmt.Errorf("a sees %q, want %q", got, want)
		}
		if got := a.RingMembers(); !slices.Equal(got, []string{"a"}) {
			return fmt.Errorf("RingMembers = %v, want [a]: a leaving member owns nothing", got)
		}
		return nil
	})
	if err := cc.MarkLeft(); err != nil {
		t.Fatalf("c.MarkLeft: %v", err)
	}
	if err := cc.MarkLeaving(); !errors.Is(err, ErrRemoved) {
		t.Errorf("MarkLeaving after removal = %v, want ErrRemoved", err)
	}
	waitFor(t, settle, "a sees c left", func() error {
		for _, m := range a.Members() {
			if m.Name == "c" && m.Status != Left {
				return fmt.Errorf("a sees c %v, want left", m.Status)
			}
		}
		if got := a.RingMembers(); !slices.Equal(got, []string{"a"}) {
			return fmt.Errorf("RingMembers = %v", got)
		}
		return nil
	})
}

func TestGossip_restartRejoinsWithState(t *testing.T) {
	c := newCluster(t)
	c.tune = func(mc *memberlist.Config) {
		fastTimings(mc)
		// Keep dead members in memberlist, so a restart at a new address
		// needs DeadNodeReclaimTime.
		mc.GossipToTheDeadTime = time.Minute
	}
	nodes := c.startN("a", "b", "c")
	a, b := nodes[0], nodes[1]
	waitFor(t, settle, "all alive", allSee(func(g *Gossip) error { return seesAlive(g, "a", "b", "c") }, nodes...))
	if err := a.SetBucketProps("users", []byte(`{"n_val":3}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, settle, "c has the props", func() error { return hasProps(nodes[2], "users", `{"n_val":3}`) })

	restart := func(cfg Config) *Gossip {
		t.Helper()
		c.crash("c")
		waitFor(t, settle, "a and b see c dead", allSee(func(g *Gossip) error {
			if g.Alive("c") {
				return fmt.Errorf("%s: c alive", g.LocalName())
			}
			return nil
		}, a, b))
		g := c.start(cfg)
		waitFor(t, settle, "c back", allSee(func(g *Gossip) error {
			if err := seesAlive(g, "a", "b", "c"); err != nil {
				return err
			}
			m := g.Members()[2]
			if m.GossipAddr != cfg.BindAddr || m.RPCAddr != cfg.RPCAddr {
				return fmt.Errorf("%s sees c at %s rpc %s, want %s rpc %s", g.LocalName(), m.GossipAddr, m.RPCAddr, cfg.BindAddr, cfg.RPCAddr)
			}
			return nil
		}, a, b, g))
		return g
	}

	// Same name and state file, new gossip and RPC addresses, no Join: it
	// rejoins from the persisted members.
	statePath := c.nodes["c"].cfg.StatePath
	cfg := c.config("c")
	cfg.StatePath = statePath
	cfg.RPCAddr = "127.0.0.1:29999"
	g := restart(cfg)
	if err := hasProps(g, "users", `{"n_val":3}`); err != nil {
		t.Error(err)
	}
	if rpc, _ := a.Resolve("c"); rpc != "127.0.0.1:29999" {
		t.Errorf("a resolves c to %q", rpc)
	}

	// Lost its state: it joins, learns its old entry and refutes it.
	cfg = c.config("c")
	cfg.Join = []string{gossipAddr(a)}
	cfg.RPCAddr = "127.0.0.1:29998"
	g = restart(cfg)
	waitFor(t, settle, "c relearns the props", func() error { return hasProps(g, "users", `{"n_val":3}`) })
}

func hasProps(g *Gossip, bucket, want string) error {
	got, ok := g.BucketProps()[bucket]
	if want == "" {
		if ok {
			return fmt.Errorf("%s: %s = %s, want none", g.LocalName(), bucket, got)
		}
		return nil
	}
	if string(got) != want {
		return fmt.Errorf("%s: %s = %q, want %q", g.LocalName(), bucket, got, want)
	}
	return nil
}

func TestGossip_bucketPropsSpread(t *testing.T) {
	c := newCluster(t)
	c.tune = func(mc *memberlist.Config) {
		fastTimings(mc)
		mc.PushPullInterval = 0 // after the joins, only broadcasts and sends carry updates
	}
	nodes := c.startN("a", "b", "c")
	a, b, cc := nodes[0], nodes[1], nodes[2]
	waitFor(t, settle, "all alive", allSee(func(g *Gossip) error { return seesAlive(g, "a", "b", "c") }, nodes...))

	steps := []struct {
		by    *Gossip
		props string // "" = reset
		want  string
	}{
		{a, `{ "n_val" : 5, "tag": "<&>" }`, `{"n_val":5,"tag":"<&>"}`},
		{b, "", ""},
		{cc, `{"n_val":2}`, `{"n_val":2}`},
	}
	for i, s := range steps {
		if err := s.by.SetBucketProps("b1", []byte(s.props)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		waitFor(t, settle, fmt.Sprintf("step %d reaches everyone", i), allSee(func(g *Gossip) error {
			return hasProps(g, "b1", s.want)
		}, nodes...))
	}

	// Too large for a UDP packet: sent to each member over TCP.
	big := `{"webhook":"` + strings.Repeat("x", 4000) + `"}`
	if err := a.SetBucketProps("big", []byte(big)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, settle, "big props reach everyone", allSee(func(g *Gossip) error { return hasProps(g, "big", big) }, nodes...))
	if got := value(t, a.metrics.reliableSends.WithLabelValues("ok")); got < 2 {
		t.Errorf("reliable sends = %v, want >= 2", got)
	}

	for _, bad := range []struct{ bucket, props string }{{"", "{}"}, {"x", "{"}, {"x", "null"}, {"\xff", "{}"}} {
		if err := a.SetBucketProps(bad.bucket, []byte(bad.props)); !errors.Is(err, ErrInvalidProps) {
			t.Errorf("SetBucketProps(%q, %q) = %v, want ErrInvalidProps", bad.bucket, bad.props, err)
		}
	}
}

func TestGossip_concurrentSetsConverge(t *testing.T) {
	c := newCluster(t)
	c.tune = func(mc *memberlist.Config) {
		fastTimings(mc)
		// A burst of 60 updates overflows what a few gossip rounds carry
		// (broadcasts are best effort); push-pull repairs the rest.
		mc.PushPullInterval = time.Second
	}
	nodes := c.startN("a", "b", "c")
	waitFor(t, settle, "all alive", allSee(func(g *Gossip) error { return seesAlive(g, "a", "b", "c") }, nodes...))

	const buckets = 20
	var wg sync.WaitGroup
	for _, g := range nodes {
		wg.Go(func() {
			for i := range buckets {
				props := fmt.Sprintf(`{"by":%q}`, g.LocalName())
				if err := g.SetBucketProps(fmt.Sprint("k", i), []byte(props)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	entries := func(g *Gossip) map[string]bucketEntry {
		g.mu.Lock()
		defer g.mu.Unlock()
		return maps.Clone(g.state.buckets)
	}
	waitFor(t, settle, "all agree on every entry", func() error {
		want := entries(nodes[0])
		if len(want) != buckets {
			return fmt.Errorf("a has %d buckets", len(want))
		}
		for _, g := range nodes[1:] {
			got := entries(g)
			for k, v := range want {
				if compareBucket(got[k], v) != 0 {
					return fmt.Errorf("%s: %s = %+v, a has %+v", g.LocalName(), k, got[k], v)
				}
			}
		}
		return nil
	})
	for k, e := range entries(nodes[0]) {
		if want := fmt.Sprintf(`{"by":%q}`, e.Origin); string(e.Props) != want {
			t.Errorf("%s = %s written by %s", k, e.Props, e.Origin)
		}
	}
}

func TestGossip_partitionHealedByRejoinLoop(t *testing.T) {
	c := newCluster(t)
	c.tune = func(mc *memberlist.Config) {
		fastTimings(mc)
		// Forget dead members at once: after the partition memberlist has
		// no address of the other side left to probe or gossip to, so only
		// the rejoin loop can merge the two sides again (memberlist#222).
		mc.GossipToTheDeadTime = time.Millisecond
	}
	nodes := c.startN("a", "b", "c")
	a, b, cc := nodes[0], nodes[1], nodes[2]
	waitFor(t, settle, "all alive", allSee(func(g *Gossip) error { return seesAlive(g, "a", "b", "c") }, nodes...))

	c.net.Partition([]string{"a"}, []string{"b", "c"})
	waitFor(t, settle, "both sides declare the other dead", func() error {
		return errors.Join(
			wantView(a, "a:joined:alive b:joined:dead c:joined:dead"),
			wantView(b, "a:joined:dead b:joined:alive c:joined:alive"),
			wantView(cc, "a:joined:dead b:joined:alive c:joined:alive"),
		)
	})
	if err := a.SetBucketProps("p", []byte(`{"side":"a"}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.SetBucketProps("p", []byte(`{"side":"b"}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.SetBucketProps("only-a", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := hasProps(b, "only-a", ""); err != nil {
		t.Fatalf("partition leaks: %v", err)
	}
	okBefore := rejoinsOK(t, nodes)

	c.net.Heal()
	waitFor(t, 2*settle, "re-merged", func() error {
		var errs []error
		for _, g := range nodes {
			errs = append(errs, seesAlive(g, "a", "b", "c"), hasProps(g, "only-a", `{}`))
			if got, want := string(g.BucketProps()["p"]), string(a.BucketProps()["p"]); got != want {
				errs = append(errs, fmt.Errorf("%s: p = %s, a has %s", g.LocalName(), got, want))
			}
		}
		return errors.Join(errs...)
	})
	if rejoinsOK(t, nodes) <= okBefore {
		t.Error("re-merged without a successful rejoin")
	}
	for _, g := range nodes {
		if got := g.RingMembers(); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("%s: RingMembers = %v", g.LocalName(), got)
		}
	}
}

func wantView(g *Gossip, want string) error {
	if got := memberView(g); got != want {
		return fmt.Errorf("%s sees %q, want %q", g.LocalName(), got, want)
	}
	return nil
}

func rejoinsOK(t testing.TB, gs []*Gossip) float64 {
	var n float64
	for _, g := range gs {
		n += value(t, g.metrics.rejoins.WithLabelValues("ok"))
	}
	return n
}

func TestGossip_persistedStateSurvivesRestart(t *testing.T) {
	c := newCluster(t)
	nodes := c.startN("a", "b")
	a := nodes[0]
	waitFor(t, settle, "both alive", allSee(func(g *Gossip) error { return seesAlive(g, "a", "b") }, nodes...))
	if err := a.SetBucketProps("kept", []byte(`{"n_val":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.SetBucketProps("gone", []byte(`{"n_val":2}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.SetBucketProps("gone", nil); err != nil {
		t.Fatal(err)
	}
	statePath := a.cfg.StatePath
	c.crash("b")
	c.crash("a")
	if err := a.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := errors.Join(a.Leave(time.Second), a.SetBucketProps("x", []byte("1")), a.Remove("b"), a.MarkLeaving()); !errors.Is(err, ErrClosed) {
		t.Errorf("calls after Close = %v, want ErrClosed", err)
	}

	// Alone, from the file only: every member and bucket is back, b not
	// alive but still in the ring.
	cfg := c.config("a")
	cfg.StatePath = statePath
	g := c.start(cfg)
	if got, want := memberView(g), "a:joined:alive b:joined:dead"; got != want {
		t.Errorf("members = %q, want %q", got, want)
	}
	if got := g.RingMembers(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("RingMembers = %v", got)
	}
	if err := errors.Join(hasProps(g, "kept", `{"n_val":1}`), hasProps(g, "gone", "")); err != nil {
		t.Error(err)
	}
	if rpc, ok := g.Resolve("b"); !ok || rpc != c.nodes["b"].cfg.RPCAddr {
		t.Errorf("Resolve(b) = %q, %v", rpc, ok)
	}
	// The rejoin loop keeps trying b.
	waitFor(t, settle, "rejoin attempts", func() error {
		if n := value(t, g.metrics.rejoins.WithLabelValues("failed")); n == 0 {
			return errors.New("no failed rejoin yet")
		}
		return nil
	})
}

func TestNew_joinFailure(t *testing.T) {
	c := newCluster(t)
	deadAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))

	// No persisted state: an unanswered Join is an error, and the transport
	// is released.
	cfg := c.config("a")
	cfg.Join = []string{deadAddr}
	cfg.StatePath = filepath.Join(c.dir, "a.state")
	if _, err := New(cfg); !errors.Is(err, ErrJoin) {
		t.Fatalf("New = %v, want ErrJoin", err)
	}

	// Joining only itself is starting a cluster.
	cfg = c.config("a")
	cfg.Join = []string{cfg.BindAddr}
	cfg.StatePath = filepath.Join(c.dir, "a.state")
	a := c.start(cfg)
	if err := a.SetBucketProps("x", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	// Give a a peer in its state, then restart it with a dead Join: the
	// persisted state makes it best effort.
	cfgB := c.config("b")
	cfgB.Join = []string{gossipAddr(a)}
	c.start(cfgB)
	waitFor(t, settle, "a knows b", func() error { return seesAlive(a, "a", "b") })
	c.crash("b")
	c.crash("a")
	cfg2 := c.config("a")
	cfg2.StatePath = cfg.StatePath
	cfg2.Join = []string{deadAddr}
	a = c.start(cfg2)
	if got := a.RingMembers(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("RingMembers = %v", got)
	}
}

func TestGossip_secretKeyAndAdvertisedHostname(t *testing.T) {
	c := newCluster(t)
	key := []byte("0123456789abcdef")
	cfg := c.config("a")
	cfg.SecretKey = key
	_, port, _ := strings.Cut(cfg.BindAddr, ":")
	cfg.AdvertiseAddr = "localhost:" + port // resolved by New
	a := c.start(cfg)
	if got := gossipAddr(a); got != cfg.BindAddr {
		t.Fatalf("advertised %s, want %s", got, cfg.BindAddr)
	}
	cfg = c.config("b")
	cfg.SecretKey = key
	cfg.Join = []string{gossipAddr(a)}
	b := c.start(cfg)
	waitFor(t, settle, "a and b joined", allSee(func(g *Gossip) error { return seesAlive(g, "a", "b") }, a, b))

	cfg = c.config("x")
	cfg.SecretKey = []byte("another key, 24 bytes!!!")
	cfg.Join = []string{gossipAddr(a)}
	if _, err := New(cfg); !errors.Is(err, ErrJoin) {
		t.Errorf("join with a wrong key = %v, want ErrJoin", err)
	}
}
