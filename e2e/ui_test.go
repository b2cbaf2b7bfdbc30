package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium tab driven over the DevTools protocol,
// with what the page logged.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab's; its first use started the browser

	mu       sync.Mutex
	problems []string // uncaught exceptions and CSP violations: each fails the test
	console  []string // everything else the page logged, shown on failure
}

// chromiumPath finds Debian's chromium (or chromium-browser). None: the
// test is skipped, but fails under CI=true, where .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium in PATH: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("no chromium in PATH (apt-get install chromium); the browser tests need it")
	return ""
}

// newBrowser starts a headless Chromium for t with a 1280×1000 window.
// On failure a screenshot of the page goes to $DYNAMOD_UI_ARTIFACTS (or a
// new directory under the system's temporary one, kept), its path logged.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in a container has no user namespace for the sandbox
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("user-data-dir", t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancelTab)
	// The first action starts the browser; it must not run under a
	// timeout context, which would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs before the tab is cancelled
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("the page: %s", p)
		}
		if t.Failed() {
			b.screenshot("failure")
			if len(b.console) > 0 {
				t.Logf("--- the page's console ---\n%s", strings.Join(b.console, "\n"))
			}
		}
	})
	return b
}

// record keeps what the page logged. It runs on the tab's reader
// goroutine: it only appends.
func (b *browser) record(ev any) {
	var problem, note string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		problem = "uncaught exception: " + d.Text
		if d.Exception != nil {
			problem += " " + d.Exception.Description
		}
		problem += fmt.Sprintf(" at %s:%d", d.URL, d.LineNumber+1)
	case *log.EventEntryAdded:
		e := ev.Entry
		note = fmt.Sprintf("%s %s: %s", e.Level, e.Source, e.Text)
		if strings.Contains(e.Text, "Content Security Policy") {
			problem = note
		}
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			args = append(args, string(a.Value)+a.Description)
		}
		note = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if problem != "" {
		b.problems = append(b.problems, problem)
	}
	if note != "" && len(b.console) < 500 {
		b.console = append(b.console, note)
	}
}

// screenshot saves the whole page as NAME.png and logs where.
func (b *browser) screenshot(name string) {
	dir := os.Getenv("DYNAMOD_UI_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "dynamod-ui-"); err != nil {
			b.t.Logf("screenshot: %v", err)
			return
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	file := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name())+"-"+name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot of the page: %s", file)
}

// artifact saves a screenshot named name when $DYNAMOD_UI_ARTIFACTS is
// set, to look at the page at a step of a passing test.
func (b *browser) artifact(name string) {
	if os.Getenv("DYNAMOD_UI_ARTIFACTS") != "" {
		b.screenshot(name)
	}
}

