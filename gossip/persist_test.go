package gossip

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNew_corruptStateFile(t *testing.T) {
	c := newCluster(t)
	dir := t.TempDir()
	cases := []struct {
		name, content string
		corrupt       bool
	}{
		{"garbage", "\x00\x01not json", true},
		{"truncated", `{"v":1,"from":"a","members":{"a":{"ver":1,`, true},
		{"empty", "", true},
		{"future version", `{"v":7,"from":"a"}`, true},
		{"bad entry", `{"v":1,"from":"a","members":{"a":{"ver":1,"origin":"a","gossip":"x","status":"joined"}}}`, true},
		{"other node's file", `{"v":1,"from":"b"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".state")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := c.config("a")
			cfg.StatePath = path
			g, err := New(cfg)
			if err == nil {
				g.Close()
				t.Fatal("New accepted the file")
			}
			if errors.Is(err, ErrCorruptState) != tc.corrupt || !strings.Contains(err.Error(), path) {
				t.Errorf("New = %v; want an error naming %s, corrupt=%v", err, path, tc.corrupt)
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	for _, content := range []string{"first", "second, longer content", "3"} {
		if err := writeFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file left behind: %v", err)
	}
	if err := writeFileAtomic(filepath.Join(t.TempDir(), "missing", "state"), []byte("x")); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestLoadState_missingFileIsEmpty(t *testing.T) {
	s, err := loadState(filepath.Join(t.TempDir(), "none"), "a")
	if err != nil || len(s.members) != 0 || len(s.buckets) != 0 {
		t.Fatalf("loadState = %+v, %v", s, err)
	}
}
