# shellcheck shell=bash
# lib/cluster.sh: local test clusters for the benchmark scripts
# (bench-matrix.sh, bench-pair.sh). Sourced, not run.
#
# say (a message to stderr, prefixed with the script's name), die and usage
# (the script's header comment, up to its `set -u`) are defined here; the
# caller sets:
#   DYN          the dynamod binary
#   DYNAMOD_ARGS extra `dynamod serve` flags for every node (a string)
#   NODE_ENV     optional array of NAME=VALUE set for every node (env(1))
#   PIDS         array: every process started and not reaped (for cleanup)
#   OUT          where start_cluster copies the logs of a failed start
#   TMP          the scratch directory cleanup removes
#   ADMIN        optional: 1 gives every node an admin listener on
#                127.0.0.1 with /debug/pprof (otherwise none)
# start_cluster_once sets NODE_PIDS, HTTP_PORTS, ADMIN_PORTS (with ADMIN=1)
# and TARGETS (the HTTP URLs, comma-separated) for the cluster it started.

say() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { say "$1"; exit "${2:-1}"; }
usage() {
  sed -n '2,/^set -u/{/^set -u/d;/^# shellcheck/d;s/^# \{0,1\}//;p}' "$0" >&2
  exit 2
}

# build_dynamod sets DYN to DYNAMOD_BIN, or builds cmd/dynamod of SRC into
# TMP (the caller checked that one of them is there).
build_dynamod() {
  if [[ -n ${DYNAMOD_BIN:-} ]]; then
    DYN=$DYNAMOD_BIN
    return
  fi
  DYN=$TMP/dynamod
  say "building dynamod from $SRC"
  CGO_ENABLED=0 timeout 600 go -C "$SRC" build -o "$DYN" ./cmd/dynamod >"$TMP/build.log" 2>&1 ||
    die "go build ./cmd/dynamod in $SRC failed: $(tail -3 "$TMP/build.log")"
}

alive() { # PID: running (not gone, not a zombie)
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ ${s%% *} != Z ]]
}

unlist() { # PID...: forget reaped PIDs
  local keep=() q p drop
  for q in "${PIDS[@]}"; do
    drop=0
    for p in "$@"; do [[ $q == "$p" ]] && drop=1; done
    ((drop)) || keep+=("$q")
  done
  PIDS=("${keep[@]}")
}

stop_pids() { # PID...: SIGTERM, up to 20 s for all to exit, then SIGKILL; reap
  local p i left
  (($#)) || return 0
  for p in "$@"; do alive "$p" && kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < 100; i++)); do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    ((left)) || break
    sleep 0.2
  done
  for p in "$@"; do
    if alive "$p"; then
      say "PID $p still running 20 s after SIGTERM; sending SIGKILL"
      kill -KILL "$p" 2>/dev/null
    fi
    wait "$p" 2>/dev/null
  done
  unlist "$@"
}