// do runs actions with a short deadline.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression and decodes its value into T.
func eval[T any](b *browser, js string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// waitJS evaluates js (a string expression: "" when done, else why not)
// every 200 ms until it returns "" or timeout passes.
func (b *browser) waitJS(timeout time.Duration, js string) time.Duration {
	b.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	why := ""
	for time.Now().Before(deadline) {
		got, err := eval[string](b, js)
		if err == nil && got == "" {
			return time.Since(start)
		}
		why = got
		if err != nil {
			why = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.t.Fatalf("after %v: %s", timeout, why)
	return 0
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// membersJS is "" when the dashboard lists exactly want as members with
// the given liveness ("" any), else what it shows.
func membersJS(want []string, liveness map[string]string) string {
	if liveness == nil {
		liveness = map[string]string{}
	}
	w, _ := json.Marshal(want)
	l, _ := json.Marshal(liveness)
	return `(() => {
		const want = ` + string(w) + `, live = ` + string(l) + `;
		const rows = [...document.querySelectorAll('tr[data-member]')];
		const got = rows.map((r) => r.dataset.member + ':' + r.dataset.liveness);
		const names = rows.map((r) => r.dataset.member).sort();
		if (names.join(',') !== want.slice().sort().join(',')) return 'members listed: ' + (got.join(', ') || 'none');
		for (const r of rows) {
			const l = live[r.dataset.member];
			if (l && r.dataset.liveness !== l) return r.dataset.member + ' is ' + r.dataset.liveness + ', want ' + l + '; rows: ' + got.join(', ');
		}
		return '';
	})()`
}

// TestUI_dashboard loads the dashboard of a 3-node cluster in a real
// browser and checks what an operator relies on: every member is listed;
// a bad bucket property is refused with the node's validation error shown
// next to the form (and nothing changes); a 4th node's join is drawn as
// transfers on the ring; a node killed with SIGKILL is marked dead within
// the failure-detection time.
func TestUI_dashboard(t *testing.T) {
	needBinary(t)
	b := newBrowser(t)
	flags := []string{"--partitions", "64", "--release-delay", "1s"}
	ps := startCluster(t, 3, flags...)
	n1 := ps[0]

	// Enough data that the 4th node's transfers, throttled to 16 KiB/s,
	// last well beyond a poll: ~1.5 MiB, of which it receives about 3/4.
	value := strings.Repeat("x", 4096)
	for i := range 400 {
		p := ps[i%3]
		if resp, body := do(t, "PUT", fmt.Sprintf("%s/kv/b/k%03d", p.url(), i), value, nil); resp.StatusCode != 204 {
			t.Fatalf("PUT k%03d: %d %s", i, resp.StatusCode, body)
		}
	}

	b.do("open the dashboard", chromedp.Navigate(n1.url()+"/ui/"))
	took := b.waitJS(10*time.Second, membersJS([]string{"n1", "n2", "n3"}, map[string]string{"n1": "alive", "n2": "alive", "n3": "alive"}))
	t.Logf("members listed after %v", took)
	if s, err := eval[string](b, `document.getElementById('node-name').textContent`); err != nil || s != "n1" {
		t.Errorf("header names node %q (%v), want n1", s, err)
	}
	// The ring is drawn in owners' colours (the /cluster "ring" field).
	b.waitJS(5*time.Second, `document.querySelectorAll('#ring path.arc[data-owner]').length > 0 ? '' : 'no owner arcs on the ring'`)

	// A bad value: n_val 0. The node's 400 lists the problem; the page
	// shows it next to the form and marks the field.
	b.do("load bucket b's properties", chromedp.Evaluate[chromedp.Void](`(() => {
		document.getElementById('props-bucket').value = 'b';
		document.getElementById('props-load').requestSubmit();
	})()`))
	b.waitJS(5*time.Second, `document.getElementById('prop-n_val') ? '' : 'no n_val field'`)
	b.do("submit n_val 0", chromedp.Evaluate[chromedp.Void](`(() => {
		const f = document.getElementById('prop-n_val');
		f.value = '0';
		f.dispatchEvent(new Event('input'));
		document.getElementById('props-save').click();
	})()`))
	b.waitJS(5*time.Second, `(() => {
		const e = document.querySelector('[data-props-error]');
		if (!e || e.hidden || !e.textContent.includes('n_val')) return 'error shown: ' + (e ? JSON.stringify(e.textContent) : 'none');
		const f = document.getElementById('prop-n_val');
		return f.getAttribute('aria-invalid') === 'true' ? '' : 'n_val field not marked invalid';
	})()`)
	if _, body := do(t, "GET", n1.url()+"/buckets/b/props", "", nil); !strings.Contains(body, `"n_val":3`) {
		t.Errorf("after the refused change, props are %s", body)
	}

	// A 4th node joins, receiving slowly: its transfers are drawn as
	// arrows into it.
	n4 := newProc(t, "n4", flags...)
	n4.start("--join", n1.gossipAddr(), "--transfer-rate", "16384")
	took = b.waitJS(30*time.Second, `(() => {
		const a = [...document.querySelectorAll('#ring [data-transfer]')];
		if (!a.length) return 'no transfer drawn; rows: ' + [...document.querySelectorAll('tr[data-member]')].map((r) => r.dataset.member + ' ' + r.dataset.status).join(', ');
		// Every arrow goes to n4, from a partition's other owner (none
		// named while its transfer waits for a source).
		const bad = a.find((p) => !/^\d+$/.test(p.dataset.transfer) || p.dataset.to !== 'n4' || p.dataset.from === 'n4');
		if (bad) return 'bad transfer element ' + bad.outerHTML.slice(0, 200);
		return document.querySelector('#transfers tr[data-transfer-row]') ? '' : 'no transfer row';
	})()`)
	t.Logf("transfers to n4 drawn after %v", took)
	b.artifact("transfers")

	// SIGKILL n3: within the failure-detection time (memberlist's probe
	// and suspicion, a few seconds on loopback) the page marks it dead.
	ps[2].kill()
	took = b.waitJS(30*time.Second, membersJS([]string{"n1", "n2", "n3", "n4"}, map[string]string{"n1": "alive", "n3": "dead"}))
	t.Logf("n3 marked dead %v after the kill", took)
	b.artifact("dead")
	if s, err := eval[string](b, `document.querySelector('tr[data-member="n3"] .badge').textContent`); err != nil || s != "dead" {
		t.Errorf("n3's badge reads %q (%v)", s, err)
	}

	// Dark and light: the theme button cycles auto, light, dark, and the
	// page's background follows (light: bright, dark: dark).
	luminance := `(() => {
		const m = getComputedStyle(document.body).backgroundColor.match(/\d+(\.\d+)?/g).map(Number);
		return String((0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255);
	})()`
	for _, want := range []struct {
		theme  string
		bright bool
	}{{"light", true}, {"dark", false}} {
		b.do("theme "+want.theme, chromedp.Evaluate[chromedp.Void](`(() => {
			for (let i = 0; i < 3 && document.documentElement.dataset.theme !== '`+want.theme+`'; i++) document.getElementById('theme').click();
		})()`))
		l, err := eval[string](b, luminance)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("theme %s: background luminance %s", want.theme, l)
		if lum, _ := strconv.ParseFloat(l, 64); (lum > 0.5) != want.bright {
			t.Errorf("theme %s: background luminance %s", want.theme, l)
		}
	}
	// A phone's width: nothing wider than the screen, every section there.
	b.do("phone", chromedp.EmulateViewport(390, 844))
	b.waitJS(5*time.Second, `(() => {
		const over = document.documentElement.scrollWidth - window.innerWidth;
		if (over > 1) return 'the page is ' + over + ' px wider than a 390 px screen';
		const missing = ['members-card', 'ring-card', 'stats-card', 'ae-card', 'pbs-card', 'props-card', 'find-card']
			.filter((id) => { const e = document.getElementById(id); return !e || e.getBoundingClientRect().width < 300; });
		return missing.length ? 'sections missing or squeezed: ' + missing.join(', ') : '';
	})()`)
	b.artifact("phone")
}

// TestUI_token: on a node that asks for tokens the page shows the token
// field; with a token it lists the members, and with one that lacks the
// cluster admin grant it says which grant is missing.
func TestUI_token(t *testing.T) {
	needBinary(t)
	b := newBrowser(t)
	ps := startCluster(t, 1)
	n1 := ps[0]
	out, code := cli(t, "token", "create", "--node", n1.adminURL(), "--name", "root", "--grant", "admin")
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, out)
	}
	root := tokenIn(t, out)
	out, code = cli(t, "token", "create", "--node", n1.adminURL(), "--name", "reader", "--grant", "read:b")
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, out)
	}
	reader := tokenIn(t, out)
	eventually(t, 5*time.Second, func() string {
		if resp, _ := do(t, "GET", n1.url()+"/cluster", "", nil); resp.StatusCode != http.StatusUnauthorized {
			return "/cluster without a token: " + resp.Status
		}
		return ""
	})

	b.do("open the dashboard", chromedp.Navigate(n1.url()+"/ui/"))
	b.waitJS(10*time.Second, `(() => {
		if (document.getElementById('auth').hidden) return 'no token field';
		return document.getElementById('members-error').textContent.includes('token') ? '' : 'members error: ' + document.getElementById('members-error').textContent;
	})()`)
	setToken := func(tok string) {
		b.do("enter a token", chromedp.Evaluate[chromedp.Void](`(() => {
			document.getElementById('token').value = `+js(tok)+`;
			document.getElementById('auth-form').requestSubmit();
		})()`))
	}
	setToken(reader)
	b.waitJS(10*time.Second, `(() => {
		const e = document.getElementById('members-error');
		return !e.hidden && e.textContent.includes('this token lacks the grant admin') ? '' : 'members error: ' + e.textContent;
	})()`)
	setToken(root)
	b.waitJS(10*time.Second, membersJS([]string{"n1"}, map[string]string{"n1": "alive"}))
	if s, err := eval[string](b, `sessionStorage.getItem('dynamod-token')`); err != nil || s != root {
		t.Errorf("sessionStorage keeps %q (%v), want the token", s, err)
	}
}

