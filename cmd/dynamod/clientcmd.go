package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dynamod/dynamod/client"
)

// commonFlags are shared by the client subcommands.
type commonFlags struct {
	node    string
	timeout time.Duration
	jsonOut bool
	auth    authFlags // --token, --ca (tokencmd.go)
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.node, "node", "http://127.0.0.1:7070", "node URL(s), comma-separated for failover")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "request timeout")
	fs.BoolVar(&c.jsonOut, "json", false, "print JSON")
	c.auth.register(fs)
}

// start parses args into fs, checks the number of positional arguments
// (one of counts; none given: any), and connects a client. The caller
// defers cancel.
func (c *commonFlags) start(fs *flag.FlagSet, args []string, want string, counts ...int) ([]string, *client.Client, context.Context, context.CancelFunc, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(counts) > 0 && !slices.Contains(counts, len(pos)) {
		if want == "" {
			return nil, nil, nil, nil, usagef("unexpected argument %q", pos[0])
		}
		return nil, nil, nil, nil, usagef("want %s, got %d arguments", want, len(pos))
	}
	cl, ctx, cancel, err := c.client()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return pos, cl, ctx, cancel, nil
}

func (c *commonFlags) client() (*client.Client, context.Context, context.CancelFunc, error) {
	nodes := strings.Split(c.node, ",")
	for i, n := range nodes {
		if !strings.Contains(n, "://") {
			nodes[i] = "http://" + n
		}
	}
	opts, err := c.auth.options()
	if err != nil {
		return nil, nil, nil, err
	}
	cl, err := client.New(nodes, append(opts, client.WithTimeout(c.timeout))...)
	if err != nil {
		return nil, nil, nil, usageError{err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout+time.Second)
	return cl, ctx, cancel, nil
}

func cmdGet(args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	var r, pr string
	fs := newFlagSet("get", stderr)
	c.register(fs)
	fs.StringVar(&r, "r", "", "read quorum (number, one, quorum, all)")
	fs.StringVar(&pr, "pr", "", "primary read quorum")
	pos, cl, ctx, cancel, err := c.start(fs, args, "BUCKET KEY", 2)
	if err != nil {
		return err
	}
	defer cancel()
	obj, err := cl.Get(ctx, pos[0], pos[1], &client.ReadOptions{R: r, PR: pr})
	if err != nil && !(errors.Is(err, client.ErrNotFound) && obj != nil) {
		return err
	}
	if c.jsonOut {
		return printJSON(stdout, obj)
	}
	printObject(stdout, obj)
	if err != nil {
		return err // a tombstone: printed its context, still not found
	}
	return nil
}

// printObject shows siblings plainly, then the context to write back with.
func printObject(w io.Writer, obj *client.Object) {
	if len(obj.Siblings) > 1 {
		fmt.Fprintf(w, "%d siblings:\n", len(obj.Siblings))
	}
	for i, s := range obj.Siblings {
		prefix := ""
		if len(obj.Siblings) > 1 {
			prefix = fmt.Sprintf("[%d] ", i+1)
		}
		if s.Deleted {
			fmt.Fprintf(w, "%s(deleted)  id=%s  %s\n", prefix, s.ID, s.LastModified.Format(time.RFC3339))
			continue
		}
		fmt.Fprintf(w, "%s%s\n", prefix, printable(s.Value))
		if len(obj.Siblings) > 1 || s.ContentType != "" {
			fmt.Fprintf(w, "%s  id=%s  type=%s  modified=%s\n", strings.Repeat(" ", len(prefix)), s.ID, s.ContentType, s.LastModified.Format(time.RFC3339))
		}
		if !s.Expires.IsZero() {
			fmt.Fprintf(w, "%s  expires=%s\n", strings.Repeat(" ", len(prefix)), s.Expires.Format(time.RFC3339))
		}
		keys := make([]string, 0, len(s.Meta))
		for k := range s.Meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  meta %s: %s\n", k, s.Meta[k])
		}
	}
	fmt.Fprintf(w, "context: %s\n", obj.Context)
}

