#!/usr/bin/env bash
# bench-matrix.sh: how dynamod's cost grows with the keys, the value size,
# durability and the number of nodes (issue 13, "also measure how the cost
# grows"). For each configuration it starts a fresh local cluster on
# 127.0.0.1, runs `dynamod bench --json` with the side-by-side workload,
# reads the nodes' /proc figures, stops the cluster and deletes its data;
# then it prints one table.
#
# usage: scripts/bench-matrix.sh OUTDIR [CONFIG...]
#
# CONFIGs, run in the order given (default: all, in this order):
#   baseline    3 nodes, KEYS keys, 1 KiB values (the reference of the run)
#   keys-big    3 nodes, BIG_KEYS keys, 1 KiB values
#   value-64k   3 nodes, KEYS_64K keys, 64 KiB values
#   value-100   3 nodes, KEYS keys, 100-byte values
#   dw-1        baseline with dw=1 on every PUT (one replica fsyncs first)
#   dw-quorum   baseline with dw=quorum (two of three fsync first)
#   nodes-5     5 nodes, KEYS keys, 1 KiB values
# Every configuration is N=3 R=2 W=2 (bucket props n_val 3, r 2, w 2, and
# --r 2 --w 2 on every request), 64 connections, 50 % GETs, a preload of
# every key, WARMUP then DURATION of load.
#
# Environment (defaults in brackets):
#   DURATION [20s] WARMUP [3s] CONC [64] KEYS [10000] BIG_KEYS [1000000]
#   KEYS_64K [10000]   PRELOAD_TIMEOUT [20m]: bound on one preload; the run
#                      goes on with the keys written (marked in the table)
#   DYNAMOD_SRC        checkout to build (default: this script's work tree)
#   DYNAMOD_BIN        use this binary instead of building one
#   DYNAMOD_ARGS       extra `dynamod serve` flags for every node
#
# OUTDIR receives, per configuration, CONFIG.json (the bench result),
# CONFIG.metrics (the figures below, key=value), CONFIG.samples (the /proc
# samples), CONFIG.bench.log and logs/CONFIG/nI.log; and table.txt.
#
# What the columns mean:
#   ops/s, p50, p99    dynamod bench's, over the measured window
#   srv cores, µs/op   utime+stime of the node processes (/proc/PID/stat)
#                      over the window, per second and per operation
#   cli, other cores   the bench process's CPU and the rest of the machine's
#                      (/proc/stat busy time less nodes and bench): kernel
#                      threads working for the nodes (journal commits and
#                      writeback, large with dw) and anyone else; above 0.1
#                      cores in a dw-less run, the machine was shared
#   RSS MiB            VmRSS of each node at the end (min-max)
#   disk MiB           du of the data directories at the end of the load:
#                      tables, the journal (every write since the last
#                      memtable flush) and versions not yet compacted away
#   B/key/rep          disk MiB in bytes / keys / n_val (fixed costs weigh
#                      on small key counts)
#   WA run, WA preload write amplification: bytes the nodes caused to be
#                      written to storage (/proc/PID/io write_bytes: journal,
#                      tables, compactions, hints) / (value bytes the
#                      clients wrote x n_val), over the measured window and
#                      over the preload. A window can end before the
#                      compactions its writes cause: read both.
#
# Only sends traffic to 127.0.0.1, only signals processes it started (by
# PID), and bounds every wait.
# shellcheck source-path=SCRIPTDIR
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/cluster.sh
source "$here/lib/cluster.sh"
SRC=${DYNAMOD_SRC:-$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || dirname "$here")}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
CONC=${CONC:-64}
KEYS=${KEYS:-10000}
BIG_KEYS=${BIG_KEYS:-1000000}
KEYS_64K=${KEYS_64K:-10000}
PRELOAD_TIMEOUT=${PRELOAD_TIMEOUT:-20m}
DYNAMOD_ARGS=${DYNAMOD_ARGS:-}
ALL_CONFIGS=(baseline keys-big value-64k value-100 dw-1 dw-quorum nodes-5)

