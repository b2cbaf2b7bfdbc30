#!/usr/bin/env bash
# windows.sh: how one cluster's throughput moves from window to window.
# Side-by-side rounds of one build differ by up to a third on the 2-core
# machines we measure on; this tells whether a difference belongs to the
# cluster (it stays for all its windows) or to the moment (it moves
# between windows of one cluster), and shows the context switches that
# moved with it (docs/benchmarks.md, "SCHED_BATCH").
#
# usage: scripts/windows.sh OUTDIR
#
# It starts a fresh 3-node cluster on 127.0.0.1, writes every key once,
# then runs WINDOWS `dynamod bench --json` runs in a row against it (the
# side-by-side workload: CONC connections, N=3 R=2 W=2, 50 % GETs,
# VALUE-byte values; each WARMUP then DURATION). Per window it prints
# ops/s, p99, the nodes' cores and server CPU per operation (/proc over
# the bench run, warm-up included), and, where perf can count software
# events, context switches and page faults per operation of the three
# nodes.
#
# Environment (defaults in brackets):
#   DYNAMOD_BIN    the binary to run [built from DYNAMOD_SRC]
#   DYNAMOD_SRC    checkout to build [this script's work tree]
#   DYNAMOD_ARGS   extra `dynamod serve` flags for every node
#                  (e.g. '--sched inherit')
#   WINDOWS [4] KEYS [10000] VALUE [1024] CONC [64] WARMUP [2s]
#   DURATION [12s] PRELOAD_TIMEOUT [10m]
#
# OUTDIR receives wI.json, wI.log and wI.perf per window, the nodes' logs
# and summary.txt (what was printed).
#
# Only sends traffic to 127.0.0.1, only signals processes it started (by
# PID), and bounds every wait.
# shellcheck source-path=SCRIPTDIR
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/cluster.sh
source "$here/lib/cluster.sh"
SRC=${DYNAMOD_SRC:-$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || dirname "$here")}
WINDOWS=${WINDOWS:-4} KEYS=${KEYS:-10000} VALUE=${VALUE:-1024} CONC=${CONC:-64}
WARMUP=${WARMUP:-2s} DURATION=${DURATION:-12s} PRELOAD_TIMEOUT=${PRELOAD_TIMEOUT:-10m}
DYNAMOD_ARGS=${DYNAMOD_ARGS:-}

# ---- arguments, all problems reported at once ----
(($# == 1)) || usage
[[ $1 == -h || $1 == --help ]] && usage
OUT=$1
problems=()
check_durations WARMUP DURATION PRELOAD_TIMEOUT
check_counts WINDOWS KEYS VALUE CONC
if [[ -n ${DYNAMOD_BIN:-} ]]; then
  [[ -x $DYNAMOD_BIN ]] || problems+=("DYNAMOD_BIN=$DYNAMOD_BIN is not an executable file")
else
  [[ -d $SRC/cmd/dynamod ]] || problems+=("no cmd/dynamod in $SRC (set DYNAMOD_SRC or DYNAMOD_BIN)")
fi
for t in curl awk; do
  command -v "$t" >/dev/null || problems+=("$t is not on PATH")
done
end_checks
use_perf=0
if command -v perf >/dev/null && perf stat -e context-switches -- true >/dev/null 2>&1; then
  use_perf=1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/windows.XXXXXX") || die "mktemp failed"
PIDS=() NODE_PIDS=() NODE_ENV=() HTTP_PORTS=() TARGETS="" DYN=""
trap_cleanup

build_dynamod
start_cluster "$TMP/cluster" 3 windows || die "the cluster did not start (logs in $OUT/logs)"
say "cluster: $TARGETS"

preload_keys

pids=$(
  IFS=,
  echo "${NODE_PIDS[*]}"
)
span=$(($(dur_s "$WARMUP") + $(dur_s "$DURATION")))
{
  echo "dynamod windows on $(hostname), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M') UTC; one cluster, $WINDOWS windows of $WARMUP + $DURATION; $KEYS keys of $VALUE bytes, $CONC connections, 50 % GETs, N=3 R=2 W=2"
  [[ -n $DYNAMOD_ARGS ]] && echo "serve flags: $DYNAMOD_ARGS"
  printf '%-7s %9s %8s %7s %9s %9s %9s\n' window ops/s p99-ms cores µs/op cs/op faults/op
} | tee "$OUT/summary.txt"
for ((i = 1; i <= WINDOWS; i++)); do
  pp=""
  if ((use_perf)); then
    perf stat -x, -e context-switches,page-faults -p "$pids" -- sleep "$span" 2>"$OUT/w$i.perf" &
    pp=$!
    PIDS+=("$pp")
  fi
  t0=$(ticks "${NODE_PIDS[@]}") e0=$EPOCHREALTIME
  side_bench --preload=false --warmup "$WARMUP" --duration "$DURATION" --json >"$OUT/w$i.json" 2>"$OUT/w$i.log" ||
    say "warning: window $i's bench failed: $(tail -3 "$OUT/w$i.log" | tr '\n' '|')"
  t1=$(ticks "${NODE_PIDS[@]}") e1=$EPOCHREALTIME
  if [[ -n $pp ]]; then
    wait "$pp" || say "warning: perf stat failed in window $i"
    unlist "$pp"
  fi
  ops=$(json_num "$OUT/w$i.json" throughput_ops_per_sec)
  p99=$(json_num "$OUT/w$i.json" p99_ns)
  cs=$(awk -F, '$3 == "context-switches" { print $1 }' "$OUT/w$i.perf" 2>/dev/null)
  pf=$(awk -F, '$3 == "page-faults" { print $1 }' "$OUT/w$i.perf" 2>/dev/null)
  awk -v i="$i" -v o="${ops:-0}" -v p="${p99:-0}" -v t="$((t1 - t0))" -v tck="$CLK_TCK" -v s0="$e0" -v s1="$e1" \
    -v cs="${cs:-}" -v pf="${pf:-}" -v span="$span" 'BEGIN {
      el = s1 - s0; n = o * span # operations over the bench run, warm-up included (approximate)
      printf "%-7d %9.0f %8.2f %7.2f %9.1f", i, o, p / 1e6, t / tck / el, (n > 0 ? t / tck / n * 1e6 : 0)
      if (cs != "" && n > 0) printf " %9.2f %9.3f\n", cs / n, pf / n; else printf " %9s %9s\n", "-", "-"
    }' | tee -a "$OUT/summary.txt"
done
for p in "${NODE_PIDS[@]}"; do alive "$p" || say "warning: a node exited during the run"; done
stop_pids "${NODE_PIDS[@]}"
mkdir -p "$OUT/logs" && cp "$TMP/cluster"/*.log "$OUT/logs/" 2>/dev/null
exit 0
