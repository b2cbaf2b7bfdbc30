package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dynamod/dynamod/bench"
	"github.com/dynamod/dynamod/client"
)

func cmdBench(args []string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultConfig()
	var targets string
	var jsonOut, quiet bool
	var auth authFlags
	var ops int64
	fs := newFlagSet("bench", stderr)
	fs.StringVar(&targets, "targets", "http://127.0.0.1:7070", "node URLs, comma-separated (clients spread round-robin)")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "concurrent clients")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured run time (0: bounded by --ops)")
	fs.Int64Var(&ops, "ops", 0, "stop after this many requests (0: bounded by --duration)")
	fs.IntVar(&cfg.Keys, "keys", cfg.Keys, "distinct keys")
	fs.IntVar(&cfg.ValueSize, "value-size", cfg.ValueSize, "value size in bytes")
	fs.Float64Var(&cfg.ReadRatio, "read-ratio", cfg.ReadRatio, "share of GETs, 0..1")
	fs.StringVar(&cfg.Bucket, "bucket", cfg.Bucket, "bucket")
	fs.StringVar(&cfg.R, "r", "", "read quorum sent with every GET")
	fs.StringVar(&cfg.W, "w", "", "write quorum sent with every PUT")
	fs.StringVar(&cfg.DW, "dw", "", "durable-write quorum sent with every PUT (replicas that fsync before answering; e.g. 1 or quorum)")
	fs.BoolVar(&cfg.Preload, "preload", true, "write every key once before measuring")
	fs.DurationVar(&cfg.PreloadTimeout, "preload-timeout", 0, "stop the preload after this long and run with the keys written so far (0: no limit but the run's own)")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "run the workload this long before measuring (loadgen's default: 3s)")
	fs.DurationVar(&cfg.Window, "window", 0, "also report throughput, p50, p99 and max per window of this length (e.g. 250ms; 0: none)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the key and operation sequence")
	fs.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	fs.BoolVar(&quiet, "quiet", false, "no progress line")
	auth.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	cfg.Ops = ops
	for _, t := range strings.Split(targets, ",") {
		if !strings.Contains(t, "://") {
			t = "http://" + t
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	if !quiet {
		cfg.Progress = stderr
	}
	cfg.Token = auth.token
	if auth.ca != "" {
		tc, err := client.LoadCA(auth.ca)
		if err != nil {
			return usagef("--ca: %v", err)
		}
		cfg.TLS = tc
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteTable(stdout)
}
