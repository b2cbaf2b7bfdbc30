#!/usr/bin/env bash
# Starts a local N-node dynamod cluster on 127.0.0.1 (default 3 nodes):
# node i serves HTTP on 7070+10*(i-1), node-to-node on 7071+10*(i-1), its
# admin listener (/metrics, tokens) on 7072+10*(i-1) and gossip on
# 7946+i-1, with data in ./dynamod-cluster/nI. Ctrl-C stops all.
# DYNAMOD_ARGS adds flags to every node; DYNAMOD_BIN uses a built binary;
# DYNAMOD_FRESH=1 deletes ./dynamod-cluster first (benchmark on empty data:
# siblings left by an earlier run slow every later one).
#
#   scripts/local-cluster.sh [N]
set -euo pipefail
n=${1:-3}
cd "$(dirname "$0")/.."
bin=${DYNAMOD_BIN:-./dynamod}
if [[ -z ${DYNAMOD_BIN:-} ]]; then
  go build -o "$bin" ./cmd/dynamod
fi
if [[ ${DYNAMOD_FRESH:-} == 1 ]]; then rm -rf dynamod-cluster; fi
extra=()
if [[ -n ${DYNAMOD_ARGS:-} ]]; then read -ra extra <<<"$DYNAMOD_ARGS"; fi
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for i in $(seq 1 "$n"); do
  off=$(( (i - 1) * 10 ))
  args=(serve --name "n$i" --data "dynamod-cluster/n$i"
    --http "127.0.0.1:$((7070 + off))" --rpc "127.0.0.1:$((7071 + off))" --admin "127.0.0.1:$((7072 + off))"
    --gossip "127.0.0.1:$((7946 + i - 1))")
  if (( i > 1 )); then args+=(--join 127.0.0.1:7946); fi
  "$bin" "${args[@]}" "${extra[@]}" &
  pids+=($!)
  sleep 0.3
done
echo "cluster of $n up: http://127.0.0.1:7070 (and :7080, :7090, ...). Ctrl-C stops it." >&2
wait
