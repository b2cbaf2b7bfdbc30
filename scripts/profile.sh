#!/usr/bin/env bash
# profile.sh: where a node's CPU goes under the side-by-side workload, in
# one command (docs/benchmarks.md, "System calls, not Go", was measured
# this way).
#
# usage: scripts/profile.sh OUTDIR
#
# It starts a fresh 3-node cluster on 127.0.0.1 whose nodes have admin
# listeners with /debug/pprof, writes every key once, then runs one
# `dynamod bench --json` (CONC connections, N=3 R=2 W=2 through bucket
# props and --r 2 --w 2, 50 % GETs, VALUE-byte values). A window of WINDOW
# starts 3 s into the measured part; over it the script takes
#   - a CPU profile and an allocation profile (a delta) of node NODE,
#   - the nodes' CPU time (/proc/PID/stat) and their /metrics at both ends,
#   - where perf can count the kernel's system-call tracepoints, the
#     system calls of the three nodes (perf stat),
# and prints: ops/s and p99 of the bench; the window's client requests,
# server CPU per request, frame batches written per request (several
# frames share one write), group commits per request; system calls per
# request; the CPU profile's top entries, flat and cumulative; and the
# allocation profile's top entries by count.
#
# Environment (defaults in brackets):
#   DYNAMOD_BIN    the binary to run [built from DYNAMOD_SRC]
#   DYNAMOD_SRC    checkout to build [this script's work tree]
#   DYNAMOD_ARGS   extra `dynamod serve` flags for every node
#   KEYS [10000] VALUE [1024] CONC [64] WARMUP [3s] DURATION [25s]
#   WINDOW [12s]   the profile's length; WINDOW + 3s must fit in DURATION
#   NODE [1]       the node profiled (1..3)
#   PERF [auto]    count system calls: auto (when perf can), 0 (no), 1 (must)
#   PRELOAD_TIMEOUT [10m]
#
# The profilers cost CPU of their own (counting system-call tracepoints
# most), so the window's server CPU per request reads higher than in
# bench-pair.sh or bench-matrix.sh: compare it between runs of this
# script, not with theirs.
#
# OUTDIR receives cpu.pprof, allocs.pprof (node NODE), metrics-{0,1}-nI.txt
# (the window's ends), perfstat.txt, bench.json, bench.log, the nodes'
# logs and summary.txt (what was printed).
#
# Go's tools read the profiles further, e.g.
#   go tool pprof -top -cum OUTDIR/cpu.pprof
#   go tool pprof -peek 'Syscall6$' OUTDIR/cpu.pprof
#
# Only sends traffic to 127.0.0.1, only signals processes it started (by
# PID), and bounds every wait.
# shellcheck source-path=SCRIPTDIR
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/cluster.sh
source "$here/lib/cluster.sh"
SRC=${DYNAMOD_SRC:-$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || dirname "$here")}
KEYS=${KEYS:-10000} VALUE=${VALUE:-1024} CONC=${CONC:-64}
WARMUP=${WARMUP:-3s} DURATION=${DURATION:-25s} WINDOW=${WINDOW:-12s}
NODE=${NODE:-1} PERF=${PERF:-auto} PRELOAD_TIMEOUT=${PRELOAD_TIMEOUT:-10m}
DYNAMOD_ARGS=${DYNAMOD_ARGS:-}

