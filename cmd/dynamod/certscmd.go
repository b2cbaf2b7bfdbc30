package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dynamod/dynamod/internal/pki"
)

// certsUsage is printed for dynamod certs -h and a missing or unknown
// action.
const certsUsage = `Usage:
  dynamod certs ca         --dir DIR                     DIR/ca.crt, DIR/ca.key: a new cluster CA
  dynamod certs node       --dir DIR --name NAME [--host H,IP,...]
                                                         DIR/node-NAME.crt, .key, signed by DIR/ca.*
  dynamod certs client     --dir DIR --name NAME         DIR/client-NAME.crt, .key (never valid as a node)
  dynamod certs gossip-key --dir DIR                     DIR/gossip.key: 32 random bytes, base64
  dynamod certs init       --dir DIR --nodes N1,N2,... [--host H,IP,...]
                                                         all of the above for a cluster; keeps existing files

Keys are written 0600, certificates 0644. An existing file is never
replaced unless --force is given (init never replaces one). Start a node with
  dynamod serve --tls-ca DIR/ca.crt --tls-cert DIR/node-NAME.crt --tls-key DIR/node-NAME.key
Run 'dynamod certs ACTION -h' for an action's flags.
`

// cmdCerts makes the cluster's CA, certificates and gossip key.
func cmdCerts(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(stdout, certsUsage)
			return flag.ErrHelp
		}
		fmt.Fprint(stderr, certsUsage)
		return usagef("an action is required: ca, node, client, gossip-key or init")
	}
	action, args := args[0], args[1:]
	fs := newFlagSet("certs "+action, stderr)
	dir := fs.String("dir", "dynamod-certs", "directory of the CA, certificates and keys (created if missing)")
	force := false
	if action != "init" {
		fs.BoolVar(&force, "force", false, "replace existing files")
	}
	var name, hosts, nodes string
	var days int
	switch action {
	case "ca":
		fs.IntVar(&days, "days", int(pki.CAValidity/(24*time.Hour)), "days the CA is valid")
	case "node":
		fs.StringVar(&name, "name", "", "node name (as dynamod serve --name); required")
		fs.StringVar(&hosts, "host", "", "host names and IP addresses of the node, comma-separated (extra SANs; the name is one already)")
		fs.IntVar(&days, "days", int(pki.LeafValidity/(24*time.Hour)), "days the certificate is valid")
	case "client":
		fs.StringVar(&name, "name", "", "client name; required")
		fs.IntVar(&days, "days", int(pki.LeafValidity/(24*time.Hour)), "days the certificate is valid")
	case "gossip-key":
	case "init":
		fs.StringVar(&nodes, "nodes", "", "node names, comma-separated; required")
		fs.StringVar(&hosts, "host", "", "host names and IP addresses added to every node certificate, comma-separated")
	case "help":
		fmt.Fprint(stdout, certsUsage)
		return nil
	default:
		fmt.Fprint(stderr, certsUsage)
		return usagef("unknown action %q", action)
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *dir == "" {
		return usagef("--dir must not be empty")
	}
	if days < 0 || (days == 0 && action != "gossip-key" && action != "init") {
		return usagef("--days must be at least 1, got %d", days)
	}
	validity := time.Duration(days) * 24 * time.Hour
	w := certWriter{dir: *dir, force: force, out: stdout}
	switch action {
	case "ca":
		return w.ca(validity)
	case "node", "client":
		if err := checkFileName("--name", name); err != nil {
			return err
		}
		if action == "node" {
			return w.node(name, splitList(hosts), validity)
		}
		return w.client(name, validity)
	case "gossip-key":
		return w.gossipKey()
	}
	names := splitList(nodes)
	if len(names) == 0 {
		return usagef("--nodes is required: the node names, comma-separated")
	}
	for _, n := range names {
		if err := checkFileName("--nodes", n); err != nil {
			return err
		}
	}
	w.keep = true
	if err := w.ca(0); err != nil {
		return err
	}
	for _, n := range names {
		if err := w.node(n, splitList(hosts), 0); err != nil {
			return err
		}
	}
	return w.gossipKey()
}

