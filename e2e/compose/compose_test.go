// Package compose runs the Docker Compose cluster of deploy/ and breaks it
// with real network partitions (docker network disconnect) and a docker
// kill, then checks what a user would see: no acknowledged write lost,
// exactly the expected siblings, and every node answering the same state.
//
// It needs a Docker engine and the image, so it is skipped unless
// DYNAMOD_COMPOSE_E2E=1. scripts/compose-e2e.sh builds a fresh image, runs
// these tests and always tears everything down:
//
//	scripts/compose-e2e.sh
//
// To run them by hand against an image you built (make docker):
//
//	DYNAMOD_COMPOSE_E2E=1 go test -count=1 -v ./e2e/compose
//
// DYNAMOD_IMAGE names the image (default dynamod:dev) and
// DYNAMOD_COMPOSE_PROJECT the compose project (default: a random name).
// Each test takes the project down with its volumes when it ends.
package compose

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
)

const bucket = "e2e"

// composeFiles are relative to this package's directory.
var (
	threeNodes = []string{"../../deploy/docker-compose.yml"}
	fiveNodes  = []string{"../../deploy/docker-compose.yml", "../../deploy/docker-compose.5nodes.yml"}
)

// cluster is one compose project.
type cluster struct {
	t       *testing.T
	compose []string // "docker compose" or "docker-compose"
	project string
	files   []string
	image   string
	network string // the project's network, found once the cluster is up
	http    *http.Client
	// scheme of the client API ("http" unless a setup says otherwise)
	// and the environment of the CLI run inside containers (its --node,
	// --ca and --token, by DYNAMOD_* variables).
	scheme  string
	execEnv []string

	mu    sync.Mutex
	ports map[string]string // service → published 127.0.0.1:port, dropped on topology changes
	ids   map[string]string // service → container id
}

// up starts a fresh cluster with the given compose files and waits until
// every node sees all of them alive. t.Cleanup takes it down with its
// volumes, dumping the logs first if the test failed.
func up(t *testing.T, files []string, services ...string) *cluster {
	t.Helper()
	return upWith(t, files, nil, services...)
}

// upWith is up with a setup step, run once every service is healthy and
// before anything talks to the nodes' client APIs (a secure cluster makes
// its first token there).
func upWith(t *testing.T, files []string, setup func(*cluster), services ...string) *cluster {
	t.Helper()
	if os.Getenv("DYNAMOD_COMPOSE_E2E") != "1" {
		t.Skip("skipped: the Docker Compose end-to-end tests need DYNAMOD_COMPOSE_E2E=1 and a Docker engine; scripts/compose-e2e.sh builds the image and runs them")
	}
	c := &cluster{
		t:       t,
		compose: composeCommand(t),
		project: os.Getenv("DYNAMOD_COMPOSE_PROJECT"),
		files:   files,
		image:   os.Getenv("DYNAMOD_IMAGE"),
		http:    &http.Client{Timeout: 15 * time.Second},
		scheme:  "http",
		ports:   map[string]string{},
		ids:     map[string]string{},
	}
	if c.project == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.project = "dynamode2e" + hex.EncodeToString(b[:])
	}
	if c.image == "" {
		c.image = "dynamod:dev"
	}
	if _, err := c.docker("image", "inspect", "--format", "{{.Id}}", c.image); err != nil {
		t.Fatalf("image %s not found: build it with `make docker` (or run scripts/compose-e2e.sh): %v", c.image, err)
	}
	t.Cleanup(c.down)
	// Ephemeral host ports: several runs (and a demo cluster) can coexist.
	start := time.Now()
	if out, err := c.composeCmd("up", "-d"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	for _, s := range services {
		c.waitHealthy(s, 60*time.Second)
	}
	if setup != nil {
		setup(c)
	}
	// A node that joins while another does can miss that one's entry in the
	// cluster state until the next push-pull (30 s), though memberlist sees
	// it alive: hence the long wait.
	for _, s := range services {
		c.waitAlive(s, services, nil, 90*time.Second)
	}
	// New members serve once they have received their partitions.
	for _, s := range services {
		c.waitSteady(s, 60*time.Second)
	}
	net, err := c.docker("inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", c.id(services[0]))
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(net); len(f) != 1 {
		t.Fatalf("want one network on %s, got %q", services[0], net)
	} else {
		c.network = f[0]
	}
	t.Logf("project %s: %d nodes up and alive in %v (image %s, network %s)",
		c.project, len(services), time.Since(start).Round(time.Second), c.image, c.network)
	return c
}

