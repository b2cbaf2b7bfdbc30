package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitSteady waits until every node of ps sees exactly the members of
// want as joined and alive, the others gone, and no transfer pending.
func waitSteady(t testing.TB, ps []*proc, want []string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, timeout, func() string {
		for _, p := range ps {
			d, err := getCluster(p)
			if err != nil {
				return fmt.Sprintf("%s: %v", p.name, err)
			}
			var joined []string
			for _, m := range d.Members {
				switch m.Status {
				case "joined":
					if m.Liveness != "alive" {
						return fmt.Sprintf("%s sees %s %s", p.name, m.Name, m.Liveness)
					}
					joined = append(joined, m.Name)
				case "left", "removed":
				default:
					return fmt.Sprintf("%s sees %s %s", p.name, m.Name, m.Status)
				}
			}
			if strings.Join(joined, ",") != strings.Join(want, ",") {
				return fmt.Sprintf("%s sees joined %v, want %v", p.name, joined, want)
			}
			if !d.Steady || len(d.PendingTransfers) > 0 {
				return fmt.Sprintf("%s: not steady, %d transfers pending", p.name, len(d.PendingTransfers))
			}
		}
		return ""
	})
	return time.Since(start)
}

// membershipLoad reads acknowledged keys and writes with contexts on a
// few nodes until stopped, counting every way a read or write went wrong.
type membershipLoad struct {
	mu    sync.Mutex
	nodes []string // base URLs of the nodes to send to
	acked map[string]string

	stop            chan struct{}
	wg              sync.WaitGroup
	reads, notFound atomic.Int64
	writes, failed  atomic.Int64
	lastNotFound    atomic.Value
}

func (l *membershipLoad) setNodes(urls ...string) {
	l.mu.Lock()
	l.nodes = urls
	l.mu.Unlock()
}

func (l *membershipLoad) pick(rng *rand.Rand) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nodes[rng.IntN(len(l.nodes))]
}

func (l *membershipLoad) run(readers, writers int, keys []string, deadline time.Time) {
	hc := &http.Client{Timeout: 15 * time.Second}
	for i := range readers {
		l.wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for n := 0; n < 200000 && time.Now().Before(deadline); n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				k := keys[rng.IntN(len(keys))]
				resp, err := hc.Get(l.pick(rng) + "/kv/m/" + k)
				if err != nil {
					continue // the node went away under the load
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				l.reads.Add(1)
				if resp.StatusCode == http.StatusNotFound {
					l.notFound.Add(1)
					l.lastNotFound.Store(k)
				}
			}
		})
	}
	for i := range writers {
		l.wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(100+i), 2))
			for n := 0; n < 100000 && time.Now().Before(deadline); n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", i, rng.IntN(50))
				node := l.pick(rng)
				// Read first, write with the context: a read-modify-write.
				vctx := ""
				if resp, err := hc.Get(node + "/kv/rmw/" + key); err == nil {
					vctx = resp.Header.Get("Dynamod-Context")
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				val := fmt.Sprintf("%s-v%d", key, n)
				req, _ := http.NewRequest("PUT", node+"/kv/rmw/"+key, strings.NewReader(val))
				if vctx != "" {
					req.Header.Set("Dynamod-Context", vctx)
				}
				resp, err := hc.Do(req)
				if err != nil {
					l.failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					l.failed.Add(1)
					continue
				}
				l.writes.Add(1)
				l.mu.Lock()
				l.acked[key] = val // this key's writer is this goroutine alone
				l.mu.Unlock()
			}
		})
	}
}

