package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dynamod/dynamod/client"
)

// status returns the status of member name in st, "" if st does not list
// it.
func status(st *client.ClusterStatus, name string) string {
	m, _ := st.Member(name)
	return m.Status
}

// cmdLeave asks one node to leave and waits until it has.
func cmdLeave(args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	fs := newFlagSet("leave", stderr)
	c.register(fs)
	wait := fs.Duration("wait", 30*time.Minute, "how long to wait for the hand-off (0: do not wait)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if strings.Contains(c.node, ",") {
		return usagef("--node must name the one node that leaves")
	}
	cl, ctx, cancel, err := c.client()
	if err != nil {
		return err
	}
	defer cancel()
	before, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	name := before.Node
	if err := cl.Leave(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is leaving: handing its partitions to the new owners\n", name)
	if *wait == 0 {
		return nil
	}
	// Watch the node itself, and once it has stopped the others.
	var others []string
	for _, m := range before.Members {
		if m.Name != name && m.HTTPAddr != "" && m.Status != "left" && m.Status != "removed" {
			others = append(others, c.scheme()+"://"+m.HTTPAddr)
		}
	}
	deadline := time.Now().Add(*wait)
	lastReport := time.Time{}
	for time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(context.Background(), c.timeout)
		v, err := cl.Status(pctx)
		if err != nil && len(others) > 0 {
			// The node stops once it has left: ask the others.
			opts, _ := c.auth.options() // checked by c.client
			if ocl, oerr := client.New(others, append(opts, client.WithTimeout(c.timeout))...); oerr == nil {
				v, err = ocl.Status(pctx)
			}
		}
		pcancel()
		if err == nil {
			switch status(v, name) {
			case "left":
				fmt.Fprintf(stdout, "%s left the cluster\n", name)
				return nil
			case "removed":
				return fmt.Errorf("%s was removed while leaving", name)
			}
			if time.Since(lastReport) >= 5*time.Second {
				fmt.Fprintf(stdout, "  %d partition transfers pending\n", len(v.PendingTransfers))
				lastReport = time.Now()
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("%s has not left after %v; it goes on in the background (dynamod status shows the transfers)", name, *wait)
}

// cmdRemove takes a dead member out of the cluster for good.
func cmdRemove(args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	fs := newFlagSet("remove", stderr)
	c.register(fs)
	pos, cl, ctx, cancel, err := c.start(fs, args, "NAME", 1)
	if err != nil {
		return err
	}
	defer cancel()
	if err := cl.Remove(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s removed: its partitions are being rebuilt on their new owners\n", pos[0])
	return nil
}
