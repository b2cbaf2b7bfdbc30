package gossip

import (
	"bytes"
	"log"
	"log/slog"
	"strings"
	"testing"
)

func TestLogBridge_levels(t *testing.T) {
	cases := []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: Stream connection from=1.2.3.4\n", slog.LevelDebug, "Stream connection from=1.2.3.4"},
		{"[INFO] memberlist: Marking b as failed\n", slog.LevelInfo, "Marking b as failed"},
		{"[WARN] memberlist: Refuting a suspect message\n", slog.LevelWarn, "Refuting a suspect message"},
		{"[ERR] memberlist: Failed to send\n", slog.LevelError, "Failed to send"},
		{"no tag at all", slog.LevelInfo, "no tag at all"},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		l := log.New(logBridge{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}, "", 0)
		l.Print(tc.line)
		out := buf.String()
		if !strings.Contains(out, "level="+tc.level.String()) || !strings.Contains(out, "msg=\""+tc.msg+"\"") && !strings.Contains(out, "msg="+tc.msg) {
			t.Errorf("%q logged as %q, want level %v msg %q", tc.line, out, tc.level, tc.msg)
		}
	}
	// Below the handler's level nothing is written.
	var buf bytes.Buffer
	l := log.New(logBridge{log: slog.New(slog.NewTextHandler(&buf, nil))}, "", 0)
	l.Print("[DEBUG] memberlist: noise")
	if buf.Len() != 0 {
		t.Errorf("debug line written at info level: %q", buf.String())
	}
}