// splitList splits a comma-separated flag value, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkFileName refuses a name that cannot be part of a file name in the
// directory (a node name may be any UTF-8, a file name may not).
func checkFileName(flagName, name string) error {
	switch {
	case name == "":
		return usagef("%s is required", flagName)
	case len(name) > 255, strings.ContainsAny(name, "/\\\x00"), name == ".", name == "..":
		return usagef("%s: %q cannot be part of a file name", flagName, name)
	}
	return nil
}

// certWriter writes the files of dynamod certs into one directory.
type certWriter struct {
	dir   string
	force bool // replace existing files
	keep  bool // keep existing files (init): an existing pair is not an error
	out   io.Writer
}

func (w certWriter) path(name string) string { return filepath.Join(w.dir, name) }

// exists reports whether the files exist: false when none does, true when
// all do and w.keep is set (they are kept), an error otherwise (one of a
// pair missing, or replacing without --force).
func (w certWriter) exists(names ...string) (bool, error) {
	var have, missing []string
	for _, n := range names {
		switch _, err := os.Stat(w.path(n)); {
		case err == nil:
			have = append(have, w.path(n))
		case errors.Is(err, os.ErrNotExist):
			missing = append(missing, w.path(n))
		default:
			return false, err
		}
	}
	switch {
	case len(have) == 0 || w.force:
		return false, nil
	case w.keep && len(missing) == 0:
		fmt.Fprintf(w.out, "kept %s (exists)\n", strings.Join(have, ", "))
		return true, nil
	case w.keep:
		return false, fmt.Errorf("%s exists but %s is missing: restore it, or remove the rest to make new ones", strings.Join(have, ", "), strings.Join(missing, ", "))
	}
	return false, fmt.Errorf("%s exists; --force replaces it", strings.Join(have, ", "))
}

// writePair writes a certificate and its key.
func (w certWriter) writePair(base string, is pki.Issued) error {
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", w.dir, err)
	}
	if err := pki.WriteFile(w.path(base+".key"), is.KeyPEM, pki.KeyPerm, w.force); err != nil {
		return err
	}
	if err := pki.WriteFile(w.path(base+".crt"), is.CertPEM, pki.CertPerm, w.force); err != nil {
		return err
	}
	fmt.Fprintf(w.out, "wrote %s, %s\n", w.path(base+".crt"), w.path(base+".key"))
	return nil
}

func (w certWriter) ca(validity time.Duration) error {
	if kept, err := w.exists("ca.crt", "ca.key"); kept || err != nil {
		return err
	}
	_, is, err := pki.NewCA(validity)
	if err != nil {
		return err
	}
	return w.writePair("ca", is)
}

func (w certWriter) loadCA() (*pki.CA, error) {
	ca, err := pki.LoadCA(w.path("ca.crt"), w.path("ca.key"))
	if err != nil {
		return nil, fmt.Errorf("%w (make one with: dynamod certs ca --dir %s)", err, w.dir)
	}
	return ca, nil
}

func (w certWriter) node(name string, hosts []string, validity time.Duration) error {
	base := "node-" + name
	if kept, err := w.exists(base+".crt", base+".key"); kept || err != nil {
		return err
	}
	ca, err := w.loadCA()
	if err != nil {
		return err
	}
	is, err := ca.IssueNode(name, hosts, validity)
	if err != nil {
		return err
	}
	return w.writePair(base, is)
}

func (w certWriter) client(name string, validity time.Duration) error {
	base := "client-" + name
	if kept, err := w.exists(base+".crt", base+".key"); kept || err != nil {
		return err
	}
	ca, err := w.loadCA()
	if err != nil {
		return err
	}
	is, err := ca.IssueClient(name, validity)
	if err != nil {
		return err
	}
	return w.writePair(base, is)
}

func (w certWriter) gossipKey() error {
	if kept, err := w.exists("gossip.key"); kept || err != nil {
		return err
	}
	key, err := pki.NewGossipKey()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", w.dir, err)
	}
	if err := pki.WriteFile(w.path("gossip.key"), key, pki.KeyPerm, w.force); err != nil {
		return err
	}
	fmt.Fprintf(w.out, "wrote %s\n", w.path("gossip.key"))
	return nil
}
