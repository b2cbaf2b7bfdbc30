#!/usr/bin/env bash
# bench-pair.sh: compare two dynamod builds or settings on one machine by
# running them at the same time. Runs of one binary a minute apart differ
# by up to ±20 % on the shared 2-core machines we measure on, more than
# most changes; two clusters loaded side by side meet the same noise at the
# same moment, so the ratio of their server CPU per operation holds still
# (identical sides agreed within 1–5 % where sequential runs spread 40 %;
# docs/benchmarks.md, "Paired runs").
#
# usage: scripts/bench-pair.sh OUTDIR
#
# Each pair starts two fresh 3-node clusters on 127.0.0.1, A and B (the
# one started first alternates), preloads both, then runs one
# `dynamod bench --json` against each at once, with the same seed: CONC
# connections each, N=3 R=2 W=2 (bucket props and --r 2 --w 2), 50 %
# GETs, VALUE-byte values. It reads the nodes' CPU time from /proc over each
# bench's measured window and prints, per pair and as medians, ops/s, p99
# and server CPU µs per operation of each side, and B/A.
#
# Both sides share the machine, so each gets about half of it: compare
# the sides, not the figures with a lone run's. For the same reason a
# comparison of `--sched` settings is not one for this script: the side
# under SCHED_OTHER preempts the side under SCHED_BATCH; compare those in
# separate runs (e.g. sidebyside with DYNAMOD_ARGS='--sched inherit').
# Builds from before 7ff7e03 know no --sched and run under SCHED_OTHER:
# against one, give the newer side B_ARGS='--sched inherit'.
#
# Environment (defaults in brackets):
#   A_BIN, B_BIN   binaries to compare [built from A_SRC, B_SRC]
#   A_SRC, B_SRC   checkouts to build [this script's work tree]
#   A_ARGS, B_ARGS extra `dynamod serve` flags for every node of the side
#   A_ENV, B_ENV   NAME=VALUE words set for every node of the side
#                  (e.g. B_ENV='GOMAXPROCS=1')
#   PAIRS [3] KEYS [10000] VALUE [1024] CONC [32] DURATION [20s] WARMUP [3s]
#   PRELOAD_TIMEOUT [10m]
# With nothing set, both sides are the same build: an A/A run shows how
# far apart two identical sides land here.
#
# OUTDIR receives pairI-A.json, pairI-B.json (bench results),
# pairI.samples, logs/pairI/{A,B}-nJ.log and table.txt.
#
# Only sends traffic to 127.0.0.1, only signals processes it started (by
# PID), and bounds every wait.
# shellcheck source-path=SCRIPTDIR
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/cluster.sh
source "$here/lib/cluster.sh"
TREE=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || dirname "$here")
A_SRC=${A_SRC:-$TREE} B_SRC=${B_SRC:-$TREE}
A_ARGS=${A_ARGS:-} B_ARGS=${B_ARGS:-} A_ENV=${A_ENV:-} B_ENV=${B_ENV:-}
PAIRS=${PAIRS:-3} KEYS=${KEYS:-10000} VALUE=${VALUE:-1024} CONC=${CONC:-32}
DURATION=${DURATION:-20s} WARMUP=${WARMUP:-3s} PRELOAD_TIMEOUT=${PRELOAD_TIMEOUT:-10m}

