package gossip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// logBridge is the io.Writer behind memberlist's *log.Logger. memberlist
// writes one line per call, tagged "[DEBUG]", "[INFO]", "[WARN]" or "[ERR]";
// the bridge maps the tag to a slog level (slog.NewLogLogger would put every
// line at one level). Untagged lines are logged at Info.
//
// The bridge also counts the packets memberlist drops for their encryption:
// memberlist reports them only in its log (a UDP packet: "Decrypt packet
// failed: ERR"; a TCP stream: "failed to receive: ERR"), with no hook or
// metric. dropReason recognises memberlist v0.7's lines; a test sends it
// such packets, so an upgrade that changes them fails that test.
type logBridge struct {
	log *slog.Logger
	// dropped, when set, is called once per dropped packet or stream with
	// its reason (dropReasons).
	dropped func(reason string)
}

// Reasons a packet or stream was dropped, the label of
// dynamod_gossip_dropped_packets_total.
const (
	// dropPlaintext: not encrypted, at a node with a key (a UDP packet
	// whose first byte is no encryption version, or a plain TCP stream).
	dropPlaintext = "plaintext"
	// dropUndecryptable: no installed key decrypts it (another key, a
	// forgery, or a plaintext ping, whose type byte reads as a version).
	dropUndecryptable = "undecryptable"
	// dropUnexpectedEncryption: an encrypted stream reached a node without
	// a key (a configuration mismatch).
	dropUnexpectedEncryption = "encrypted_without_key"
)

var dropReasons = []string{dropPlaintext, dropUndecryptable, dropUnexpectedEncryption}

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
	if b.dropped != nil {
		if reason, ok := dropReason(msg); ok {
			b.dropped(reason)
		}
	}
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

// dropReason classifies a memberlist log message (tag and prefix removed)
// that reports a packet or stream dropped for its encryption.
func dropReason(msg string) (string, bool) {
	m := strings.ToLower(msg)
	var cause string
	switch {
	case strings.HasPrefix(m, "decrypt packet failed: "):
		cause = strings.TrimPrefix(m, "decrypt packet failed: ")
	case strings.HasPrefix(m, "failed to receive: "):
		cause = strings.TrimPrefix(m, "failed to receive: ")
	default:
		return "", false
	}
	switch {
	case strings.HasPrefix(cause, "unsupported encryption version"),
		strings.HasPrefix(cause, "encryption is configured but remote state is not encrypted"):
		return dropPlaintext, true
	case strings.HasPrefix(cause, "no installed keys could decrypt"),
		strings.HasPrefix(cause, "payload is too small to decrypt"),
		strings.HasPrefix(cause, "cannot decrypt empty payload"):
		return dropUndecryptable, true
	case strings.HasPrefix(cause, "remote state is encrypted and encryption is not configured"):
		return dropUnexpectedEncryption, true
	}
	return "", false
}
