package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it at cleanup (after the processes using it are killed: cleanups run in
// reverse order). Mounting needs root: without it the test is skipped,
// except under CI=true, where it fails.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs (needs root): %v: %s", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// diskValue is the value of the i-th key: 64 KiB that do not compress.
func diskValue(i int) string {
	r := rand.New(rand.NewPCG(uint64(i), 12))
	b := make([]byte, 64<<10)
	for j := range b {
		b[j] = 'a' + byte(r.IntN(26))
	}
	return string(b)
}

// TestDiskFull_refusesThenRecovers: a node whose data directory is on a
// small tmpfs that fills up answers writes with 503 while it is full,
// keeps serving what it stored, says why on /ready and in a metric; once
// space is back (a filler file is deleted) it takes writes again without a
// restart, and every write it acknowledged is still there.
func TestDiskFull_refusesThenRecovers(t *testing.T) {
	needBinary(t)
	mnt := mountTmpfs(t, 8<<20)
	// The filler takes most of the disk, so that it fills after a few MiB
	// of journal, and frees enough, once deleted, for the reopen to write
	// the journal to a table.
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 5<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newProc(t, "full")
	p.data = filepath.Join(mnt, "data")
	p.start()
	key := func(i int) string { return fmt.Sprintf("%s/kv/disk/k%03d", p.url(), i) }
	hdr := map[string]string{"Content-Type": "application/octet-stream"}

	// Fill the disk: every write answered 204 is acknowledged; the first
	// refused one must be a clean 503.
	acked := map[int]bool{}
	next := 0
	var full string
	for ; next < 200 && full == ""; next++ {
		resp, body := do(t, "PUT", key(next), diskValue(next), hdr)
		switch resp.StatusCode {
		case 204:
			acked[next] = true
		case 503:
			full = body
		default:
			// A 500 here means the coordinator returned its storage's error
			// as is: quorum's coordinate must answer storageRefused's 503.
			t.Fatalf("PUT %d while filling the disk: %d %s, want 204 or a clean 503", next, resp.StatusCode, body)
		}
	}
	if full == "" {
		t.Fatalf("%d writes of 64 KiB all taken on an 8 MiB disk", next)
	}
	if len(acked) == 0 {
		t.Fatal("no write was taken before the disk was full")
	}
	t.Logf("disk full after %d writes: %s", len(acked), full)

	// While full: writes are refused with 503, /ready says why, reads go
	// on, also once reopening has failed for want of space (the first
	// reopen is tried 1 s after the failure).
	eventually(t, 20*time.Second, func() string {
		if _, body := do(t, "GET", p.url()+"/ready", "", nil); !strings.Contains(body, "reopen attempts failed") {
			return "no failed reopen reported on /ready: " + body
		}
		return ""
	})
	for range 3 {
		resp, body := do(t, "PUT", key(next), diskValue(next), hdr)
		if resp.StatusCode != 503 {
			t.Fatalf("PUT while the disk is full: %d %s, want 503", resp.StatusCode, body)
		}
		next++
	}
	resp, body := do(t, "GET", p.url()+"/ready", "", nil)
	if resp.StatusCode != 503 || !strings.Contains(body, "storage refuses writes") || !strings.Contains(body, "no space left on device") {
		t.Fatalf("/ready while the disk is full: %d %s, want 503 naming the storage and the full disk", resp.StatusCode, body)
	}
	if m := p.metrics(t); !strings.Contains(m, "dynamod_storage_write_failed 1") {
		t.Fatalf("/metrics while the disk is full lacks dynamod_storage_write_failed 1")
	}
	for i := range acked {
		if resp, body := do(t, "GET", key(i), "", nil); resp.StatusCode != 200 || body != diskValue(i) {
			t.Fatalf("GET %d while the disk is full: %d (%d bytes), want 200 with the value", i, resp.StatusCode, len(body))
		}
		break // one is enough here; all are checked at the end
	}

	// Space is back: writes are taken again without a restart (reopens are
	// tried with doubling waits of up to 30 s).
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, func() string {
		resp, body := do(t, "PUT", key(next), diskValue(next), hdr)
		switch resp.StatusCode {
		case 204:
			acked[next] = true
			next++
			return ""
		case 503:
			next++
			return fmt.Sprintf("PUT still refused: %s", body)
		}
		t.Fatalf("PUT after space came back: %d %s", resp.StatusCode, body)
		return ""
	})
	for range 5 {
		resp, body := do(t, "PUT", key(next), diskValue(next), hdr)
		if resp.StatusCode != 204 {
			t.Fatalf("PUT after recovery: %d %s", resp.StatusCode, body)
		}
		acked[next] = true
		next++
	}
	if resp, body := do(t, "GET", p.url()+"/ready", "", nil); resp.StatusCode != 200 {
		t.Fatalf("/ready after recovery: %d %s", resp.StatusCode, body)
	}
	m := p.metrics(t)
	if !strings.Contains(m, "dynamod_storage_write_failed 0") || !strings.Contains(m, "dynamod_storage_reopens_total 1") {
		t.Fatalf("/metrics after recovery: want dynamod_storage_write_failed 0 and dynamod_storage_reopens_total 1")
	}
	// The engine's write figures span the reopen: the writes before the
	// failure and after it are counted.
	if !regexp.MustCompile(`(?m)^dynamod_storage_writes_total [1-9]`).MatchString(m) ||
		!regexp.MustCompile(`(?m)^dynamod_storage_write_seconds_total [0-9.e+-]+$`).MatchString(m) ||
		!regexp.MustCompile(`(?m)^dynamod_storage_slow_writes_total [0-9]+$`).MatchString(m) ||
		!regexp.MustCompile(`(?m)^dynamod_storage_level0_tables [0-9]+$`).MatchString(m) ||
		!strings.Contains(m, "dynamod_storage_writes_paused 0") {
		t.Fatalf("/metrics after recovery lacks the storage engine's write figures")
	}
	for i := range acked {
		if resp, body := do(t, "GET", key(i), "", nil); resp.StatusCode != 200 || body != diskValue(i) {
			t.Fatalf("acknowledged write %d: GET %d (%d bytes), want 200 with its value", i, resp.StatusCode, len(body))
		}
	}

	p.kill()
	if log := p.log.String(); !strings.Contains(log, "storage refuses writes after a write error") {
		t.Errorf("the log does not say that storage refuses writes:\n%s", log)
	}
}