# ---- arguments, all problems reported at once ----
(($# >= 1)) || usage
[[ $1 == -h || $1 == --help ]] && usage
OUT=$1
shift
CONFIGS=("$@")
((${#CONFIGS[@]})) || CONFIGS=("${ALL_CONFIGS[@]}")
problems=()
for c in "${CONFIGS[@]}"; do
  [[ " ${ALL_CONFIGS[*]} " == *" $c "* ]] || problems+=("unknown configuration '$c' (${ALL_CONFIGS[*]})")
done
check_durations DURATION WARMUP PRELOAD_TIMEOUT
check_counts CONC KEYS BIG_KEYS KEYS_64K
if [[ -n ${DYNAMOD_BIN:-} ]]; then
  [[ -x $DYNAMOD_BIN ]] || problems+=("DYNAMOD_BIN=$DYNAMOD_BIN is not an executable file")
else
  [[ -d $SRC/cmd/dynamod ]] || problems+=("no cmd/dynamod in $SRC (set DYNAMOD_SRC or DYNAMOD_BIN)")
  command -v go >/dev/null || problems+=("go is not on PATH")
fi
for t in curl du awk; do command -v "$t" >/dev/null || problems+=("$t is not on PATH"); done
[[ -r /proc/self/io ]] || problems+=("/proc/self/io is not readable: no write amplification figures")
end_checks
DUR_S=$(dur_s "$DURATION")
WARM_S=$(dur_s "$WARMUP")
PRELOAD_S=$(dur_s "$PRELOAD_TIMEOUT")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-matrix.XXXXXX") || die "mktemp failed"
PIDS=()      # every process this script started and has not reaped
NODE_PIDS=() # the current cluster's nodes
NODE_ENV=()  # NAME=VALUE for every node (none here)
TARGETS=""   # the current cluster's HTTP URLs, comma-separated
HTTP_PORTS=()

trap_cleanup

# ---- build ----
build_dynamod

# ---- /proc figures ----
# sample BENCH-PID -> "time node-ticks write-bytes bench-ticks busy-ticks",
# read with builtins only (no process per sample).
sample() {
  local p line rest f k v ticks=0 wb=0 bt=0 busy=0 _c u n s _i _w q sq st _r
  for p in "${NODE_PIDS[@]}"; do
    read -r line <"/proc/$p/stat" 2>/dev/null || continue
    rest=${line##*) }
    read -r -a f <<<"$rest"
    ticks=$((ticks + f[11] + f[12])) # utime, stime: fields 14 and 15
    while read -r k v; do
      [[ $k == write_bytes: ]] && wb=$((wb + v))
    done <"/proc/$p/io" 2>/dev/null
  done
  if [[ -n ${1:-} ]] && read -r line <"/proc/$1/stat" 2>/dev/null; then
    rest=${line##*) }
    read -r -a f <<<"$rest"
    bt=$((f[11] + f[12]))
  fi
  read -r _c u n s _i _w q sq st _r </proc/stat
  busy=$((u + n + s + q + sq + st))
  echo "$EPOCHREALTIME $ticks $wb $bt $busy"
}

rss_list() { # -> "n1=KiB n2=KiB ..."
  local p i=1 k v _u out=()
  for p in "${NODE_PIDS[@]}"; do
    v=0
    while read -r k v _u; do [[ $k == VmRSS: ]] && break; done <"/proc/$p/status" 2>/dev/null
    out+=("n$i=${v:-0}")
    i=$((i + 1))
  done
  echo "${out[*]}"
}

# flatten FILE: bench's indented JSON as path=value lines (objects only)
flatten() {
  awk '
    match($0, /^ *"[^"]+": /) {
      ind = 0; while (substr($0, ind + 1, 1) == " ") ind++
      lvl = ind / 2
      line = $0; sub(/^ *"/, "", line)
      key = line; sub(/".*/, "", key)
      val = line; sub(/^[^"]*": /, "", val)
      path[lvl] = key
      if (val ~ /^[\[{]/) next
      sub(/,$/, "", val); gsub(/"/, "", val)
      p = path[1]; for (i = 2; i <= lvl; i++) p = p "." path[i]
      print p "=" val
    }' "$1"
}

# ---- one configuration ----
run_config() { # name
  local name=$1 k=3 keys=$KEYS vsize=1024 dw=""
  case $name in
    keys-big) keys=$BIG_KEYS ;;
    value-64k) keys=$KEYS_64K vsize=65536 ;;
    value-100) vsize=100 ;;
    dw-1) dw=1 ;;
    dw-quorum) dw=quorum ;;
    nodes-5) k=5 ;;
  esac
  local d=$TMP/$name
  say "$name: $k nodes, $keys keys, $vsize-byte values${dw:+, dw=$dw}"
  start_cluster "$d" "$k" "$name" || return 1
  local args=(bench --targets "$TARGETS" --concurrency "$CONC" --keys "$keys" --value-size "$vsize"
    --read-ratio 0.5 --r 2 --w 2 --preload --preload-timeout "$PRELOAD_TIMEOUT"
    --warmup "$WARMUP" --duration "$DURATION" --seed 1 --json --quiet)
  [[ -n $dw ]] && args+=(--dw "$dw")
  local limit=$((PRELOAD_S + WARM_S + DUR_S + 120)) bp sp wp rc t0 t1
  t0=$EPOCHREALTIME
  "$DYN" "${args[@]}" >"$OUT/$name.json" 2>"$OUT/$name.bench.log" &
  bp=$!
  PIDS+=("$bp")
  ( # watchdog: the bench ends its own run (SIGTERM: a partial result) past its bound
    trap - EXIT INT
    # stopped, it stops its sleep too: a stray sleep would hold our stdout open
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    sleep "$limit" &
    s=$!
    wait "$s"
    say "$name: dynamod bench still running after $limit s; sending SIGTERM"
    kill -TERM "$bp" 2>/dev/null
    sleep 20
    kill -KILL "$bp" 2>/dev/null
  ) &
  wp=$!
  PIDS+=("$wp")
  ( # sampler: one line every 0.25 s
    trap - EXIT INT TERM
    while :; do
      sample "$bp"
      sleep 0.25
    done
  ) >"$OUT/$name.samples" &
  sp=$!
  PIDS+=("$sp")
  wait "$bp"
  rc=$?
  t1=$EPOCHREALTIME
  unlist "$bp"
  sample >>"$OUT/$name.samples" # the end, after the bench: nodes only
  local rss du_b
  rss=$(rss_list)
  du_b=$(du -sb "$d"/n* 2>/dev/null | awk '{s += $1} END {print s + 0}')
  stop_pids "$sp" "$wp"
  local dead=0 p
  for p in "${NODE_PIDS[@]}"; do alive "$p" || dead=1; done
  ((dead)) && say "$name: warning: a node exited during the run; see logs/$name"
  stop_pids "${NODE_PIDS[@]}"
  mkdir -p "$OUT/logs/$name" && cp "$d"/*.log "$OUT/logs/$name/" 2>/dev/null
  rm -rf "$d"
  NODE_PIDS=()
  if ((rc != 0)) || [[ ! -s $OUT/$name.json ]]; then
    say "$name: dynamod bench failed (exit $rc): $(tail -3 "$OUT/$name.bench.log" | tr '\n' '|')"
    return 1
  fi
  flatten "$OUT/$name.json" >"$TMP/$name.flat"
  awk -v name="$name" -v k="$k" -v keys="$keys" -v vsize="$vsize" -v dw="${dw:--}" \
    -v t0="$t0" -v t1="$t1" -v warm="$WARM_S" -v tck="$CLK_TCK" -v du="$du_b" -v rss="$rss" '
    FNR == NR { split($0, kv, "="); j[kv[1]] = kv[2]; next }
    { n++; T[n] = $1; NT[n] = $2; WB[n] = $3; BT[n] = $4; BUSY[n] = $5 }
    # at(A, t): A interpolated at time t (samples are in time order)
    function at(A, t,   i) {
      if (t <= T[1]) return A[1]
      for (i = 2; i <= n; i++) if (T[i] >= t) return A[i-1] + (A[i] - A[i-1]) * (t - T[i-1]) / (T[i] - T[i-1])
      return A[n]
    }
    END {
      win = j["elapsed_ns"] / 1e9; ws = t1 - win; ops = j["ops"]
      cores = (at(NT, t1) - at(NT, ws)) / tck / win
      # the bench process ticks end at the last sample that could read them
      lb = n; while (lb > 1 && BT[lb] == 0) lb--
      cli = (T[lb] > ws) ? (BT[lb] - at(BT, ws)) / tck / (T[lb] - ws) : 0
      busy = (at(BUSY, t1) - at(BUSY, ws)) / tck / win
      puts = j["by_op.put.ops"]; pops = j["preload.ops"] + 0
      wa_run = (puts > 0 && vsize > 0) ? (at(WB, t1) - at(WB, ws)) / (puts * vsize * 3) : 0
      pend = ws - warm
      wa_pre = (pops > 0 && vsize > 0) ? (at(WB, pend) - at(WB, t0)) / (pops * vsize * 3) : 0
      nr = split(rss, R, " "); mx = 0; mn = -1
      for (i = 1; i <= nr; i++) { split(R[i], x, "="); v = x[2] / 1024; if (v > mx) mx = v; if (mn < 0 || v < mn) mn = v }
      printf "name=%s\nnodes=%d\nkeys=%d\nvalue_bytes=%d\ndw=%s\n", name, k, keys, vsize, dw
      printf "ops_per_sec=%.1f\np50_ms=%.3f\np99_ms=%.3f\nerrors=%d\nsiblings=%d\n", j["throughput_ops_per_sec"], j["p50_ns"] / 1e6, j["p99_ns"] / 1e6, j["errors"], j["siblings"]
      printf "window_s=%.3f\nserver_cores=%.3f\nserver_us_per_op=%.1f\nclient_cores=%.3f\nother_cores=%.3f\n", win, cores, (ops > 0 ? cores * win / ops * 1e6 : 0), cli, busy - cores - cli
      printf "rss_mib_max=%.0f\nrss_mib_min=%.0f\nrss_kib=%s\n", mx, mn, rss
      printf "disk_mib=%.0f\ndisk_bytes=%d\ndisk_bytes_per_key_replica=%.0f\n", du / 1048576, du, du / keys / 3
      printf "wa_run=%.2f\nwa_preload=%.2f\nput_ops=%d\n", wa_run, wa_pre, puts
      printf "preload_ops=%d\npreload_errors=%d\npreload_s=%.1f\npreload_complete=%s\n", pops, j["preload.errors"], j["preload.elapsed_ns"] / 1e9, j["preload.complete"]
    }' "$TMP/$name.flat" "$OUT/$name.samples" >"$OUT/$name.metrics"
  say "$name: $(grep -E '^(ops_per_sec|p99_ms|server_us_per_op)=' "$OUT/$name.metrics" | tr '\n' ' ')"
}

table() { # metrics files in order -> the table
  awk -F= '
    FNR == 1 { f++ }
    { m[f, $1] = $2 }
    END {
      printf "%-10s %5s %8s %6s %6s %9s %7s %7s %6s %6s %6s %5s %5s %11s %8s %9s %6s %6s %9s\n",
        "config", "nodes", "keys", "value", "dw", "ops/s", "p50 ms", "p99 ms", "errors", "cores", "us/op",
        "cli", "other", "RSS MiB", "disk MiB", "B/key/rep", "WA run", "WA pre", "preload s"
      for (i = 1; i <= f; i++) {
        pre = sprintf("%.0f%s", m[i, "preload_s"], m[i, "preload_complete"] == "true" ? "" : " CUT")
        printf "%-10s %5d %8d %6d %6s %9.0f %7.2f %7.2f %6d %6.2f %6.0f %5.2f %5.2f %5.0f-%-5.0f %8.0f %9.0f %6.2f %6.2f %9s\n",
          m[i, "name"], m[i, "nodes"], m[i, "keys"], m[i, "value_bytes"], m[i, "dw"], m[i, "ops_per_sec"],
          m[i, "p50_ms"], m[i, "p99_ms"], m[i, "errors"], m[i, "server_cores"], m[i, "server_us_per_op"],
          m[i, "client_cores"], m[i, "other_cores"], m[i, "rss_mib_min"], m[i, "rss_mib_max"],
          m[i, "disk_mib"], m[i, "disk_bytes_per_key_replica"], m[i, "wa_run"], m[i, "wa_preload"], pre
        if (m[i, "name"] == "baseline") { bo = m[i, "ops_per_sec"]; bp = m[i, "p99_ms"] }
      }
      if (bo > 0) {
        print ""
        print "against baseline (same run):"
        for (i = 1; i <= f; i++) if (m[i, "name"] != "baseline")
          printf "  %-10s ops/s %.2fx  p99 %.2fx\n", m[i, "name"], m[i, "ops_per_sec"] / bo, m[i, "p99_ms"] / bp
      }
    }' "$@"
}

# ---- run ----
say "workload: $CONC connections, 50 % GETs, N=3 R=2 W=2, warm-up $WARMUP, $DURATION measured; output in $OUT"
failed=0
done_metrics=()
for c in "${CONFIGS[@]}"; do
  if run_config "$c"; then
    done_metrics+=("$OUT/$c.metrics")
  else
    failed=$((failed + 1))
  fi
done
((${#done_metrics[@]})) || die "no configuration produced figures"
{
  echo "dynamod growth matrix on $(hostname), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'); $CONC connections, 50 % GETs, N=3 R=2 W=2, warm-up $WARMUP, $DURATION"
  table "${done_metrics[@]}"
} | tee "$OUT/table.txt"
((failed == 0)) || die "$failed configuration(s) failed; see $OUT/logs"