# ---- ports ----
used_ports() { # local ports bound now (TCP and UDP, v4 and v6), one a line
  local f _sl addr _rest
  for f in /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6; do
    [[ -r $f ]] || continue
    while read -r _sl addr _rest; do
      [[ $addr == *:* ]] || continue
      echo $((16#${addr##*:}))
    done <"$f"
  done
}

free_ports() { # N -> N distinct ports, free now for TCP and UDP, below the
  # ephemeral range so that client sockets don't take them
  local n=$1 used out=() p tries
  used=" $(used_ports | tr '\n' ' ') "
  for ((tries = 0; tries < 20000 && ${#out[@]} < n; tries++)); do
    p=$((20000 + RANDOM % 12000))
    [[ $used == *" $p "* || " ${out[*]} " == *" $p "* ]] && continue
    out+=("$p")
  done
  ((${#out[@]} == n)) || return 1
  echo "${out[*]}"
}

# ticks PID... -> utime+stime of the processes, in clock ticks
ticks() {
  local p line rest f t=0
  for p in "$@"; do
    read -r line <"/proc/$p/stat" 2>/dev/null || continue
    rest=${line##*) }
    read -r -a f <<<"$rest"
    t=$((t + f[11] + f[12]))
  done
  echo "$t"
}

# json_num FILE KEY -> the top-level number KEY of a bench result
json_num() { awk -v k="  \"$2\": " 'index($0, k) == 1 { v = substr($0, length(k) + 1); sub(/,$/, "", v); print v; exit }' "$1"; }

# ---- cluster ----
http_code() { # METHOD URL [curl args...] -> status ("000": no answer)
  local m=$1 u=$2
  shift 2
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X "$m" "$@" "$u" 2>/dev/null || true
}

logtail() { tail -c 400 "$1" 2>/dev/null | tr '\n' '|'; }

all_listed() { # http-port K -> 0 when the node's /cluster shows n1..nK alive
  local body i alive_n
  body=$(curl -fs --max-time 2 "http://127.0.0.1:$1/cluster" 2>/dev/null) || return 1
  for ((i = 1; i <= $2; i++)); do [[ $body == *"\"name\":\"n$i\""* ]] || return 1; done
  alive_n=$(grep -o '"liveness":"alive"' <<<"$body" | wc -l)
  ((alive_n >= $2))
}

start_cluster() { # dir K name: a fresh cluster; a second try on fresh ports and data
  local try name=$3
  for try in 1 2; do
    start_cluster_once "$1" "$2" && return 0
    mkdir -p "$OUT/logs/$name-start$try" && cp "$1"/*.log "$OUT/logs/$name-start$try/" 2>/dev/null
    stop_pids "${NODE_PIDS[@]}"
    NODE_PIDS=()
    rm -rf "$1"
    ((try == 1)) && say "$name: the cluster did not start (logs in logs/$name-start1); trying again"
  done
  return 1
}

start_cluster_once() { # dir K
  local d=$1 k=$2 i p h r g n ports join=() np=3
  ((${ADMIN:-0})) && np=4
  mkdir -p "$d"
  read -r -a ports <<<"$(free_ports $((np * k)))" || true
  ((${#ports[@]} == np * k)) || { say "could not find $((np * k)) free ports"; return 1; }
  NODE_PIDS=() HTTP_PORTS=() ADMIN_PORTS=() TARGETS=""
  local extra=() admin
  [[ -n $DYNAMOD_ARGS ]] && read -r -a extra <<<"$DYNAMOD_ARGS"
  for ((i = 0; i < k; i++)); do
    h=${ports[i]} r=${ports[i + k]} g=${ports[i + 2 * k]} n=n$((i + 1)) admin=(--admin "")
    if ((np == 4)); then
      admin=(--admin "127.0.0.1:${ports[i + 3 * k]}" --pprof)
      ADMIN_PORTS+=("${ports[i + 3 * k]}")
    fi
    env "${NODE_ENV[@]}" "$DYN" serve --name "$n" --data "$d/$n" --http "127.0.0.1:$h" --rpc "127.0.0.1:$r" \
      --gossip "127.0.0.1:$g" "${admin[@]}" "${join[@]}" "${extra[@]}" >"$d/$n.log" 2>&1 &
    p=$!
    PIDS+=("$p") NODE_PIDS+=("$p") HTTP_PORTS+=("$h")
    TARGETS+="${TARGETS:+,}http://127.0.0.1:$h"
    ((i == 0)) && join=(--join "127.0.0.1:$g")
    local t
    for ((t = 0; t < 150; t++)); do
      [[ $(http_code GET "http://127.0.0.1:$h/ping") == 200 ]] && break
      alive "$p" || { say "$n exited at start: $(logtail "$d/$n.log")"; return 1; }
      sleep 0.2
    done
    ((t < 150)) || { say "$n never answered /ping in 30 s: $(logtail "$d/$n.log")"; return 1; }
  done
  local ok=0
  for ((i = 0; i < 300 && !ok; i++)); do
    ok=1
    for h in "${HTTP_PORTS[@]}"; do all_listed "$h" "$k" || ok=0; done
    ((ok)) || sleep 0.2
  done
  ((ok)) || { say "not every node lists n1..n$k alive after 60 s"; return 1; }
  local c
  c=$(http_code PUT "http://127.0.0.1:${HTTP_PORTS[0]}/buckets/bench/props" \
    -H 'Content-Type: application/json' --data '{"n_val":3,"r":2,"w":2}')
  [[ $c == 200 || $c == 204 ]] || { say "PUT /buckets/bench/props answered $c"; return 1; }
  for ((i = 0; i < 100; i++)); do
    ok=1
    for h in "${HTTP_PORTS[@]}"; do
      curl -fs --max-time 2 "http://127.0.0.1:$h/buckets/bench/props" 2>/dev/null |
        grep -q '"n_val":3,"r":2,"w":2' || ok=0
    done
    ((ok)) && break
    sleep 0.2
  done
  ((ok)) || { say "not every node shows the bucket props after 20 s"; return 1; }
}

# side_bench FLAG...: one `dynamod bench` against TARGETS with the
# side-by-side workload (CONC connections, KEYS keys of VALUE bytes, 50 %
# GETs, N=3 R=2 W=2 on every request, seed 1) and the caller's flags,
# bounded by PRELOAD_TIMEOUT + WARMUP + DURATION + 2 minutes.
# preload_keys writes every key once (the log in TMP/preload.log) or dies.
side_bench() {
  timeout -k 20 "$(($(dur_s "$PRELOAD_TIMEOUT") + $(dur_s "$WARMUP") + $(dur_s "$DURATION") + 120))" \
    "$DYN" bench --targets "$TARGETS" --concurrency "$CONC" --keys "$KEYS" --value-size "$VALUE" \
    --read-ratio 0.5 --r 2 --w 2 --seed 1 --quiet "$@"
}
preload_keys() {
  say "writing $KEYS keys of $VALUE bytes"
  side_bench --preload --preload-timeout "$PRELOAD_TIMEOUT" --ops 1 >"$TMP/preload.log" 2>&1 ||
    die "the preload failed: $(tail -3 "$TMP/preload.log")"
}

# check_durations NAME... and check_counts NAME... add to the caller's
# problems array a line for each named variable that is not a duration
# (dur_s's forms) or not a positive integer.
# shellcheck disable=SC2034 # problems is the caller's
check_durations() {
  local v
  for v; do
    dur_s "${!v}" >/dev/null || problems+=("$v must be a duration like 20s, 3m or 1m30s, got '${!v}'")
  done
}
# shellcheck disable=SC2034 # problems is the caller's
check_counts() {
  local v
  for v; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || problems+=("$v must be a positive integer, got '${!v}'")
  done
}

# end_checks reports every entry of the problems array and exits 2 if
# there is any; otherwise it creates OUT, makes it absolute and sets
# CLK_TCK (clock ticks per second, for /proc/PID/stat).
# shellcheck disable=SC2154,SC2034 # problems is the caller's; CLK_TCK is for it
end_checks() {
  local p
  if ((${#problems[@]})); then
    for p in "${problems[@]}"; do say "$p"; done
    exit 2
  fi
  mkdir -p "$OUT" || die "cannot create $OUT"
  OUT=$(cd "$OUT" && pwd)
  CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
}

# dur_s GO-DURATION -> whole seconds (forms: 20s, 3m, 1h, 1m30s)
dur_s() {
  local d=$1 total=0 n u
  [[ $d =~ ^([0-9]+[hms])+$ ]] || return 1
  while [[ $d =~ ^([0-9]+)([hms])(.*)$ ]]; do
    n=$((10#${BASH_REMATCH[1]})) u=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
    case $u in
      h) total=$((total + 3600 * n)) ;;
      m) total=$((total + 60 * n)) ;;
      s) total=$((total + n)) ;;
    esac
  done
  echo "$total"
}

# cleanup stops every process in PIDS and removes TMP; trap_cleanup runs
# it when the script exits or is interrupted.
cleanup() {
  trap - EXIT INT TERM
  ((${#PIDS[@]})) && stop_pids "${PIDS[@]}"
  rm -rf "$TMP"
}

trap_cleanup() {
  trap cleanup EXIT
  trap 'say "interrupted"; exit 130' INT TERM
}