# ---- arguments, all problems reported at once ----
(($# == 1)) || usage
[[ $1 == -h || $1 == --help ]] && usage
OUT=$1
problems=()
check_durations WARMUP DURATION WINDOW PRELOAD_TIMEOUT
check_counts KEYS VALUE CONC
[[ $NODE =~ ^[123]$ ]] || problems+=("NODE must be 1, 2 or 3, got '$NODE'")
[[ $PERF == auto || $PERF == 0 || $PERF == 1 ]] || problems+=("PERF must be auto, 0 or 1, got '$PERF'")
if dur_s "$WINDOW" >/dev/null && dur_s "$DURATION" >/dev/null &&
  (($(dur_s "$WINDOW") + 3 > $(dur_s "$DURATION"))); then
  problems+=("WINDOW ($WINDOW) + 3s must fit in DURATION ($DURATION)")
fi
if [[ -n ${DYNAMOD_BIN:-} ]]; then
  [[ -x $DYNAMOD_BIN ]] || problems+=("DYNAMOD_BIN=$DYNAMOD_BIN is not an executable file")
else
  [[ -d $SRC/cmd/dynamod ]] || problems+=("no cmd/dynamod in $SRC (set DYNAMOD_SRC or DYNAMOD_BIN)")
fi
for t in curl awk go; do
  command -v "$t" >/dev/null || problems+=("$t is not on PATH (go reads the profiles)")
done
use_perf=0
if [[ $PERF != 0 ]]; then
  if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_write -- true >/dev/null 2>&1; then
    use_perf=1
  elif [[ $PERF == 1 ]]; then
    problems+=("PERF=1 but perf cannot count syscall tracepoints here (root, or kernel.perf_event_paranoid and tracefs access)")
  fi
fi
end_checks

TMP=$(mktemp -d "${TMPDIR:-/tmp}/profile.XXXXXX") || die "mktemp failed"
PIDS=() NODE_PIDS=() NODE_ENV=() HTTP_PORTS=() ADMIN_PORTS=() TARGETS="" DYN=""
trap_cleanup

build_dynamod

ADMIN=1
start_cluster "$TMP/cluster" 3 profile || die "the cluster did not start (logs in $OUT/logs)"
say "cluster: $TARGETS (admin ${ADMIN_PORTS[*]})"

preload_keys

say "measuring: warm-up $WARMUP, $DURATION measured, window of $WINDOW from 3 s in"
side_bench --preload=false --warmup "$WARMUP" --duration "$DURATION" --json >"$OUT/bench.json" 2>"$OUT/bench.log" &
bp=$!
PIDS+=("$bp")

scrape() { # i: every node's /metrics -> metrics-i-nJ.txt
  local j
  for j in 0 1 2; do
    curl -fs --max-time 5 "http://127.0.0.1:${ADMIN_PORTS[j]}/metrics" >"$OUT/metrics-$1-n$((j + 1)).txt" ||
      say "warning: no /metrics from n$((j + 1))"
  done
}

sleep "$(($(dur_s "$WARMUP") + 3))"
w=$(dur_s "$WINDOW")
a=${ADMIN_PORTS[NODE - 1]}
t0=$(ticks "${NODE_PIDS[@]}") e0=$EPOCHREALTIME
scrape 0
curl -fs --max-time $((w + 30)) "http://127.0.0.1:$a/debug/pprof/profile?seconds=$w" -o "$OUT/cpu.pprof" &
cp1=$!
curl -fs --max-time $((w + 30)) "http://127.0.0.1:$a/debug/pprof/allocs?seconds=$w" -o "$OUT/allocs.pprof" &
cp2=$!
PIDS+=("$cp1" "$cp2")
perf_events=write,writev,read,readv,pread64,pwrite64,epoll_pwait,futex,nanosleep,sched_yield,fsync,fdatasync
if ((use_perf)); then
  ev=""
  for e in ${perf_events//,/ }; do ev+="${ev:+,}syscalls:sys_enter_$e"; done
  pids=$(
    IFS=,
    echo "${NODE_PIDS[*]}"
  )
  perf stat -x, -e "$ev,context-switches" -p "$pids" -- sleep "$w" 2>"$OUT/perfstat.txt" &
  pp=$!
  PIDS+=("$pp")
fi
wait "$cp1" || say "warning: the CPU profile failed"
wait "$cp2" || say "warning: the allocation profile failed"
unlist "$cp1" "$cp2"
if ((use_perf)); then
  wait "$pp" || say "warning: perf stat failed: $(tail -2 "$OUT/perfstat.txt" | tr '\n' '|')"
  unlist "$pp"
fi
t1=$(ticks "${NODE_PIDS[@]}") e1=$EPOCHREALTIME
scrape 1
wait "$bp" || say "warning: the bench failed: $(tail -3 "$OUT/bench.log" | tr '\n' '|')"
unlist "$bp"
for p in "${NODE_PIDS[@]}"; do alive "$p" || say "warning: a node exited during the run"; done
stop_pids "${NODE_PIDS[@]}"
mkdir -p "$OUT/logs" && cp "$TMP/cluster"/*.log "$OUT/logs/" 2>/dev/null

# metric i NAME-REGEX -> the sum over nodes of the samples whose name and
# labels match, at end i
metric() {
  cat "$OUT"/metrics-"$1"-n*.txt 2>/dev/null | awk -v re="$2" '$1 ~ re { s += $NF } END { printf "%.0f", s }'
}
delta() { echo $(($(metric 1 "$1") - $(metric 0 "$1"))); }

{
  ops=$(json_num "$OUT/bench.json" throughput_ops_per_sec)
  p99=$(json_num "$OUT/bench.json" p99_ns)
  echo "dynamod profile on $(hostname), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M') UTC; $KEYS keys of $VALUE bytes, $CONC connections, 50 % GETs, N=3 R=2 W=2"
  [[ -n $DYNAMOD_ARGS ]] && echo "serve flags: $DYNAMOD_ARGS"
  awk -v o="${ops:-0}" -v p="${p99:-0}" 'BEGIN { printf "bench: %.0f ops/s, p99 %.2f ms (the whole measured part)\n", o, p / 1e6 }'
  reqs=$(delta '^dynamod_http_requests_total\\{.*route="kv_object"')
  awk -v r="$reqs" -v t="$((t1 - t0))" -v tck="$CLK_TCK" -v s0="$e0" -v s1="$e1" \
    -v fw="$(delta '^dynamod_transport_socket_writes_total$')" -v gc="$(delta '^dynamod_storage_writes_total$')" 'BEGIN {
      el = s1 - s0
      if (r <= 0) { print "window: no client requests counted (see metrics-*.txt)"; exit }
      printf "window: %.1f s, %d client requests (%.0f/s), servers %.2f cores, %.1f µs of server CPU per request\n", el, r, r / el, t / tck / el, t / tck / r * 1e6
      printf "per request (all nodes): %.3f frame batches written, %.3f group commits (goleveldb writes)\n", fw / r, gc / r
    }'
  if ((use_perf)); then
    echo "system calls per request (three nodes, perf stat over the window):"
    awk -F, -v r="$reqs" '$3 != "" && $1 ~ /^[0-9]+$/ {
      n = $3; sub(/^syscalls:sys_enter_/, "", n)
      if ($1 > 0 && r > 0) printf "  %-16s %8.3f\n", n, $1 / r
    }' "$OUT/perfstat.txt"
  fi
  echo
  echo "CPU profile of n$NODE, flat:"
  go tool pprof -top -nodecount=25 "$OUT/cpu.pprof" 2>/dev/null | sed -n '/^ *flat/,$p'
  echo
  echo "CPU profile of n$NODE, cumulative:"
  go tool pprof -top -cum -nodecount=40 "$OUT/cpu.pprof" 2>/dev/null | sed -n '/^ *flat/,$p'
  echo
  echo "allocations of n$NODE over the window, by count:"
  go tool pprof -sample_index=alloc_objects -top -nodecount=20 "$OUT/allocs.pprof" 2>/dev/null | sed -n '/^ *flat/,$p'
} | tee "$OUT/summary.txt"
