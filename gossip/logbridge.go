package gossip

import (
	"bytes"
	"context"
	"log/slog"
)

// logBridge is the io.Writer behind memberlist's *log.Logger. memberlist
// writes one line per call, tagged "[DEBUG]", "[INFO]", "[WARN]" or "[ERR]";
// the bridge maps the tag to a slog level (slog.NewLogLogger would put every
// line at one level). Untagged lines are logged at Info.
type logBridge struct {
	log *slog.Logger
}

var logLevels = []struct {
	tag   string
	level slog.Level
}{
	{"[TRACE]", slog.LevelDebug},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

// Write logs p as one record. It never fails.
func (b logBridge) Write(p []byte) (int, error) {
	level, msg := parseLogLine(p)
	ctx := context.Background()
	if b.log.Enabled(ctx, level) {
		b.log.Log(ctx, level, msg)
	}
	return len(p), nil
}

// parseLogLine splits a memberlist log line into its level and message,
// dropping the tag, the "memberlist: " prefix and the trailing newline.
func parseLogLine(p []byte) (slog.Level, string) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, l := range logLevels {
		if rest, ok := bytes.CutPrefix(line, []byte(l.tag)); ok {
			level, line = l.level, bytes.TrimSpace(rest)
			break
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	return level, string(line)
}
