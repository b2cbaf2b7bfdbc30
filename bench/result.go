package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// OpStats are the numbers of one operation kind, or of all of them.
// Latencies cover every completed request, failed ones included.
type OpStats struct {
	Ops        int64         `json:"ops"`       // completed requests
	Errors     int64         `json:"errors"`    // of them failed (status or transport)
	NotFound   int64         `json:"not_found"` // GETs answered 404: not errors
	Throughput float64       `json:"throughput_ops_per_sec"`
	Mean       time.Duration `json:"mean_ns"`
	P50        time.Duration `json:"p50_ns"`
	P90        time.Duration `json:"p90_ns"`
	P99        time.Duration `json:"p99_ns"`
	P999       time.Duration `json:"p999_ns"`
	Max        time.Duration `json:"max_ns"`
}

func statsOf(h *Histogram, errs, notFound int64, elapsed time.Duration) OpStats {
	s := OpStats{
		Ops: h.Count(), Errors: errs, NotFound: notFound,
		Mean: h.Mean(), P50: h.Quantile(0.5), P90: h.Quantile(0.9),
		P99: h.Quantile(0.99), P999: h.Quantile(0.999), Max: h.Max(),
	}
	if elapsed > 0 {
		s.Throughput = float64(s.Ops) / elapsed.Seconds()
	}
	return s
}

// Result is the outcome of a run. The embedded OpStats cover all
// operations; ByOp splits them into "get" and "put".
type Result struct {
	OpStats
	Config  Config             `json:"config"` // as run, defaults applied
	Elapsed time.Duration      `json:"elapsed_ns"`
	Stopped string             `json:"stopped"` // "ops", "duration", "max_duration" or "canceled"
	ByOp    map[string]OpStats `json:"by_op"`
	// ErrorsByClass counts failures by class: "4xx", "5xx" (HTTP status
	// classes, other unexpected statuses by their own class), "timeout"
	// and "conn" (transport errors).
	ErrorsByClass map[string]int64 `json:"errors_by_class"`
	// Siblings counts GETs answered 300: keys with concurrent values.
	Siblings int64 `json:"siblings"`
	// Preload reports the preload phase, if Config.Preload.
	Preload *PreloadStats `json:"preload,omitempty"`
	// Latency holds every recorded latency, for other quantiles.
	Latency *Histogram `json:"-"`
	// Windows is the measured phase window by window, with Config.Window.
	Windows []WindowStats `json:"windows,omitempty"`
}

// PreloadStats report the preload phase.
type PreloadStats struct {
	Keys    int64         `json:"keys"`   // keys to write
	Ops     int64         `json:"ops"`    // writes answered, failed ones included
	Errors  int64         `json:"errors"` // of them failed
	Elapsed time.Duration `json:"elapsed_ns"`
	// Complete says every key was written without error (false when
	// Config.PreloadTimeout or the run's end cut the preload short).
	Complete bool `json:"complete"`
}

// WindowStats is one window of a run with Config.Window: the requests
// that started in it, and their exact quantiles.
type WindowStats struct {
	Start      time.Duration `json:"start_ns"` // from the start of the measured phase
	Ops        int64         `json:"ops"`      // requests answered, failed ones included
	Errors     int64         `json:"errors"`
	Throughput float64       `json:"throughput_ops_per_sec"` // the last window's over its part of the run
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
}

// WriteTable writes the result for people: a summary and one row per
// operation kind, latencies in milliseconds.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "targets    %s\n", strings.Join(r.Config.Targets, " "))
	fmt.Fprintf(&b, "workload   %d workers, %d keys, %d-byte values, %.0f%% reads, bucket %q\n",
		r.Config.Concurrency, r.Config.Keys, r.Config.ValueSize, 100*r.Config.ReadRatio, r.Config.Bucket)
	if q := strings.TrimPrefix(query("r", r.Config.R, "w", r.Config.W, "dw", r.Config.DW), "?"); q != "" {
		fmt.Fprintf(&b, "quorums    %s\n", strings.ReplaceAll(q, "&", " "))
	}
	if p := r.Preload; p != nil {
		fmt.Fprintf(&b, "preload    %d writes of %d keys in %v, %d errors\n", p.Ops, p.Keys, p.Elapsed.Round(time.Millisecond), p.Errors)
	}
	fmt.Fprintf(&b, "run        %d ops in %v (stopped: %s), %.1f ops/s\n",
		r.Ops, r.Elapsed.Round(time.Millisecond), r.Stopped, r.Throughput)
	fmt.Fprintf(&b, "outcomes   %d errors%s, %d not found, %d sibling reads\n\n",
		r.Errors, classes(r.ErrorsByClass), r.NotFound, r.Siblings)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tops\tops/s\terrors\tmean ms\tp50\tp90\tp99\tp99.9\tmax\t")
	row := func(name string, s OpStats) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, s.Ops, s.Throughput, s.Errors,
			ms(s.Mean), ms(s.P50), ms(s.P90), ms(s.P99), ms(s.P999), ms(s.Max))
	}
	for _, op := range slices.Sorted(maps.Keys(r.ByOp)) {
		row(op, r.ByOp[op])
	}
	row("all", r.OpStats)
	tw.Flush()
	if len(r.Windows) > 0 {
		fmt.Fprintf(&b, "\nby window of %v (from the start of the measured phase; latencies in ms)\n", r.Config.Window)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "start s\tops\tops/s\terrors\tp50\tp99\tmax\t")
		for _, ws := range r.Windows {
			fmt.Fprintf(tw, "%.3f\t%d\t%.1f\t%d\t%s\t%s\t%s\t\n", ws.Start.Seconds(), ws.Ops, ws.Throughput, ws.Errors,
				ms(ws.P50), ms(ws.P99), ms(ws.Max))
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

func classes(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