# ---- arguments, all problems reported at once ----
(($# == 1)) || usage
[[ $1 == -h || $1 == --help ]] && usage
OUT=$1
problems=()
check_durations DURATION WARMUP PRELOAD_TIMEOUT
check_counts PAIRS KEYS VALUE CONC
for side in A B; do
  bin=${side}_BIN src=${side}_SRC envv=${side}_ENV
  if [[ -n ${!bin:-} ]]; then
    [[ -x ${!bin} ]] || problems+=("$bin=${!bin} is not an executable file")
  else
    [[ -d ${!src}/cmd/dynamod ]] || problems+=("no cmd/dynamod in ${!src} (set $src or $bin)")
  fi
  for w in ${!envv}; do
    [[ $w =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || problems+=("$envv: '$w' is not NAME=VALUE")
  done
done
for t in curl awk go; do
  [[ $t == go && -n ${A_BIN:-} && -n ${B_BIN:-} ]] && continue
  command -v "$t" >/dev/null || problems+=("$t is not on PATH")
done
end_checks

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-pair.XXXXXX") || die "mktemp failed"
PIDS=() NODE_PIDS=() NODE_ENV=() HTTP_PORTS=() TARGETS="" DYN="" DYNAMOD_ARGS=""
trap_cleanup

# ---- build ----
declare -A BIN
for side in A B; do
  bin=${side}_BIN src=${side}_SRC
  if [[ -n ${!bin:-} ]]; then
    BIN[$side]=${!bin}
  elif [[ $side == B && $B_SRC == "$A_SRC" && -z ${A_BIN:-} ]]; then
    BIN[B]=${BIN[A]}
  else
    BIN[$side]=$TMP/dynamod-$side
    say "building side $side from ${!src}"
    CGO_ENABLED=0 timeout 600 go -C "${!src}" build -o "${BIN[$side]}" ./cmd/dynamod >"$TMP/build-$side.log" 2>&1 ||
      die "go build ./cmd/dynamod in ${!src} failed: $(tail -3 "$TMP/build-$side.log")"
  fi
done

# ---- one pair ----
declare -A PIDS_OF TARGETS_OF
run_pair() { # i -> pairI.line: "opsA p99A usA opsB p99B usB"
  local i=$1 side order=(A B) d=$TMP/pair$1
  ((i % 2 == 0)) && order=(B A)
  PIDS_OF=([A]="" [B]="")
  for side in "${order[@]}"; do
    DYN=${BIN[$side]}
    local a=${side}_ARGS e=${side}_ENV
    DYNAMOD_ARGS=${!a}
    read -r -a NODE_ENV <<<"${!e}"
    if ! start_cluster "$d/$side" 3 "pair$i-$side"; then
      # shellcheck disable=SC2086 # the other side's PIDs, if it started
      stop_pids ${PIDS_OF[A]} ${PIDS_OF[B]}
      rm -rf "$d"
      return 1
    fi
    PIDS_OF[$side]="${NODE_PIDS[*]}"
    TARGETS_OF[$side]=$TARGETS
  done
  local limit bp=() sp
  limit=$(($(dur_s "$PRELOAD_TIMEOUT") + $(dur_s "$WARMUP") + $(dur_s "$DURATION") + 120))
  ( # sampler: time, ticks of A's nodes, ticks of B's nodes, every 0.25 s
    trap - EXIT INT TERM
    # shellcheck disable=SC2086 # PID lists
    while :; do
      echo "$EPOCHREALTIME $(ticks ${PIDS_OF[A]}) $(ticks ${PIDS_OF[B]})"
      sleep 0.25
    done
  ) >"$OUT/pair$i.samples" &
  sp=$!
  PIDS+=("$sp")
  for side in A B; do
    ( # the bench (A's binary for both sides), then the time it ended
      trap - EXIT INT TERM
      timeout -k 20 "$limit" "${BIN[A]}" bench --targets "${TARGETS_OF[$side]}" --concurrency "$CONC" \
        --keys "$KEYS" --value-size "$VALUE" --read-ratio 0.5 --r 2 --w 2 --preload \
        --preload-timeout "$PRELOAD_TIMEOUT" --warmup "$WARMUP" --duration "$DURATION" --seed 1 \
        --json --quiet >"$OUT/pair$i-$side.json" 2>"$OUT/pair$i-$side.bench.log"
      rc=$?
      echo "$EPOCHREALTIME" >"$TMP/pair$i-$side.end"
      exit "$rc"
    ) &
    bp+=($!)
    PIDS+=($!)
  done
  local rc=0 end=()
  for side in 0 1; do
    wait "${bp[side]}" || rc=1
    unlist "${bp[side]}"
  done
  for side in A B; do end+=("$(cat "$TMP/pair$i-$side.end" 2>/dev/null)"); done
  sleep 0.3 # one more sample after the last bench
  stop_pids "$sp"
  for side in A B; do
    # shellcheck disable=SC2086 # PID list
    for p in ${PIDS_OF[$side]}; do alive "$p" || say "pair $i: warning: a node of side $side exited during the run"; done
    # shellcheck disable=SC2086
    stop_pids ${PIDS_OF[$side]}
    mkdir -p "$OUT/logs/pair$i" && for f in "$d/$side"/*.log; do cp "$f" "$OUT/logs/pair$i/$side-${f##*/}"; done
  done
  rm -rf "$d"
  ((rc == 0)) || { say "pair $i: a bench failed: $(tail -qn2 "$OUT/pair$i-A.bench.log" "$OUT/pair$i-B.bench.log" | tr '\n' '|')"; return 1; }
  local col=2 out=() ops p99 el
  for side in A B; do
    local f=$OUT/pair$i-$side.json
    ops=$(json_num "$f" throughput_ops_per_sec) p99=$(json_num "$f" p99_ns) el=$(json_num "$f" elapsed_ns)
    [[ -n $ops && -n $p99 && -n $el ]] || { say "pair $i: no figures in $f"; return 1; }
    local t=${end[col - 2]}
    out+=("$(awk -v c="$col" -v t1="$t" -v el="$el" -v tck="$CLK_TCK" -v ops="$ops" -v p99="$p99" '
      { n++; T[n] = $1; V[n] = $c }
      function at(t,   j) {
        if (t <= T[1]) return V[1]
        for (j = 2; j <= n; j++) if (T[j] >= t) return V[j-1] + (V[j] - V[j-1]) * (t - T[j-1]) / (T[j] - T[j-1])
        return V[n]
      }
      END { w = el / 1e9; printf "%.0f %.2f %.1f", ops, p99 / 1e6, (at(t1) - at(t1 - w)) / tck / (ops * w) * 1e6 }' \
      "$OUT/pair$i.samples")")
    col=$((col + 1))
  done
  echo "${out[*]}" >"$TMP/pair$i.line"
  say "pair $i: A $(cut -d' ' -f1-3 <<<"${out[0]}") | B ${out[1]} (ops/s, p99 ms, server µs/op)"
}

# ---- run ----
say "A: ${A_BIN:-$A_SRC} ${A_ENV:+env $A_ENV }${A_ARGS:+serve $A_ARGS}"
say "B: ${B_BIN:-$B_SRC} ${B_ENV:+env $B_ENV }${B_ARGS:+serve $B_ARGS}"
say "$PAIRS pair(s): $KEYS keys of $VALUE bytes, $CONC connections a side, 50 % GETs, N=3 R=2 W=2, warm-up $WARMUP, $DURATION measured; output in $OUT"
lines=()
for ((i = 1; i <= PAIRS; i++)); do
  run_pair "$i" && lines+=("$TMP/pair$i.line")
done
((${#lines[@]})) || die "no pair produced figures"
{
  echo "dynamod paired run on $(hostname), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'); $KEYS keys of $VALUE bytes, $CONC connections a side, warm-up $WARMUP, $DURATION"
  echo "A: ${A_BIN:-$A_SRC} ${A_ENV:+env $A_ENV }${A_ARGS:+serve $A_ARGS}"
  echo "B: ${B_BIN:-$B_SRC} ${B_ENV:+env $B_ENV }${B_ARGS:+serve $B_ARGS}"
  cat "${lines[@]}" | awk '
    function median(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { n++; printf "pair %d   A %7.0f ops/s  p99 %6.2f ms  %6.1f µs/op   B %7.0f ops/s  p99 %6.2f ms  %6.1f µs/op   B/A µs/op %.3f  ops/s %.3f\n", n, $1, $2, $3, $4, $5, $6, $6 / $3, $4 / $1
      ru[n] = $6 / $3; ro[n] = $4 / $1; rp[n] = $5 / $2 }
    END { printf "median B/A over %d pair(s): server µs/op %.3f, ops/s %.3f, p99 %.3f\n", n, median(ru, n), median(ro, n), median(rp, n) }'
} | tee "$OUT/table.txt"
((${#lines[@]} == PAIRS)) || die "$((PAIRS - ${#lines[@]})) pair(s) failed; see $OUT/logs"
