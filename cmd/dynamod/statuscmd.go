package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dynamod/dynamod/client"
)

// clearScreen moves the cursor home and clears the terminal (ANSI).
const clearScreen = "\x1b[H\x1b[2J"

// ratesWindow is how many of the last seconds of /cluster/stats the
// status view averages rates over.
const ratesWindow = 10

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	fs := newFlagSet("status", stderr)
	c.register(fs)
	watch := fs.Bool("watch", false, "refresh the view until interrupted (with --json: one document per line)")
	interval := fs.Duration("interval", time.Second, "time between refreshes with --watch")
	count := fs.Int("count", 0, "with --watch, stop after this many refreshes (0: until interrupted)")
	_, cl, ctx, cancel, err := c.start(fs, args, "", 0)
	if err != nil {
		return err
	}
	defer cancel()
	if !*watch {
		return showStatus(ctx, cl, c.jsonOut, stdout)
	}
	if *interval <= 0 || *count < 0 {
		return usagef("--interval must be > 0 and --count >= 0")
	}
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return watchStatus(sig, cl, c.timeout, *interval, *count, c.jsonOut, stdout)
}

// watchStatus shows the status every interval until ctx ends (then it
// returns nil) or count views were shown. A view that fails shows its
// error, and the next one tries again: a node restarting is what one
// watches for.
func watchStatus(ctx context.Context, cl *client.Client, timeout, interval time.Duration, count int, jsonOut bool, stdout io.Writer) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; count == 0 || i < count; i++ {
		var view, out bytes.Buffer
		rctx, cancel := context.WithTimeout(ctx, timeout)
		err := showStatus(rctx, cl, jsonOut, &view)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case jsonOut && err != nil:
			line, _ := json.Marshal(map[string]string{"error": err.Error()})
			out.Write(append(line, '\n'))
		case jsonOut:
			out.Write(view.Bytes())
		default:
			fmt.Fprintf(&out, "%s%s  (every %v; Ctrl-C stops)\n", clearScreen, time.Now().Format("15:04:05"), interval)
			out.Write(view.Bytes())
			if err != nil {
				fmt.Fprintf(&out, "error: %v\n", err)
			}
		}
		if _, err := stdout.Write(out.Bytes()); err != nil {
			return err
		}
		if count != 0 && i+1 == count {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	return nil
}

// showStatus writes the /cluster view of the node cl reaches, and its
// request rates when it serves /cluster/stats; with jsonOut, the /cluster
// document on one line.
func showStatus(ctx context.Context, cl *client.Client, jsonOut bool, w io.Writer) error {
	if jsonOut {
		raw, err := cl.Cluster(ctx)
		if err != nil {
			return err
		}
		var line bytes.Buffer
		if err := json.Compact(&line, raw); err != nil {
			return err
		}
		line.WriteByte('\n')
		_, err = w.Write(line.Bytes())
		return err
	}
	doc, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	st, err := cl.Stats(ctx)
	if err != nil {
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.Status != 404 {
			return err
		}
		st = nil // a node from before /cluster/stats
	}
	return renderStatus(w, doc, st, time.Now())
}