// TestUI_screenshot saves the picture of the dashboard that the README
// shows: a 3-node cluster under a little load, with siblings, a large
// object and tombstones for the finders. It runs only when asked, by hand:
//
//	DYNAMOD_UI_SCREENSHOT=docs/dashboard.png go test -run TestUI_screenshot ./e2e/
//
// (a relative path is taken from the repository's root). With
// DYNAMOD_UI_ARTIFACTS set it also saves the page dark and at a phone's
// width there, for review.
func TestUI_screenshot(t *testing.T) {
	out := os.Getenv("DYNAMOD_UI_SCREENSHOT")
	if out == "" {
		t.Skip("set DYNAMOD_UI_SCREENSHOT=docs/dashboard.png to save the README's screenshot")
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join("..", out) // go test runs in e2e/
	}
	needBinary(t)
	b := newBrowser(t)
	ps := startCluster(t, 3, "--ae-interval", "2s")
	url := func(i int) string { return ps[i%len(ps)].url() }

	for i := range 300 {
		if resp, body := do(t, "PUT", fmt.Sprintf("%s/kv/users/user-%04d", url(i), i), strings.Repeat("u", 200+i%900), nil); resp.StatusCode != 204 {
			t.Fatalf("PUT: %d %s", resp.StatusCode, body)
		}
	}
	for i := range 4 { // concurrent writes without a context: siblings
		for j := range 3 + i {
			do(t, "PUT", fmt.Sprintf("%s/kv/carts/cart-%d", url(j), i), fmt.Sprintf("item %d", j), nil)
		}
	}
	do(t, "PUT", url(0)+"/kv/media/poster.png", strings.Repeat("p", 300<<10), nil)
	for i := range 40 {
		do(t, "DELETE", fmt.Sprintf("%s/kv/users/user-%04d", url(i), i*7), "", nil)
	}
	setProps(t, ps[0], "sessions", `{"n_val":3,"r":1,"w":1}`)

	// Load for the sparklines: a few workers, bounded in time and count.
	stop := time.Now().Add(45 * time.Second)
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 5 * time.Second}
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 100000 && time.Now().Before(stop); i++ {
				// Writes make new keys (no siblings); reads and a few
				// deletes go to keys written before.
				method, body, key := "GET", "", i/4*4
				switch {
				case i%4 == 0:
					method, body = "PUT", strings.Repeat("s", 100+i%400)
				case i%97 == 0:
					method = "DELETE"
				}
				bucket := []string{"users", "sessions"}[i/4%2]
				req, _ := http.NewRequest(method, fmt.Sprintf("%s/kv/%s/k%d-%d", url(w+i), bucket, w, key), strings.NewReader(body))
				if resp, err := hc.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	defer wg.Wait()

	b.do("open the dashboard", chromedp.Navigate(ps[0].url()+"/ui/"))
	b.waitJS(10*time.Second, membersJS([]string{"n1", "n2", "n3"}, nil))
	b.do("load props, run the finder", chromedp.Evaluate[chromedp.Void](`(() => {
		document.getElementById('props-bucket').value = 'sessions';
		document.getElementById('props-load').requestSubmit();
		document.getElementById('pbs-bucket').value = 'sessions';
		document.getElementById('pbs-form').requestSubmit();
		document.getElementById('find-limit').value = '6';
		document.getElementById('find-form').requestSubmit();
	})()`))
	time.Sleep(time.Until(stop.Add(-5 * time.Second))) // let the sparklines fill
	b.do("rerun the finder", chromedp.Evaluate[chromedp.Void](`document.getElementById('find-form').requestSubmit()`))
	b.waitJS(10*time.Second, `(() => {
		if (document.getElementById('find-summary').textContent.startsWith('scanning')) return 'still scanning';
		return document.querySelectorAll('#find-rows tr').length > 0 ? '' : 'no finder rows';
	})()`)
	shot := func(file string) {
		ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("saved %s (%d KiB)", file, len(png)>>10)
	}
	shot(out)
	if dir := os.Getenv("DYNAMOD_UI_ARTIFACTS"); dir != "" {
		b.do("dark", chromedp.Evaluate[chromedp.Void](`document.documentElement.dataset.theme = 'dark'`))
		shot(filepath.Join(dir, "dashboard-dark.png"))
		b.do("phone", chromedp.EmulateViewport(390, 844))
		for _, card := range []string{"members-card", "ring-card", "stats-card", "ae-card", "pbs-card", "props-card", "find-card"} {
			ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
			png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID(card)))
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "phone-"+card+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
