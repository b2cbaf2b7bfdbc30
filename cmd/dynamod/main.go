// Command dynamod runs a dynamod node (serve, the default) and talks to
// one (get, put, delete, status, props, bench, health).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// usage is printed for dynamod -h and unknown subcommands.
const usage = `dynamod: a Dynamo-style key-value store

Usage:
  dynamod [serve] [flags]                 run a node (default: 127.0.0.1:7070, data in ./dynamod-data)
  dynamod get    BUCKET KEY [flags]       read a key; prints siblings and the context
  dynamod put    BUCKET KEY [VALUE] [flags]  write VALUE (or stdin) with --context
  dynamod delete BUCKET KEY [flags]       delete a key with --context
  dynamod keys   BUCKET [flags]           list a bucket's keys
  dynamod counter get|incr|decr BUCKET KEY [N]        a counter bucket's key
  dynamod set    get|add|remove BUCKET KEY [ELEMENT ...]  a set bucket's key (remove: --context, or read first)
  dynamod map    get|update BUCKET KEY [OPERATION-JSON]   a map bucket's key
  dynamod status [flags]                  members, liveness, ownership, transfers, hints
  dynamod leave  --node URL               hand the node's partitions off, then leave for good
  dynamod remove NAME [flags]             take a dead member out for good
  dynamod props  get|set|reset BUCKET [key=value ...]
  dynamod bench  [flags]                  HTTP load generator
  dynamod health [flags]                  exit 0 if the node is ready (container healthcheck)
  dynamod token  create|list|revoke|grant|ungrant  client tokens (bootstrap: --node http://127.0.0.1:7072)
  dynamod certs  ca|node|client|gossip-key|init [flags]  make the cluster CA, certificates, gossip key
  dynamod gossip-key list|install|use|remove [KEY|--key-file F] --node URL  rotate the gossip key cluster-wide

Every flag can also be set as DYNAMOD_<FLAG> (e.g. DYNAMOD_DATA, DYNAMOD_JOIN).
Run 'dynamod SUBCOMMAND -h' for a subcommand's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stderr)
	case "get":
		err = cmdGet(args, stdout, stderr)
	case "put":
		err = cmdPut(args, stdin, stdout, stderr)
	case "delete":
		err = cmdDelete(args, stdout, stderr)
	case "keys":
		err = cmdKeys(args, stdout, stderr)
	case "counter":
		err = cmdCounter(args, stdout, stderr)
	case "set":
		err = cmdSet(args, stdout, stderr)
	case "map":
		err = cmdMap(args, stdout, stderr)
	case "status":
		err = cmdStatus(args, stdout, stderr)
	case "leave":
		err = cmdLeave(args, stdout, stderr)
	case "remove":
		err = cmdRemove(args, stdout, stderr)
	case "props":
		err = cmdProps(args, stdout, stderr)
	case "bench":
		err = cmdBench(args, stdout, stderr)
	case "health":
		err = cmdHealth(args, stdout, stderr)
	case "token":
		err = cmdToken(args, stdout, stderr)
	case "certs":
		err = cmdCerts(args, stdout, stderr)
	case "gossip-key":
		err = cmdGossipKey(args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "dynamod: unknown subcommand %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "dynamod %s: %v\n", cmd, err)
		return 2
	}
	fmt.Fprintf(stderr, "dynamod %s: %v\n", cmd, err)
	return 1
}

// usageError is a mistake in the command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("dynamod "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, taking defaults from DYNAMOD_* variables first,
// and allows flags after positional arguments (dynamod get b k --node U).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "DYNAMOD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := fs.Set(f.Name, v); err != nil && envErr == nil {
				envErr = usagef("%s=%q: %v", name, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