// TestMembership_joinLeaveRemoveUnderLoad runs the life of a cluster with
// real processes under a continuous read and read-modify-write load: two
// nodes join at once, then one leaves, then a killed node is removed.
// Acknowledged keys never read as not found, no acknowledged write is
// lost, and after each step every key is on all of its primaries.
func TestMembership_joinLeaveRemoveUnderLoad(t *testing.T) {
	needBinary(t)
	// Transfers are throttled so that they take seconds: reads keep
	// hitting partitions while their new owners are still receiving them.
	flags := []string{"--partitions", "64", "--release-delay", "1s", "--ae-interval", "1s", "--handoff-interval", "500ms",
		"--transfer-rate", "150000"}
	ps := startCluster(t, 3, flags...)
	waitSteady(t, ps, []string{"n1", "n2", "n3"}, 30*time.Second)

	const nKeys = 1000
	keys := make([]string, nKeys)
	value := func(k string) string { return "v-" + k + strings.Repeat(".", 1024) } // 1 KiB values
	for i := range keys {
		keys[i] = fmt.Sprintf("k%04d", i)
		resp, body := do(t, "PUT", ps[i%3].url()+"/kv/m/"+keys[i]+"?w=all", value(keys[i]), nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("seed PUT %s: %d %s", keys[i], resp.StatusCode, body)
		}
	}

	load := &membershipLoad{acked: map[string]string{}, stop: make(chan struct{})}
	load.setNodes(ps[0].url(), ps[1].url(), ps[2].url())
	load.run(6, 2, keys, time.Now().Add(4*time.Minute))
	stopLoad := sync.OnceFunc(func() { close(load.stop); load.wg.Wait() })
	t.Cleanup(stopLoad)

	allOnPrimaries := func(step string, via *proc) {
		t.Helper()
		for _, k := range keys {
			resp, body := do(t, "GET", via.url()+"/kv/m/"+k+"?r=all&notfound_ok=false", "", nil)
			if resp.StatusCode != http.StatusOK || body != value(k) {
				t.Fatalf("%s: %s with r=all&notfound_ok=false = %d %q", step, k, resp.StatusCode, body)
			}
		}
	}

	// 1. Two nodes join at once.
	n4 := newProc(t, "n4", flags...)
	n5 := newProc(t, "n5", flags...)
	var wg sync.WaitGroup
	for _, p := range []*proc{n4, n5} {
		wg.Go(func() { p.start("--join", ps[0].gossipAddr()) })
	}
	wg.Wait()
	ps = append(ps, n4, n5)
	// Any node's /cluster shows every transfer with its receiver's
	// progress: n1 receives none of these.
	eventually(t, 30*time.Second, func() string {
		d, err := getCluster(ps[0])
		if err != nil {
			return err.Error()
		}
		for _, tr := range d.PendingTransfers {
			if (tr.To == "n4" || tr.To == "n5") && tr.Keys > 0 && tr.State != "pending" {
				return ""
			}
		}
		return fmt.Sprintf("n1 shows no progress of n4's or n5's transfers: %+v", d.PendingTransfers[:min(len(d.PendingTransfers), 5)])
	})
	took := waitSteady(t, ps, []string{"n1", "n2", "n3", "n4", "n5"}, 90*time.Second)
	t.Logf("two joins settled in %v with %d keys", took.Round(time.Millisecond), nKeys)
	load.setNodes(ps[0].url(), ps[1].url(), ps[2].url(), ps[3].url(), ps[4].url())
	allOnPrimaries("after the joins", ps[0])

	// 2. n2 leaves: the command waits for the hand-off, and the process
	// exits by itself.
	load.setNodes(ps[0].url(), ps[2].url(), ps[3].url(), ps[4].url())
	out, code := cli(t, "leave", "--node", ps[1].url(), "--wait", "25s")
	if code != 0 {
		t.Fatalf("dynamod leave = %d: %s", code, out)
	}
	ps[1].waitExit(t, 20*time.Second)
	// Started again on its old data, the node that left refuses: its data
	// is out of date.
	out, code = cli(t, "serve", "--name", "n2", "--data", ps[1].data,
		"--http", fmt.Sprintf("127.0.0.1:%d", ps[1].httpPort), "--rpc", fmt.Sprintf("127.0.0.1:%d", ps[1].rpc),
		"--gossip", ps[1].gossipAddr())
	if code == 0 || !strings.Contains(out, "left the cluster for good") {
		t.Fatalf("restarting the node that left = exit %d: %s", code, out)
	}
	rest := []*proc{ps[0], ps[2], ps[3], ps[4]}
	took = waitSteady(t, rest, []string{"n1", "n3", "n4", "n5"}, 90*time.Second)
	t.Logf("leave settled %v after the command returned", took.Round(time.Millisecond))
	allOnPrimaries("after the leave", ps[0])

	// 3. n3 dies and is removed.
	load.setNodes(ps[0].url(), ps[3].url(), ps[4].url())
	ps[2].kill()
	if out, code := cli(t, "remove", "n3", "--node", ps[0].url()); code == 0 {
		// Liveness may not have caught up yet: a refusal says so.
		t.Logf("remove right after the kill: %s", out)
	}
	eventually(t, 30*time.Second, func() string {
		out, code := cli(t, "remove", "n3", "--node", ps[0].url())
		if code != 0 {
			return out
		}
		return ""
	})
	rest = []*proc{ps[0], ps[3], ps[4]}
	took = waitSteady(t, rest, []string{"n1", "n4", "n5"}, 90*time.Second)
	t.Logf("removal settled in %v", took.Round(time.Millisecond))
	allOnPrimaries("after the removal", ps[0])

	stopLoad()
	if nf := load.notFound.Load(); nf > 0 {
		t.Errorf("%d of %d reads of acknowledged keys answered 404 (last %v)", nf, load.reads.Load(), load.lastNotFound.Load())
	}
	t.Logf("load: %d reads, %d acknowledged writes, %d failed writes", load.reads.Load(), load.writes.Load(), load.failed.Load())
	if load.reads.Load() == 0 || load.writes.Load() == 0 {
		t.Fatalf("the load did nothing: %d reads, %d writes", load.reads.Load(), load.writes.Load())
	}
	// Every acknowledged write is still there: the last acknowledged
	// value of each key is among its values (its writer wrote with the
	// context of its previous write, so nothing later superseded it).
	for key, val := range load.acked {
		resp, body := do(t, "GET", ps[0].url()+"/kv/rmw/"+key+"?r=all", "", map[string]string{"Accept": "application/json"})
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusMultipleChoices {
			t.Errorf("rmw %s: %d %s", key, resp.StatusCode, body)
			continue
		}
		if !strings.Contains(body, val) && !strings.Contains(body, b64(val)) {
			t.Errorf("rmw %s: acknowledged %q is lost: %s", key, val, body)
		}
	}
}

// waitExit waits for the process to exit by itself with status 0.
func (p *proc) waitExit(t testing.TB, timeout time.Duration) {
	t.Helper()
	exited, err := p.wait(timeout)
	if !exited {
		t.Fatalf("%s did not exit within %v after leaving", p.name, timeout)
	}
	if err != nil {
		t.Fatalf("%s exited with %v, want status 0", p.name, err)
	}
}

// wait waits up to timeout for the process to exit by itself and returns
// its exit error; past the timeout it kills the process and returns
// exited false.
func (p *proc) wait(timeout time.Duration) (exited bool, err error) {
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return true, err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return false, nil
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