// renderStatus writes the status view: members, transfers, request rates
// (st may be nil), anti-entropy.
func renderStatus(w io.Writer, doc *client.ClusterStatus, st *client.Stats, now time.Time) error {
	fmt.Fprintf(w, "node %s: %d members, %d partitions, n_val %d, %d hints pending here\n",
		doc.Node, len(doc.Members), doc.Partitions, doc.DefaultNVal, doc.HintsPending)
	if doc.UnderReplicated {
		fmt.Fprintf(w, "warning: fewer members than n_val: data is under-replicated\n")
	}
	for _, warning := range doc.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tSTATUS\tLIVENESS\tPARTITIONS\tHTTP\tRPC")
	for _, m := range doc.Members {
		share := ""
		if doc.Partitions > 0 {
			share = fmt.Sprintf("%d (%.1f%%)", m.PrimaryPartitions, 100*float64(m.PrimaryPartitions)/float64(doc.Partitions*max(doc.DefaultNVal, 1)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Status, m.Liveness, share, m.HTTPAddr, m.RPCAddr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(doc.PendingTransfers) > 0 {
		fmt.Fprintf(w, "\n%d partition transfers pending:\n", len(doc.PendingTransfers))
		tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "PARTITION\tFROM\tTO\tKEYS\tBYTES\tSTATE")
		for i, t := range doc.PendingTransfers {
			if i == 20 {
				fmt.Fprintf(tw, "...\t%d more\t\t\t\t\n", len(doc.PendingTransfers)-i)
				break
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\n", t.Partition, t.From, t.To, t.Keys, t.Bytes, t.State)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	} else if !doc.Steady {
		fmt.Fprintln(w, "\nhanded-off partitions are being released")
	}
	if st != nil {
		if err := renderRates(w, st); err != nil {
			return err
		}
	}
	ae := doc.AntiEntropy
	if ae == nil {
		fmt.Fprintln(w, "\nanti-entropy: off")
		return nil
	}
	fmt.Fprintf(w, "\nanti-entropy: %d/%d trees built (%d KiB), %d keys, %d tombstones; %d exchanges (%d failed), %d keys pushed, %d pulled, %d tombstones reaped\n",
		ae.Built, ae.Partitions, ae.TreeBytes>>10, ae.Keys, ae.Tombstones, ae.Exchanges, ae.Failures, ae.KeysPushed, ae.KeysPulled, ae.Reaped)
	if len(ae.Peers) == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tLAST EXCHANGE\tDIFFERING KEYS\tERROR")
	for _, p := range ae.Peers {
		ago := "never"
		if !p.LastExchange.IsZero() {
			ago = now.Sub(p.LastExchange).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", p.Peer, ago, p.DifferingKeys, p.LastError)
	}
	return tw.Flush()
}

// renderRates writes the node's request rates over the last ratesWindow
// seconds of st: per operation the requests and 5xx answers per second,
// and the latency of the newest second that had requests; then the
// counters per second and the hints pending.
func renderRates(w io.Writer, st *client.Stats) error {
	span := 0
	for _, o := range st.Ops {
		span = max(span, len(o.Count))
	}
	span = min(span, ratesWindow)
	if span == 0 {
		fmt.Fprintln(w, "\nrequests: no sample yet")
		return nil
	}
	fmt.Fprintf(w, "\nrequests on %s, last %d s:\n", st.Node, span)
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "OP\tREQ/S\t5XX/S\tP50 MS\tP99 MS\t")
	for _, name := range []string{"get", "put", "delete", "list", "other"} {
		o, ok := st.Ops[name]
		if !ok || len(o.Count) < span || len(o.Errors) < span || len(o.P50) < span || len(o.P99) < span {
			continue
		}
		var n, errs uint64
		p50, p99 := 0.0, 0.0
		for i := len(o.Count) - span; i < len(o.Count); i++ {
			n += o.Count[i]
			errs += o.Errors[i]
			if o.Count[i] > 0 {
				p50, p99 = o.P50[i], o.P99[i]
			}
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.2f\t%.2f\t\n", name, float64(n)/float64(span), float64(errs)/float64(span), p50, p99)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var parts []string
	for _, c := range []string{"quorum_failures", "read_repairs", "hints_stored", "hints_delivered", "ae_keys_repaired"} {
		series := st.Counters[c]
		var n uint64
		for i := max(len(series)-span, 0); i < len(series); i++ {
			n += series[i]
		}
		parts = append(parts, fmt.Sprintf("%s %.1f/s", c, float64(n)/float64(span)))
	}
	if hp := st.Gauges["hints_pending"]; len(hp) > 0 {
		parts = append(parts, fmt.Sprintf("hints_pending %.0f", hp[len(hp)-1]))
	}
	for i, p := range parts {
		sep := ", "
		if i == len(parts)-1 {
			sep = "\n"
		}
		fmt.Fprint(w, p+sep)
	}
	return nil
}
