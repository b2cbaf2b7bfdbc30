package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dynamod/dynamod/client"
)

// authFlags are every client subcommand's --token and --ca (also read from
// DYNAMOD_TOKEN and DYNAMOD_CA, as every flag is).
type authFlags struct {
	token, ca, cert, key string
}

func (a *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.token, "token", "", "bearer token sent to the nodes (dynamod token create makes one; env DYNAMOD_TOKEN)")
	fs.StringVar(&a.ca, "ca", "", "PEM file of the CA(s) that sign the nodes' certificates, for https:// node URLs (env DYNAMOD_CA; default: the system roots)")
	fs.StringVar(&a.cert, "cert", "", "client certificate (PEM) for nodes started with --http-client-ca, with --key (dynamod certs client makes them; env DYNAMOD_CERT)")
	fs.StringVar(&a.key, "key", "", "the private key of --cert (env DYNAMOD_KEY)")
}

// options returns the client options of the flags.
func (a authFlags) options() ([]client.Option, error) {
	var opts []client.Option
	if a.token != "" {
		opts = append(opts, client.WithToken(a.token))
	}
	if (a.cert == "") != (a.key == "") {
		return nil, usagef("--cert and --key go together")
	}
	var tc *tls.Config
	if a.ca != "" {
		var err error
		if tc, err = client.LoadCA(a.ca); err != nil {
			return nil, usagef("--ca: %v", err)
		}
	}
	if a.cert != "" {
		pair, err := tls.LoadX509KeyPair(a.cert, a.key)
		if err != nil {
			return nil, usagef("--cert, --key: %v", err)
		}
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	if tc != nil {
		opts = append(opts, client.WithTLSConfig(tc))
	}
	return opts, nil
}

// scheme is the scheme of the first --node URL ("http" when it has none),
// for the URLs of other members the command finds in /cluster.
func (c *commonFlags) scheme() string {
	if s, _, ok := strings.Cut(c.node, "://"); ok && !strings.Contains(s, ",") {
		return s
	}
	return "http"
}

// tokenUsage is printed for dynamod token without a verb.
const tokenUsage = `want one of:
  dynamod token create --name NAME --grant GRANT [--grant GRANT ...]
  dynamod token list
  dynamod token revoke ID
  dynamod token grant ID GRANT [GRANT ...]
  dynamod token ungrant ID GRANT [GRANT ...]
GRANT is read:BUCKET, write:BUCKET, admin:BUCKET or admin (BUCKET may be *).
--node defaults to the local admin listener, http://127.0.0.1:7072, which
needs no token: that is how the first token is made.`

// cmdToken manages client tokens.
func cmdToken(args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	var name string
	var grants multiFlag
	fs := newFlagSet("token", stderr)
	c.register(fs)
	c.node = "http://127.0.0.1:7072"
	fs.Lookup("node").DefValue = c.node
	fs.Lookup("node").Usage = "node URL(s): the local admin listener (no token needed) or a client API (--token with the admin grant)"
	fs.StringVar(&name, "name", "", "create: the token's name (who or what uses it)")
	fs.Var(&grants, "grant", "create: a grant (repeatable): read:BUCKET, write:BUCKET, admin:BUCKET or admin; BUCKET may be *")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("%s", tokenUsage)
	}
	verb, rest := pos[0], pos[1:]
	want := map[string]string{"create": "", "list": "", "revoke": "ID", "grant": "ID GRANT...", "ungrant": "ID GRANT..."}
	shape, ok := want[verb]
	switch {
	case !ok:
		return usagef("token: unknown verb %q\n%s", verb, tokenUsage)
	case shape == "" && len(rest) > 0:
		return usagef("token %s: unexpected argument %q", verb, rest[0])
	case shape == "ID" && len(rest) != 1, strings.HasSuffix(shape, "...") && len(rest) < 2:
		return usagef("token %s: want %s", verb, shape)
	case verb == "create" && name == "":
		return usagef("token create: --name is required")
	case verb != "create" && (name != "" || len(grants) > 0):
		return usagef("token %s: --name and --grant are for create", verb)
	}
	cl, ctx, cancel, err := c.client()
	if err != nil {
		return err
	}
	defer cancel()
	var tok *client.Token
	switch verb {
	case "create":
		if tok, err = cl.CreateToken(ctx, name, grants); err != nil {
			return err
		}
		if c.jsonOut {
			return printJSON(stdout, tok)
		}
		fmt.Fprintf(stdout, "token %s (%s) created with grants %s\n", tok.ID, tok.Name, strings.Join(tok.Grants, " "))
		fmt.Fprintf(stdout, "%s\n", tok.Secret)
		fmt.Fprintln(stderr, "This is the only time the token is shown: keep it now (e.g. export DYNAMOD_TOKEN=...).")
		return nil
	case "list":
		ts, err := cl.Tokens(ctx)
		if err != nil {
			return err
		}
		if c.jsonOut {
			return printJSON(stdout, ts)
		}
		tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tSTATE\tGRANTS")
		for _, t := range ts {
			state := "active"
			if t.Revoked {
				state = "revoked"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Created.Format(time.RFC3339), state, strings.Join(t.Grants, " "))
		}
		return tw.Flush()
	case "revoke":
		if err := cl.RevokeToken(ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s revoked\n", rest[0])
		return nil
	case "grant":
		tok, err = cl.GrantToken(ctx, rest[0], rest[1:]...)
	case "ungrant":
		tok, err = cl.UngrantToken(ctx, rest[0], rest[1:]...)
	}
	if err != nil {
		return err
	}
	if c.jsonOut {
		return printJSON(stdout, tok)
	}
	fmt.Fprintf(stdout, "token %s (%s) grants: %s\n", tok.ID, tok.Name, strings.Join(tok.Grants, " "))
	return nil
}
