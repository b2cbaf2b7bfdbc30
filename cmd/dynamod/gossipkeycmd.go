package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/gossip"
)

const gossipKeyUsage = `Usage: dynamod gossip-key list|install|use|remove [KEY | --key-file FILE] [flags]

Changes the gossip encryption keys of every alive member through one node
(--node); each member persists its keyring in its data directory.

  list                 the keys of every alive member, by fingerprint
  install KEY          add KEY (base64, 16, 24 or 32 bytes): members decrypt with it
  use KEY              make KEY the primary: members encrypt with it (install it first)
  remove KEY           drop KEY (use another key first)

Rotation without downtime: install the new key, use it, remove the old one.
KEY may be given as --key-file FILE instead (the first key of the file, as
'dynamod certs gossip-key' writes it), which keeps it out of the process list.
`

// cmdGossipKey runs dynamod gossip-key.
func cmdGossipKey(args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	var keyFile string
	fs := newFlagSet("gossip-key", stderr)
	c.register(fs)
	fs.StringVar(&keyFile, "key-file", "", "read the key from FILE (the first key of a key file) instead of the command line")
	fs.Usage = func() {
		fmt.Fprint(stderr, gossipKeyUsage, "\nFlags:\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want list, install, use or remove")
	}
	op, rest := pos[0], pos[1:]
	var key []byte
	switch op {
	case "list":
		if len(rest) > 0 || keyFile != "" {
			return usagef("list takes no key")
		}
	case "install", "use", "remove":
		if key, err = keyArg(rest, keyFile); err != nil {
			return err
		}
	default:
		return usagef("unknown operation %q: want list, install, use or remove", op)
	}
	if strings.Contains(c.node, ",") {
		return usagef("--node must name one node: it changes every member itself")
	}
	cl, ctx, cancel, err := c.client()
	if err != nil {
		return err
	}
	defer cancel()
	var doc *client.GossipKeyring
	switch op {
	case "list":
		doc, err = cl.GossipKeys(ctx)
	case "install":
		doc, err = cl.InstallGossipKey(ctx, key)
	case "use":
		doc, err = cl.UseGossipKey(ctx, key)
	case "remove":
		doc, err = cl.RemoveGossipKey(ctx, key)
	}
	if doc == nil {
		return err
	}
	if c.jsonOut {
		if perr := printJSON(stdout, doc); perr != nil {
			return perr
		}
	} else {
		printKeyring(stdout, doc)
	}
	switch {
	case err == nil:
		return nil
	case doc.Refused != "":
		return fmt.Errorf("%s refused, nothing changed: %s", op, doc.Refused)
	default:
		return fmt.Errorf("%s did not reach every member (see above); run it again once they answer", op)
	}
}

// keyArg takes the key from the one positional argument or from --key-file.
func keyArg(rest []string, keyFile string) ([]byte, error) {
	switch {
	case len(rest) > 1:
		return nil, usagef("want one KEY, got %d arguments", len(rest))
	case len(rest) == 1 && keyFile != "":
		return nil, usagef("give KEY or --key-file, not both")
	case len(rest) == 1:
		key, err := gossip.DecodeKey(strings.TrimSpace(rest[0]))
		if err != nil {
			return nil, usagef("KEY: %v", err)
		}
		return key, nil
	case keyFile != "":
		keys, err := gossip.ReadKeyFile(keyFile)
		if err != nil {
			if errors.Is(err, gossip.ErrBadKey) {
				return nil, usageError{err.Error()}
			}
			return nil, err
		}
		return keys[0], nil
	}
	return nil, usagef("want KEY or --key-file FILE")
}

// printKeyring shows the keys with how many members hold them, then each
// member's keyring.
func printKeyring(w io.Writer, doc *client.GossipKeyring) {
	if doc.Key != "" {
		fmt.Fprintf(w, "%s %s\n", doc.Op, doc.Key)
	}
	fmt.Fprintf(w, "%-10s %-12s %s\n", "KEY", "INSTALLED", "PRIMARY")
	for _, k := range doc.Keys {
		fmt.Fprintf(w, "%-10s %-12s %d\n", k.Key, fmt.Sprintf("%d/%d", k.Installed, len(doc.Nodes)), k.Primary)
	}
	fmt.Fprintln(w)
	for _, n := range doc.Nodes {
		switch {
		case n.Error != "":
			fmt.Fprintf(w, "%-16s error: %s\n", n.Node, n.Error)
		case len(n.Keys) == 0:
			fmt.Fprintf(w, "%-16s encryption off\n", n.Node)
		default:
			fmt.Fprintf(w, "%-16s %s (primary %s)\n", n.Node, strings.Join(n.Keys, " "), n.Primary)
		}
	}
	if doc.Refused != "" {
		fmt.Fprintf(w, "\nrefused: %s\n", doc.Refused)
	}
}
