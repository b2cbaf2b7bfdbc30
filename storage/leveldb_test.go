package storage_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynamod/dynamod/storage"
)

func TestLevelDB_reopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	l, err := storage.OpenLevelDB(dir, storage.LevelDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Put([]byte("a"), []byte("1"), false); err != nil {
		t.Fatal(err)
	}
	var b storage.Batch
	b.Put([]byte("b"), []byte("2"))
	b.Put([]byte("c"), []byte("3"))
	b.Delete([]byte("a"))
	if err := l.Write(&b, true); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = storage.OpenLevelDB(dir, storage.LevelDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Get([]byte("a")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(a) = %v, want ErrNotFound", err)
	}
	for k, want := range map[string]string{"b": "2", "c": "3"} {
		if v, err := l.Get([]byte(k)); err != nil || string(v) != want {
			t.Fatalf("Get(%s) = %q, %v; want %q", k, v, err, want)
		}
	}
}

func TestLevelDB_lockedInProcess(t *testing.T) {
	dir := t.TempDir()
	l, err := storage.OpenLevelDB(dir, storage.LevelDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l2, err := storage.OpenLevelDB(dir, storage.LevelDBOptions{}); !errors.Is(err, storage.ErrLocked) {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("second open = %v, want ErrLocked", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = storage.OpenLevelDB(dir, storage.LevelDBOptions{})
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	l.Close()
}

// lockHelperEnv makes the test binary, run as a child, hold a database open
// until its stdin closes.
const lockHelperEnv = "DYNAMOD_STORAGE_LOCK_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(lockHelperEnv); dir != "" {
		l, err := storage.OpenLevelDB(dir, storage.LevelDBOptions{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		l.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLevelDB_lockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	l, err := storage.OpenLevelDB(dir, storage.LevelDBOptions{})
	if err == nil {
		l.Close()
	}
	stdin.Close()
	if werr := cmd.Wait(); werr != nil {
		t.Errorf("helper: %v", werr)
	}
	if !errors.Is(err, storage.ErrLocked) || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("open of a directory another process holds = %v, want ErrLocked", err)
	}
}

// fillLevelDB writes enough data to flush tables to disk and returns the
// keys it wrote.
func fillLevelDB(t *testing.T, dir string) []string {
	t.Helper()
	l, err := storage.OpenLevelDB(dir, storage.LevelDBOptions{WriteBufferSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	val := []byte(strings.Repeat("v", 1000))
	for i := range 1000 {
		k := fmt.Sprintf("key%05d", i)
		if err := l.Put([]byte(k), val, false); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestLevelDB_corruptManifestThenRecover(t *testing.T) {
	dir := t.TempDir()
	keys := fillLevelDB(t, dir)
	manifests, err := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	if err != nil || len(manifests) == 0 {
		t.Fatalf("no manifest: %v", err)
	}
	for _, m := range manifests {
		if err := os.WriteFile(m, []byte("this is not a manifest"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = storage.OpenLevelDB(dir, storage.LevelDBOptions{})
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("open with a corrupt manifest = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "RecoverLevelDB") {
		t.Fatalf("error %q does not point at recovery", err)
	}
	l, err := storage.RecoverLevelDB(dir, storage.LevelDBOptions{})
	if err != nil {
		t.Fatalf("RecoverLevelDB: %v", err)
	}
	defer l.Close()
	// Tables survive recovery; only what was still in the journal may not.
	found := 0
	for _, k := range keys {
		if _, err := l.Get([]byte(k)); err == nil {
			found++
		} else if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get(%s) after recovery: %v", k, err)
		}
	}
	if found < len(keys)/2 {
		t.Fatalf("recovered %d of %d keys", found, len(keys))
	}
}

func TestLevelDB_corruptCurrent(t *testing.T) {
	dir := t.TempDir()
	fillLevelDB(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "CURRENT"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.OpenLevelDB(dir, storage.LevelDBOptions{}); !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("open with a corrupt CURRENT = %v, want ErrCorrupt", err)
	}
}

// TestLevelDB_corruptTable: a damaged table block is reported by Get and by
// Scan as ErrCorrupt, never returned as data or skipped.
func TestLevelDB_corruptTable(t *testing.T) {
	dir := t.TempDir()
	keys := fillLevelDB(t, dir)
	tables, err := filepath.Glob(filepath.Join(dir, "*.ldb"))
	if err != nil || len(tables) == 0 {
		t.Fatalf("no tables: %v", err)
	}
	for _, path := range tables {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Damage the data blocks (the start of the file), not the footer.
		for i := 100; i < len(b)/2; i += 997 {
			b[i] ^= 0x55
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := storage.OpenLevelDB(dir, storage.LevelDBOptions{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer l.Close()
	err = l.Scan(nil, nil, func(k, v []byte) error { return nil })
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("Scan over damaged tables = %v, want ErrCorrupt", err)
	}
	corrupt := 0
	for _, k := range keys {
		v, err := l.Get([]byte(k))
		switch {
		case errors.Is(err, storage.ErrCorrupt):
			corrupt++
		case err != nil:
			t.Fatalf("Get(%s) = %v, want a value or ErrCorrupt", k, err)
		case len(v) != 1000:
			t.Fatalf("Get(%s) returned %d damaged bytes", k, len(v))
		}
	}
	if corrupt == 0 {
		t.Fatal("no Get reported the damage")
	}
}

func TestLevelDB_openErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := storage.OpenLevelDB(file, storage.LevelDBOptions{}); err == nil {
		l.Close()
		t.Fatal("opened a regular file as a database")
	}
	_, err := storage.OpenLevelDB(t.TempDir(), storage.LevelDBOptions{BlockCacheSize: -1, WriteBufferSize: -2})
	if err == nil || !strings.Contains(err.Error(), "BlockCacheSize") || !strings.Contains(err.Error(), "WriteBufferSize") {
		t.Fatalf("invalid options = %v, want both fields named", err)
	}
}

// TestLevelDB_closeWaitsForScan: Close refuses new calls at once but waits
// for a scan in progress, whose iterator stays valid to the end.
func TestLevelDB_closeWaitsForScan(t *testing.T) {
	l := openLevelDB(t).(*storage.LevelDB)
	for i := range 10 {
		if err := l.Put(fmt.Appendf(nil, "k%d", i), []byte("v"), false); err != nil {
			t.Fatal(err)
		}
	}
	inScan, release := make(chan struct{}), make(chan struct{})
	scanDone := make(chan error, 1)
	var seen int
	go func() {
		scanDone <- l.Scan(nil, nil, func(k, v []byte) error {
			if seen == 0 {
				close(inScan)
				<-release
			}
			seen++
			return nil
		})
	}()
	<-inScan
	closeDone := make(chan error, 1)
	go func() { closeDone <- l.Close() }()
	// Poll until Close has started refusing calls.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := l.Get([]byte("k1"))
		if errors.Is(err, storage.ErrClosed) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("Get while closing = %v", err)
		}
	}
	select {
	case err := <-closeDone:
		t.Fatalf("Close returned (%v) while a scan was in progress", err)
	default:
	}
	close(release)
	if err := <-scanDone; err != nil || seen != 10 {
		t.Fatalf("scan = %v after %d keys, want nil after 10", err, seen)
	}
	if err := <-closeDone; err != nil {
		t.Fatalf("Close: %v", err)
	}
}