// printable shows text as is and binary as a quoted Go string.
func printable(b []byte) string {
	if utf8.Valid(b) && !bytes.ContainsAny(b, "\x00") {
		return string(b)
	}
	return strconv.Quote(string(b))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeFlags are shared by put and delete.
type writeFlags struct {
	commonFlags
	vctx, w, pw, dw, contentType string
	meta                         multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (f *writeFlags) register(fs *flag.FlagSet) {
	f.commonFlags.register(fs)
	fs.StringVar(&f.vctx, "context", "", "causal context from a read (empty: seen nothing)")
	fs.StringVar(&f.w, "w", "", "write quorum")
	fs.StringVar(&f.pw, "pw", "", "primary write quorum")
	fs.StringVar(&f.dw, "dw", "", "durable write quorum")
	fs.StringVar(&f.contentType, "content-type", "", "content type of the value")
	fs.Var(&f.meta, "meta", "user metadata name=value (repeatable)")
}

func (f *writeFlags) options() (*client.WriteOptions, error) {
	o := &client.WriteOptions{W: f.w, PW: f.pw, DW: f.dw, ContentType: f.contentType}
	for _, m := range f.meta {
		k, v, ok := strings.Cut(m, "=")
		if !ok || k == "" {
			return nil, usagef("--meta %q: want name=value", m)
		}
		if o.Meta == nil {
			o.Meta = map[string]string{}
		}
		o.Meta[k] = v
	}
	return o, nil
}

func cmdPut(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var f writeFlags
	var returnBody bool
	fs := newFlagSet("put", stderr)
	f.register(fs)
	fs.BoolVar(&returnBody, "print", false, "print the stored object (returnbody)")
	ttl := fs.Duration("ttl", 0, "time to live: the value expires that long after the write (0: the bucket's ttl)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 && len(pos) != 3 {
		return usagef("want BUCKET KEY [VALUE], got %d arguments", len(pos))
	}
	var value []byte
	if len(pos) == 3 {
		value = []byte(pos[2])
	} else {
		if value, err = io.ReadAll(io.LimitReader(stdin, 64<<20)); err != nil {
			return err
		}
	}
	o, err := f.options()
	if err != nil {
		return err
	}
	if *ttl < 0 {
		return usagef("--ttl must not be negative")
	}
	o.ReturnBody, o.TTL = returnBody, *ttl
	cl, ctx, cancel, err := f.client()
	if err != nil {
		return err
	}
	defer cancel()
	obj, err := cl.Put(ctx, pos[0], pos[1], f.vctx, value, o)
	if err != nil {
		return err
	}
	if obj != nil {
		if f.jsonOut {
			return printJSON(stdout, obj)
		}
		printObject(stdout, obj)
	}
	return nil
}

func cmdDelete(args []string, stdout, stderr io.Writer) error {
	var f writeFlags
	fs := newFlagSet("delete", stderr)
	f.register(fs)
	o, err := f.options()
	if err != nil {
		return err
	}
	pos, cl, ctx, cancel, err := f.start(fs, args, "BUCKET KEY", 2)
	if err != nil {
		return err
	}
	defer cancel()
	return cl.Delete(ctx, pos[0], pos[1], f.vctx, o)
}

func cmdKeys(args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	fs := newFlagSet("keys", stderr)
	c.register(fs)
	pos, cl, ctx, cancel, err := c.start(fs, args, "BUCKET", 1)
	if err != nil {
		return err
	}
	defer cancel()
	keys, err := cl.Keys(ctx, pos[0])
	if err != nil {
		return err
	}
	sort.Strings(keys)
	if c.jsonOut {
		return printJSON(stdout, keys)
	}
	for _, k := range keys {
		fmt.Fprintln(stdout, k)
	}
	return nil
}

func cmdHealth(args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	fs := newFlagSet("health", stderr)
	c.register(fs)
	c.timeout = 3 * time.Second
	_, cl, ctx, cancel, err := c.start(fs, args, "", 0)
	if err != nil {
		return err
	}
	defer cancel()
	if err := cl.Ready(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

func cmdProps(args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	fs := newFlagSet("props", stderr)
	c.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usagef("want get|set|reset BUCKET [key=value ...]")
	}
	cl, ctx, cancel, err := c.client()
	if err != nil {
		return err
	}
	defer cancel()
	verb, bucket := pos[0], pos[1]
	switch verb {
	case "get":
		p, err := cl.Props(ctx, bucket)
		if err != nil {
			return err
		}
		return printJSON(stdout, p)
	case "set":
		if len(pos) < 3 {
			return usagef("props set: want at least one key=value")
		}
		set := map[string]any{}
		for _, kv := range pos[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return usagef("props set: %q is not key=value", kv)
			}
			set[k] = propValue(v)
		}
		if err := cl.SetProps(ctx, bucket, set); err != nil {
			return err
		}
		p, err := cl.Props(ctx, bucket)
		if err != nil {
			return err
		}
		return printJSON(stdout, p)
	case "reset":
		return cl.ResetProps(ctx, bucket)
	}
	return usagef("props: unknown verb %q (want get, set or reset)", verb)
}

// propValue types a property value: numbers and booleans as JSON, else a
// string.
func propValue(v string) any {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n
	}
	if b, err := strconv.ParseBool(v); err == nil {
		return b
	}
	return v
}
