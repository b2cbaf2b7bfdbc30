// Package e2e runs real dynamod processes on 127.0.0.1 and checks what a
// user would see. The binary is built once per run by TestMain.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if testing.Short() {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "dynamod-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "dynamod")
		args := []string{"build", "-o", binary}
		if raceEnabled {
			args = append(args, "-race")
		}
		build := exec.Command("go", append(args, "../cmd/dynamod")...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build dynamod:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func needBinary(t testing.TB) {
	t.Helper()
	if testing.Short() || binary == "" {
		t.Skip("end-to-end tests need the binary; skipped with -short")
	}
}

// freePorts returns n distinct free TCP ports on 127.0.0.1 (free for UDP too,
// for gossip).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []io.Closer
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			l.Close()
			continue
		}
		lns = append(lns, l, u)
		ports = append(ports, port)
	}
	return ports
}

// proc is one dynamod serve process.
type proc struct {
	t                     testing.TB
	name, data            string
	httpPort, rpc, gossip int
	admin                 int  // the admin listener's port (/metrics, /admin/tokens)
	https                 bool // the client API speaks TLS (started with --http-tls-cert)
	extra                 []string

	mu  sync.Mutex
	cmd *exec.Cmd
	log *bytes.Buffer
}

func newProc(t testing.TB, name string, extra ...string) *proc {
	ports := freePorts(t, 4)
	return &proc{t: t, name: name, data: filepath.Join(t.TempDir(), name),
		httpPort: ports[0], rpc: ports[1], gossip: ports[2], admin: ports[3], extra: extra}
}

func (p *proc) url() string {
	if p.https {
		return fmt.Sprintf("https://127.0.0.1:%d", p.httpPort)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", p.httpPort)
}
func (p *proc) gossipAddr() string { return fmt.Sprintf("127.0.0.1:%d", p.gossip) }
func (p *proc) adminURL() string   { return fmt.Sprintf("http://127.0.0.1:%d", p.admin) }

// metrics returns the text of the node's /metrics, from its admin
// listener.
func (p *proc) metrics(t testing.TB) string {
	t.Helper()
	_, body := do(t, "GET", p.adminURL()+"/metrics", "", nil)
	return body
}

// start runs the process and waits until it is ready; t.Cleanup kills it.
func (p *proc) start(args ...string) {
	p.t.Helper()
	p.launch(args...)
	p.waitReady()
}

// launch runs the process without waiting for it; t.Cleanup kills it.
func (p *proc) launch(args ...string) {
	p.t.Helper()
	all := append([]string{"serve", "--name", p.name, "--data", p.data,
		"--http", fmt.Sprintf("127.0.0.1:%d", p.httpPort),
		"--rpc", fmt.Sprintf("127.0.0.1:%d", p.rpc),
		"--gossip", p.gossipAddr(), "--admin", fmt.Sprintf("127.0.0.1:%d", p.admin),
		"--log-level", "warn"}, p.extra...)
	all = append(all, args...)
	cmd := exec.Command(binary, all...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.cmd, p.log = cmd, &buf
	p.mu.Unlock()
	p.t.Cleanup(func() {
		p.kill()
		if strings.Contains(buf.String(), "WARNING: DATA RACE") {
			p.t.Errorf("%s: the race detector found a data race in the server", p.name)
		}
		if p.t.Failed() {
			p.t.Logf("--- %s log ---\n%s", p.name, buf.String())
		}
	})
}

func (p *proc) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	hc := http.DefaultClient
	if p.https { // readiness only: the tests check the certificate themselves
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	for time.Now().Before(deadline) {
		resp, err := hc.Get(p.url() + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s not ready after 20s", p.name)
}

// kill sends SIGKILL and waits.
func (p *proc) kill() {
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.t.Errorf("%s exited uncleanly: %v", p.name, err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		p.t.Errorf("%s did not stop within 20s", p.name)
	}
}

// cli runs a dynamod client subcommand and returns stdout and the exit code.
func cli(t testing.TB, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String() + errb.String(), code
}

// do sends one HTTP request.
func do(t testing.TB, method, url string, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	resp, b, err := tryDo(method, url, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, b
}

// tryDo sends one HTTP request and returns the error of one that got no
// answer.
func tryDo(method, url string, body string, hdr map[string]string) (*http.Response, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// eventually polls f until it returns "" or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if last = f(); last == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not within %v: %s", timeout, last)
}