// composeCommand returns "docker compose" where the v2 plugin answers and
// "docker-compose" (v1) otherwise.
func composeCommand(t *testing.T) []string {
	if err := exec.Command("docker", "compose", "version").Run(); err == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	t.Fatal("neither `docker compose` nor `docker-compose` is installed")
	return nil
}

func (c *cluster) down() {
	if c.t.Failed() {
		out, _ := c.composeCmd("logs", "--no-color", "--tail=60")
		c.t.Logf("--- compose logs (last 60 lines per node) ---\n%s", out)
	}
	if os.Getenv("DYNAMOD_COMPOSE_KEEP") == "1" {
		c.t.Logf("DYNAMOD_COMPOSE_KEEP=1: project %s left running", c.project)
		return
	}
	if out, err := c.composeCmd("down", "-v", "--remove-orphans", "-t", "5"); err != nil {
		c.t.Errorf("compose down: %v\n%s", err, out)
	}
}

// run runs a command with a deadline and returns its combined output.
func run(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(out.String()), err
}

func (c *cluster) docker(args ...string) (string, error) {
	return run(60*time.Second, nil, "docker", args...)
}

func (c *cluster) composeCmd(args ...string) (string, error) {
	full := slices.Clone(c.compose[1:])
	full = append(full, "-p", c.project)
	for _, f := range c.files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return "", err
		}
		full = append(full, "-f", abs)
	}
	full = append(full, args...)
	env := []string{"DYNAMOD_IMAGE=" + c.image}
	for i := 1; i <= 5; i++ {
		env = append(env, fmt.Sprintf("DYNAMOD_N%d_PORT=", i)) // empty: a free port
	}
	return run(3*time.Minute, env, c.compose[0], full...)
}

// id returns a service's container id.
func (c *cluster) id(svc string) string {
	c.t.Helper()
	c.mu.Lock()
	id, ok := c.ids[svc]
	c.mu.Unlock()
	if ok {
		return id
	}
	out, err := c.composeCmd("ps", "-q", svc)
	if err != nil || out == "" {
		c.t.Fatalf("no container for %s: %v %s", svc, err, out)
	}
	c.mu.Lock()
	c.ids[svc] = out
	c.mu.Unlock()
	return out
}

// url returns the base URL of a service's published client port. Ports are
// looked up again after every disconnect, reconnect and restart.
func (c *cluster) url(svc string) string {
	c.t.Helper()
	c.mu.Lock()
	p, ok := c.ports[svc]
	c.mu.Unlock()
	if !ok {
		out, err := c.docker("port", c.id(svc), "7070/tcp")
		if err != nil {
			c.t.Fatalf("published port of %s: %v", svc, err)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "127.0.0.1:") {
				p = l
			}
		}
		if p == "" {
			c.t.Fatalf("%s publishes no 127.0.0.1 port: %q", svc, out)
		}
		c.mu.Lock()
		c.ports[svc] = p
		c.mu.Unlock()
	}
	return c.scheme + "://" + p
}

func (c *cluster) forgetPorts() {
	c.mu.Lock()
	clear(c.ports)
	c.mu.Unlock()
}

// exec runs the dynamod CLI inside a service's container, against the node
// itself: the way to reach a node cut off from the host.
func (c *cluster) exec(svc string, args ...string) (string, error) {
	all := []string{"exec"}
	for _, e := range c.execEnv {
		all = append(all, "-e", e)
	}
	all = append(all, c.id(svc), "/dynamod")
	return run(30*time.Second, nil, "docker", append(all, args...)...)
}

// disconnect cuts a node off the cluster network: it can reach nobody and
// nobody (not even the host, through its published port) can reach it.
func (c *cluster) disconnect(svc string) {
	c.t.Helper()
	if out, err := c.docker("network", "disconnect", c.network, c.id(svc)); err != nil {
		c.t.Fatalf("%v: %s", err, out)
	}
	c.forgetPorts()
}

// reconnect puts a node back, under its service name.
func (c *cluster) reconnect(svc string) {
	c.t.Helper()
	if out, err := c.docker("network", "connect", "--alias", svc, c.network, c.id(svc)); err != nil {
		c.t.Fatalf("%v: %s", err, out)
	}
	c.forgetPorts()
}

