package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/dynamod/dynamod/client"
)

// The data-type subcommands (docs/design.md, "Data types"):
//
//	dynamod counter get|incr|decr BUCKET KEY [N]
//	dynamod set     get|add|remove BUCKET KEY [ELEMENT ...] [--context C]
//	dynamod map     get|update BUCKET KEY [OPERATION-JSON] [--context C]
//
// A remove without --context reads the key first and removes what that
// read saw. --r and --w set the read and update quorums.

// typesFlags are the flags of the data-type subcommands.
type typesFlags struct {
	commonFlags
	vctx, r, w string
}

// opts are the quorums the flags give, for client.TypeOptions.
func (f *typesFlags) opts() client.TypeOptions {
	return client.TypeOptions{R: f.r, W: f.w}
}

// typesCall is one data-type subcommand's parsed command line and client.
type typesCall struct {
	*typesFlags
	verb   string
	pos    []string // BUCKET KEY ...
	cl     *client.Client
	ctx    context.Context
	cancel context.CancelFunc
}

// typesStart parses a data-type subcommand's arguments (VERB BUCKET KEY
// ...) and connects its client. The caller defers cancel.
func typesStart(name string, args []string, stderr io.Writer) (*typesCall, error) {
	c := &typesFlags{}
	fs := newFlagSet(name, stderr)
	c.register(fs)
	fs.StringVar(&c.vctx, "context", "", "context of a read, for removes (default: read first)")
	fs.StringVar(&c.r, "r", "", "read quorum")
	fs.StringVar(&c.w, "w", "", "update quorum (1 on the minority side of a partition)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) < 3 {
		return nil, usagef("want VERB BUCKET KEY ...")
	}
	cl, ctx, cancel, err := c.client()
	if err != nil {
		return nil, err
	}
	return &typesCall{typesFlags: c, verb: pos[0], pos: pos[1:], cl: cl, ctx: ctx, cancel: cancel}, nil
}

func cmdCounter(args []string, stdout, stderr io.Writer) error {
	c, err := typesStart("counter", args, stderr)
	if err != nil {
		return err
	}
	defer c.cancel()
	verb, pos, cl, ctx := c.verb, c.pos, c.cl, c.ctx
	bucket, key := pos[0], pos[1]
	var n int64
	switch verb {
	case "get":
		if len(pos) != 2 {
			return usagef("counter get: want BUCKET KEY")
		}
		n, err = cl.Counter(ctx, bucket, key, c.opts())
	case "incr", "decr":
		by := int64(1)
		switch len(pos) {
		case 2:
		case 3:
			if by, err = strconv.ParseInt(pos[2], 10, 64); err != nil || by < 0 {
				return usagef("counter %s: N must be a non-negative integer, got %q", verb, pos[2])
			}
		default:
			return usagef("counter %s: want BUCKET KEY [N]", verb)
		}
		if verb == "decr" {
			by = -by
		}
		n, err = cl.Increment(ctx, bucket, key, by, c.opts())
	default:
		return usagef("counter: unknown verb %q (want get, incr or decr)", verb)
	}
	if err != nil {
		return err
	}
	if c.jsonOut {
		return printJSON(stdout, map[string]int64{"value": n})
	}
	fmt.Fprintln(stdout, n)
	return nil
}

func cmdSet(args []string, stdout, stderr io.Writer) error {
	c, err := typesStart("set", args, stderr)
	if err != nil {
		return err
	}
	defer c.cancel()
	verb, pos, cl, ctx := c.verb, c.pos, c.cl, c.ctx
	vctx := &c.vctx
	bucket, key, elems := pos[0], pos[1], pos[2:]
	var s *client.SetValue
	switch verb {
	case "get":
		if len(elems) > 0 {
			return usagef("set get: want BUCKET KEY")
		}
		s, err = cl.Set(ctx, bucket, key, c.opts())
	case "add":
		if len(elems) == 0 {
			return usagef("set add: want BUCKET KEY ELEMENT...")
		}
		s, err = cl.UpdateSet(ctx, bucket, key, elems, nil, "", c.opts())
	case "remove":
		if len(elems) == 0 {
			return usagef("set remove: want BUCKET KEY ELEMENT...")
		}
		rc := *vctx
		if rc == "" {
			cur, err := cl.Set(ctx, bucket, key, c.opts())
			if err != nil {
				return err
			}
			rc = cur.Context
		}
		s, err = cl.UpdateSet(ctx, bucket, key, nil, elems, rc, c.opts())
	default:
		return usagef("set: unknown verb %q (want get, add or remove)", verb)
	}
	if err != nil {
		return err
	}
	if c.jsonOut {
		return printJSON(stdout, map[string]any{"value": s.Elements, "context": s.Context})
	}
	for _, e := range s.Elements {
		fmt.Fprintln(stdout, e)
	}
	fmt.Fprintf(stdout, "context: %s\n", s.Context)
	return nil
}

func cmdMap(args []string, stdout, stderr io.Writer) error {
	c, err := typesStart("map", args, stderr)
	if err != nil {
		return err
	}
	defer c.cancel()
	verb, pos, cl, ctx := c.verb, c.pos, c.cl, c.ctx
	vctx := &c.vctx
	bucket, key := pos[0], pos[1]
	var m *client.MapValue
	switch verb {
	case "get":
		if len(pos) != 2 {
			return usagef("map get: want BUCKET KEY")
		}
		m, err = cl.Map(ctx, bucket, key, c.opts())
	case "update":
		if len(pos) != 3 {
			return usagef(`map update: want BUCKET KEY OPERATION, e.g. '{"update": {"visits_counter": {"increment": 1}}}'`)
		}
		var op client.MapOp
		if err := json.Unmarshal([]byte(pos[2]), &op); err != nil {
			return usagef("map update: OPERATION is not a map operation: %v", err)
		}
		if op.Context == "" {
			op.Context = *vctx
		}
		if op.Context == "" && len(op.Remove) > 0 {
			cur, err := cl.Map(ctx, bucket, key, c.opts())
			if err != nil {
				return err
			}
			op.Context = cur.Context
		}
		m, err = cl.UpdateMap(ctx, bucket, key, op, c.opts())
	default:
		return usagef("map: unknown verb %q (want get or update)", verb)
	}
	if err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{"value": m.Fields, "context": m.Context})
}