// eventually polls f, every interval, until it returns "" or timeout passes.
func (c *cluster) eventually(what string, timeout, interval time.Duration, f func() string) {
	c.t.Helper()
	start := time.Now()
	last := ""
	for attempt := 0; attempt < 1000; attempt++ {
		if last = f(); last == "" {
			c.t.Logf("%s: after %v", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Since(start)+interval > timeout {
			break
		}
		time.Sleep(interval)
	}
	c.t.Fatalf("%s: not within %v: %s", what, timeout, last)
}

func (c *cluster) waitHealthy(svc string, timeout time.Duration) {
	c.t.Helper()
	c.eventually(svc+" healthy", timeout, time.Second, func() string {
		out, err := c.docker("inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", c.id(svc))
		if err != nil {
			return err.Error()
		}
		if out != "running healthy" {
			return svc + " is " + out
		}
		return ""
	})
}

// clusterDoc is GET /cluster, the document the server fills.
type clusterDoc = client.ClusterStatus

// waitSteady waits until svc sees every member joined and no transfer
// pending.
func (c *cluster) waitSteady(svc string, timeout time.Duration) {
	c.t.Helper()
	c.eventually(svc+" sees the cluster steady", timeout, time.Second, func() string {
		doc, err := c.view(svc)
		if err != nil {
			return err.Error()
		}
		for _, m := range doc.Members {
			if m.Status != "joined" {
				return fmt.Sprintf("%s sees %s %s", svc, m.Name, m.Status)
			}
		}
		if !doc.Steady {
			return svc + ": transfers pending"
		}
		return ""
	})
}

// view reads svc's /cluster through the CLI inside its container, which
// works whether or not the node is cut off.
func (c *cluster) view(svc string) (clusterDoc, error) {
	var doc clusterDoc
	out, err := c.exec(svc, "status", "--json")
	if err != nil {
		return doc, fmt.Errorf("%w: %s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return doc, fmt.Errorf("status of %s: %w: %s", svc, err, out)
	}
	return doc, nil
}

// waitAlive waits until svc sees exactly the members in alive as alive and
// those in notAlive as anything else.
func (c *cluster) waitAlive(svc string, alive, notAlive []string, timeout time.Duration) {
	c.t.Helper()
	what := fmt.Sprintf("%s sees %v alive", svc, alive)
	if len(notAlive) > 0 {
		what += fmt.Sprintf(", %v not", notAlive)
	}
	start := time.Now()
	defer func() {
		// A slow view is worth a look even when it comes in time.
		if d := time.Since(start); d > 15*time.Second && !c.t.Failed() {
			out, _ := c.composeCmd("logs", "--no-color", "--tail=40", svc)
			c.t.Logf("%s took %v; last log lines of %s:\n%s", what, d.Round(time.Second), svc, out)
		}
	}()
	c.eventually(what, timeout, time.Second, func() string {
		doc, err := c.view(svc)
		if err != nil {
			return err.Error()
		}
		got := map[string]string{}
		for _, m := range doc.Members {
			got[m.Name] = m.Liveness
		}
		for _, n := range alive {
			if got[n] != "alive" {
				return fmt.Sprintf("%s sees %s %q", svc, n, got[n])
			}
		}
		for _, n := range notAlive {
			if got[n] == "alive" {
				return fmt.Sprintf("%s still sees %s alive", svc, n)
			}
		}
		return ""
	})
}

// hints sums the pending hints of the given nodes.
func (c *cluster) hints(svcs ...string) (int, error) {
	total := 0
	for _, s := range svcs {
		doc, err := c.view(s)
		if err != nil {
			return 0, err
		}
		total += doc.HintsPending
	}
	return total, nil
}

// state is what one read of a key returned.
type state struct {
	Status  int      // 200, 300 or 404
	Deleted bool     // a tombstone 404
	Context string   // Dynamod-Context
	Values  []string // live sibling values, sorted
	IDs     []string // sibling ids, sorted
}

func (s state) String() string {
	if s.Status == 404 {
		return fmt.Sprintf("404 deleted=%v", s.Deleted)
	}
	return fmt.Sprintf("%d %q", s.Status, s.Values)
}

// same reports whether two reads saw the same replica state.
func (s state) same(o state) bool {
	return s.Status == o.Status && s.Deleted == o.Deleted && s.Context == o.Context &&
		slices.Equal(s.Values, o.Values) && slices.Equal(s.IDs, o.IDs)
}

// get reads a key through svc's published port; r is the read quorum ("" for
// the bucket's default).
func (c *cluster) get(svc, key, r string) (state, error) {
	u := c.url(svc) + "/kv/" + bucket + "/" + url.PathEscape(key)
	if r != "" {
		u += "?r=" + r
	}
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return state{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return state{}, fmt.Errorf("GET %s via %s: %w", key, svc, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return state{}, err
	}
	s := state{Status: resp.StatusCode, Context: resp.Header.Get("Dynamod-Context")}
	switch resp.StatusCode {
	case 200:
		s.Values = []string{string(body)}
		s.IDs = []string{strings.Trim(resp.Header.Get("Etag"), `"`)}
	case 300:
		var doc struct {
			Context  string `json:"context"`
			Siblings []struct {
				ID      string `json:"id"`
				Value   []byte `json:"value"`
				Deleted bool   `json:"deleted"`
			} `json:"siblings"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return s, fmt.Errorf("GET %s via %s: 300 body: %w", key, svc, err)
		}
		for _, sib := range doc.Siblings {
			s.IDs = append(s.IDs, sib.ID)
			if !sib.Deleted {
				s.Values = append(s.Values, string(sib.Value))
			}
		}
	case 404:
		s.Deleted = resp.Header.Get("Dynamod-Deleted") == "true"
	default:
		return s, fmt.Errorf("GET %s via %s: %d %s", key, svc, resp.StatusCode, body)
	}
	slices.Sort(s.Values)
	slices.Sort(s.IDs)
	return s, nil
}

// put writes a key through svc's published port with the default quorums.
// It reports whether the write was acknowledged (204).
func (c *cluster) put(svc, key, value, vctx string) error {
	req, err := http.NewRequest("PUT", c.url(svc)+"/kv/"+bucket+"/"+url.PathEscape(key), strings.NewReader(value))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain")
	if vctx != "" {
		req.Header.Set("Dynamod-Context", vctx)
	}
	return c.send(req, svc, key)
}

func (c *cluster) del(svc, key, vctx string) error {
	req, err := http.NewRequest("DELETE", c.url(svc)+"/kv/"+bucket+"/"+url.PathEscape(key), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Dynamod-Context", vctx)
	return c.send(req, svc, key)
}

func (c *cluster) send(req *http.Request, svc, key string) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s via %s: %w", req.Method, key, svc, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 204 {
		return fmt.Errorf("%s %s via %s: %d %s", req.Method, key, svc, resp.StatusCode, body)
	}
	return nil
}

// execPut writes through the CLI inside svc's container with w=1: the way a
// client on the minority side of a partition gets a write acknowledged.
func (c *cluster) execPut(svc, key, value, vctx string) error {
	args := []string{"put", bucket, key, value, "-w", "1"}
	if vctx != "" {
		args = append(args, "--context", vctx)
	}
	if out, err := c.exec(svc, args...); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// execGet reads through the CLI inside svc's container with r=1.
func (c *cluster) execGet(svc, key string) ([]string, error) {
	out, err := c.exec(svc, "get", bucket, key, "-r", "1", "--json")
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	var obj struct {
		Siblings []struct {
			Value   []byte
			Deleted bool
		}
	}
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		return nil, fmt.Errorf("get %s in %s: %w: %s", key, svc, err, out)
	}
	var vs []string
	for _, s := range obj.Siblings {
		if !s.Deleted {
			vs = append(vs, string(s.Value))
		}
	}
	slices.Sort(vs)
	return vs, nil
}

// model is what the cluster must hold: for every key, the live values of
// its acknowledged writes that no later acknowledged write superseded (nil
// for a deleted key).
type model map[string][]string

func (m model) set(key string, values ...string) {
	vs := slices.Clone(values)
	slices.Sort(vs)
	m[key] = vs
}

// converged polls every key through every node with r=1 until each node
// answers what the model says and all of them the same state (same context,
// same sibling ids). Reads repair what they find behind, so polling is
// itself part of the convergence, as for any client.
func (c *cluster) converged(what string, m model, nodes []string, timeout time.Duration) {
	c.t.Helper()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rounds := 0
	c.eventually(what, timeout, 2*time.Second, func() string {
		rounds++
		var problems []string
		for _, k := range keys {
			want := m[k]
			var first state
			for i, n := range nodes {
				s, err := c.get(n, k, "1")
				if err != nil {
					problems = append(problems, err.Error())
					continue
				}
				switch {
				case want == nil && (s.Status != 404 || !s.Deleted):
					problems = append(problems, fmt.Sprintf("%s via %s: %v, want a tombstone", k, n, s))
				case want != nil && !slices.Equal(s.Values, want):
					problems = append(problems, fmt.Sprintf("%s via %s: %v, want %q", k, n, s, want))
				case i > 0 && !s.same(first):
					problems = append(problems, fmt.Sprintf("%s: %s and %s answer different states (contexts %s, %s)", k, nodes[0], n, first.Context, s.Context))
				}
				if i == 0 {
					first = s
				}
			}
		}
		if len(problems) > 0 {
			return fmt.Sprintf("round %d: %d problems, first ones: %s", rounds, len(problems), strings.Join(problems[:min(len(problems), 6)], "; "))
		}
		return ""
	})
	c.t.Logf("%s: %d keys agree on %v (%d polling rounds)", what, len(keys), nodes, rounds)
}

// mustGet reads a key through svc with the default quorum.
func (c *cluster) mustGet(svc, key string) state {
	c.t.Helper()
	s, err := c.get(svc, key, "")
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

func (c *cluster) mustPut(svc, key, value, vctx string) {
	c.t.Helper()
	if err := c.put(svc, key, value, vctx); err != nil {
		c.t.Fatal(err)
	}
}

// TestPartitionHealKill is the scenario of the demo, asserted: one node is
// cut off with docker network disconnect, both sides take writes, the
// partition heals, the concurrent writes come back as siblings and are
// resolved; then a node is killed with docker kill, writes go on, and it
// catches up after docker start.
func TestPartitionHealKill(t *testing.T) {
	all := []string{"n1", "n2", "n3"}
	c := up(t, threeNodes, all...)
	m := model{}

	// Healthy cluster: writes through every node, readable through every
	// node.
	for i := range 12 {
		k, v := fmt.Sprintf("pre-%d", i), fmt.Sprintf("pre-value-%d", i)
		c.mustPut(all[i%3], k, v, "")
		m.set(k, v)
	}
	c.mustPut("n1", "cart", "base", "")
	m.set("cart", "base")
	c.mustPut("n2", "solo", "solo-0", "")
	m.set("solo", "solo-0")
	c.mustPut("n3", "solo-min", "solo-min-0", "")
	m.set("solo-min", "solo-min-0")
	c.converged("healthy cluster", m, all, 30*time.Second)
	// A json-set-union bucket: its siblings are merged on the server.
	c.setResolver("n1", "carts", "json-set-union")
	c.putIn("n1", "carts", "alice", `["base"]`, "", false)
	union0 := c.getIn("n2", "carts", "alice").Context
	// Data types (types_test.go): a counter and a cart as a set.
	dt := c.typesBefore()
	cart0 := c.mustGet("n2", "cart").Context
	solo0 := c.mustGet("n1", "solo").Context
	soloMin0 := c.mustGet("n2", "solo-min").Context

	// Partition: n3 alone on one side, n1 and n2 on the other.
	t.Log("partition: docker network disconnect n3")
	c.disconnect("n3")
	c.waitAlive("n1", []string{"n1", "n2"}, []string{"n3"}, 45*time.Second)
	c.waitAlive("n2", []string{"n1", "n2"}, []string{"n3"}, 45*time.Second)
	c.waitAlive("n3", []string{"n3"}, []string{"n1", "n2"}, 45*time.Second)

	// Majority side: default quorums (w=2 of 3) still succeed.
	c.mustPut("n1", "cart", "cart-left", cart0)
	c.mustPut("n2", "blind", "blind-left", "")
	c.mustPut("n2", "solo", "solo-1", solo0)
	for i := range 10 {
		k, v := fmt.Sprintf("maj-%d", i), fmt.Sprintf("maj-value-%d", i)
		c.mustPut([]string{"n1", "n2"}[i%2], k, v, "")
		m.set(k, v)
	}
	// Minority side: through the CLI inside n3, with w=1.
	for _, w := range []struct{ key, value, ctx string }{
		{"cart", "cart-right", cart0},
		{"blind", "blind-right", ""},
		{"solo-min", "solo-min-1", soloMin0},
	} {
		if err := c.execPut("n3", w.key, w.value, w.ctx); err != nil {
			t.Fatalf("minority write: %v", err)
		}
	}
	for i := range 10 {
		k, v := fmt.Sprintf("min-%d", i), fmt.Sprintf("min-value-%d", i)
		if err := c.execPut("n3", k, v, ""); err != nil {
			t.Fatalf("minority write: %v", err)
		}
		m.set(k, v)
	}
	// Both sides add to the union cart, each with the context it read.
	c.putIn("n1", "carts", "alice", `["base","left"]`, union0, false)
	c.putIn("n3", "carts", "alice", `["base","right"]`, union0, true)
	dt.partitioned()

	// The partition is real: each side sees only its own write.
	if got := c.mustGet("n1", "cart"); !slices.Equal(got.Values, []string{"cart-left"}) {
		t.Fatalf("majority side reads cart as %v, want only cart-left", got)
	}
	if got, err := c.execGet("n3", "cart"); err != nil || !slices.Equal(got, []string{"cart-right"}) {
		t.Fatalf("minority side reads cart as %q (%v), want only cart-right", got, err)
	}
	m.set("cart", "cart-left", "cart-right")    // concurrent: both descend base
	m.set("blind", "blind-left", "blind-right") // concurrent blind writes
	m.set("solo", "solo-1")                     // one side only: no sibling
	m.set("solo-min", "solo-min-1")

	// Heal: hinted handoff (both sides kept hints for the other) and read
	// repair bring the replicas together.
	t.Log("heal: docker network connect n3")
	c.reconnect("n3")
	for _, n := range all {
		c.waitAlive(n, all, nil, 60*time.Second)
	}
	c.eventually("hints delivered after the heal", 60*time.Second, time.Second, func() string {
		h, err := c.hints(all...)
		if err != nil {
			return err.Error()
		}
		if h != 0 {
			return fmt.Sprintf("%d hints pending", h)
		}
		return ""
	})
	c.converged("after the heal", m, all, 60*time.Second)
	dt.converged("after the heal", all)

	// The union cart reads back as one merged value on every node.
	for _, n := range all {
		c.eventually("union cart merged on "+n, 30*time.Second, 500*time.Millisecond, func() string {
			got := c.getIn(n, "carts", "alice")
			if len(got.Values) != 1 || got.Values[0] != `["base","left","right"]` {
				return fmt.Sprintf("%s reads the cart as %q", n, got.Values)
			}
			return ""
		})
	}

	// Resolve the siblings: write the merge with the context of the read.
	sib := c.mustGet("n3", "cart")
	if sib.Status != 300 || len(sib.IDs) != 2 {
		t.Fatalf("cart after the heal: %v with %d siblings, want 300 with 2", sib, len(sib.IDs))
	}
	c.mustPut("n3", "cart", "cart-left+cart-right", sib.Context)
	m.set("cart", "cart-left+cart-right")
	blind := c.mustGet("n1", "blind")
	if err := c.execPut("n2", "blind", "blind-merged", blind.Context); err != nil {
		t.Fatal(err)
	}
	m.set("blind", "blind-merged")
	c.converged("after resolving the siblings", m, all, 30*time.Second)

	// docker kill n2 (SIGKILL; the restart policy does not apply to a
	// kill): writes go on with n1 and n3 and leave hints for n2.
	t.Log("docker kill n2")
	if out, err := c.docker("kill", c.id("n2")); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c.forgetPorts()
	for i := range 20 {
		k, v := fmt.Sprintf("down-%d", i), fmt.Sprintf("down-value-%d", i)
		c.mustPut([]string{"n1", "n3"}[i%2], k, v, "")
		m.set(k, v)
	}
	dt.nodeDown("n1", "n3")
	cart := c.mustGet("n1", "cart")
	c.mustPut("n1", "cart", "cart-final", cart.Context)
	m.set("cart", "cart-final")
	pre0 := c.mustGet("n3", "pre-0")
	if err := c.del("n3", "pre-0", pre0.Context); err != nil {
		t.Fatal(err)
	}
	m["pre-0"] = nil
	// A replica call that fails after the write was acknowledged leaves
	// its hint a moment later.
	c.eventually("hints kept for the killed node", 30*time.Second, time.Second, func() string {
		h, err := c.hints("n1", "n3")
		if err != nil {
			return err.Error()
		}
		if h == 0 {
			return "no hints pending on n1 and n3"
		}
		return ""
	})

	t.Log("docker start n2")
	if out, err := c.docker("start", c.id("n2")); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c.waitHealthy("n2", 60*time.Second)
	for _, n := range all {
		c.waitAlive(n, all, nil, 60*time.Second)
	}
	c.eventually("n2 caught up by hinted handoff", 60*time.Second, time.Second, func() string {
		h, err := c.hints(all...)
		if err != nil {
			return err.Error()
		}
		if h != 0 {
			return fmt.Sprintf("%d hints pending", h)
		}
		return ""
	})
	if out, err := c.exec("n2", "status"); err == nil {
		t.Logf("dynamod status on n2:\n%s", out)
	}
	c.converged("after the restart", m, all, 60*time.Second)
	dt.converged("after the restart", all)
}

// TestFiveNodes brings up the 5-node variant (docker-compose.yml plus
// docker-compose.5nodes.yml): every node joins, and a write through any
// node is read through every other.
func TestFiveNodes(t *testing.T) {
	all := []string{"n1", "n2", "n3", "n4", "n5"}
	c := up(t, fiveNodes, all...)
	m := model{}
	for i := range 20 {
		k, v := fmt.Sprintf("five-%d", i), fmt.Sprintf("five-value-%d", i)
		c.mustPut(all[i%5], k, v, "")
		m.set(k, v)
	}
	c.converged("five nodes", m, all, 30*time.Second)
	// With five members a key has three primaries and two other nodes.
	resp, err := c.http.Get(c.url("n4") + "/cluster/preflist/" + bucket + "/five-0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pl client.Preflist
	if err := json.NewDecoder(resp.Body).Decode(&pl); err != nil || len(pl.Primaries) != 3 {
		t.Fatalf("preflist of five-0: %+v (%v), want 3 primaries", pl, err)
	}
}

// setResolver sets a bucket's resolver through svc and waits until every
// node's properties show it (they travel by gossip).
func (c *cluster) setResolver(svc, b, resolver string) {
	c.t.Helper()
	c.setProps(svc, b, fmt.Sprintf(`{"resolver":%q}`, resolver), resolver)
}

// setProps PUTs a bucket's properties (a JSON document) through svc and
// waits until every node's properties contain want.
func (c *cluster) setProps(svc, b, body, want string) {
	c.t.Helper()
	req, err := http.NewRequest("PUT", c.url(svc)+"/buckets/"+url.PathEscape(b)+"/props", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 204 && resp.StatusCode != 200 {
		c.t.Fatalf("set props of %s to %s: %d %s", b, body, resp.StatusCode, out)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		c.eventually("props of "+b+" on "+n, 30*time.Second, 200*time.Millisecond, func() string {
			resp, err := c.http.Get(c.url(n) + "/buckets/" + url.PathEscape(b) + "/props")
			if err != nil {
				return err.Error()
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), want) {
				return string(body)
			}
			return ""
		})
	}
}

// putIn writes a JSON value to bucket b; with exec it goes through the CLI
// inside svc's container with w=1 (the minority side of a partition).
func (c *cluster) putIn(svc, b, key, value, vctx string, exec bool) {
	c.t.Helper()
	if exec {
		args := []string{"put", b, key, value, "-w", "1", "--content-type", "application/json"}
		if vctx != "" {
			args = append(args, "--context", vctx)
		}
		if out, err := c.exec(svc, args...); err != nil {
			c.t.Fatalf("put %s/%s in %s: %v: %s", b, key, svc, err, out)
		}
		return
	}
	req, err := http.NewRequest("PUT", c.url(svc)+"/kv/"+url.PathEscape(b)+"/"+url.PathEscape(key), strings.NewReader(value))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if vctx != "" {
		req.Header.Set("Dynamod-Context", vctx)
	}
	if err := c.send(req, svc, key); err != nil {
		c.t.Fatal(err)
	}
}

// getIn reads bucket b's key through svc with the default quorums.
func (c *cluster) getIn(svc, b, key string) state {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.url(svc)+"/kv/"+url.PathEscape(b)+"/"+url.PathEscape(key), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	st := state{Status: resp.StatusCode, Context: resp.Header.Get("Dynamod-Context")}
	switch resp.StatusCode {
	case 200:
		st.Values = []string{string(body)}
	case 300:
		var doc struct {
			Siblings []struct{ Value []byte } `json:"siblings"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			c.t.Fatal(err)
		}
		for _, sb := range doc.Siblings {
			st.Values = append(st.Values, string(sb.Value))
		}
	default:
		c.t.Fatalf("get %s/%s via %s: %d %s", b, key, svc, resp.StatusCode, body)
	}
	return st
}
