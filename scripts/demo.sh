#!/usr/bin/env bash
# A narrated tour of a 3-node dynamod cluster in Docker Compose: replication,
# a network partition with writes on both sides, siblings after the heal and
# their resolution, and a killed node catching up. Run it once the cluster
# is up:
#
#   make docker && make up      # or: docker-compose -p dynamod -f deploy/docker-compose.yml up -d
#   make demo                   # or: scripts/demo.sh
#
# It talks to the nodes through their published ports on 127.0.0.1 (curl)
# and, while a node is cut off, through `docker exec` of the dynamod CLI
# inside its container. Each run uses a fresh key, so it can be run again.
#
# DYNAMOD_COMPOSE_PROJECT  the compose project (default: the one running n1, n2, n3)
# DYNAMOD_DEMO_PAUSE       1: wait for Enter between steps (default when a terminal), 0: don't
set -euo pipefail

for tool in docker curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "demo: needs $tool" >&2; exit 1; }
done
if ! docker info >/dev/null 2>&1; then
  echo "demo: no Docker engine answers (docker info failed)" >&2
  exit 1
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

if [[ -t 1 ]]; then
  B=$'\e[1m' D=$'\e[2m' G=$'\e[32m' Y=$'\e[33m' C=$'\e[36m' R=$'\e[0m'
else
  B='' D='' G='' Y='' C='' R=''
fi
pause=${DYNAMOD_DEMO_PAUSE:-}
if [[ -z $pause ]]; then
  if [[ -t 0 && -t 1 ]]; then pause=1; else pause=0; fi
fi

step_no=0
# step TITLE: starts a numbered step.
step() {
  step_no=$((step_no + 1))
  if [[ $pause == 1 && $step_no -gt 1 ]]; then
    read -rp "${D}(Enter for the next step)${R}" _ || true
  fi
  printf '\n%s== %d. %s%s\n' "$B" "$step_no" "$1" "$R"
}
# say TEXT: narration. look TEXT: what to look for in the output.
say() { printf '%s\n' "$*" | fold -s -w 78 | sed 's/^/   /'; }
look() { printf '%s\n' "look for: $*" | fold -s -w 78 | sed "s/^/   ${Y}/; s/\$/${R}/"; }
ok() { printf '   %s%s%s\n' "$G" "$*" "$R"; }
# quote ARGS...: the arguments as a shell would need them typed.
quote() {
  local a out=()
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+=("$a"); else out+=("'$a'"); fi
  done
  printf '%s' "${out[*]}"
}
# show CMD...: prints a command, then runs it, its output indented.
show() {
  printf '%s$ %s%s\n' "$C" "$(quote "$@")" "$R"
  local rc=0
  "$@" >"$tmp" 2>&1 || rc=$?
  sed 's/^/   /' "$tmp"
  return "$rc"
}
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# --- find the cluster -------------------------------------------------------

project=${DYNAMOD_COMPOSE_PROJECT:-}
if [[ -z $project ]]; then
  mapfile -t projects < <(docker ps --filter label=com.docker.compose.service=n1 \
    --format '{{.Label "com.docker.compose.project"}}' | sort -u)
  case ${#projects[@]} in
    0) die "no running compose cluster found: start one with 'make up' (docker-compose -p dynamod -f deploy/docker-compose.yml up -d)" ;;
    1) project=${projects[0]} ;;
    *) die "several compose projects run an n1 (${projects[*]}): set DYNAMOD_COMPOSE_PROJECT" ;;
  esac
fi

# container SVC: the container id of a service of the project.
container() {
  local id
  id=$(docker ps -aq --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1")
  [[ -n $id ]] || die "project $project has no $1 container"
  printf '%s' "$id"
}
n1=$(container n1) n2=$(container n2) n3=$(container n3)
name1=$(docker inspect -f '{{.Name}}' "$n1") name2=$(docker inspect -f '{{.Name}}' "$n2")
name3=$(docker inspect -f '{{.Name}}' "$n3")
name1=${name1#/} name2=${name2#/} name3=${name3#/}
network=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$n1")

# url CONTAINER: the node's published client port on 127.0.0.1.
url() {
  local p
  p=$(docker port "$1" 7070/tcp 2>/dev/null | grep '^127\.0\.0\.1:' | head -1)
  [[ -n $p ]] || die "$(docker inspect -f '{{.Name}}' "$1") publishes no 127.0.0.1 port for 7070"
  printf 'http://%s' "$p"
}
# dyn CONTAINER ARGS...: the dynamod CLI inside a container, against itself.
dyn() {
  local c=$1
  shift
  docker exec "$c" /dynamod "$@"
}

# dx NAME ARGS...: prints and runs the dynamod CLI inside a container.
dx() {
  local c=$1
  shift
  printf '%s$ docker exec %s dynamod %s%s\n' "$C" "$c" "$(quote "$@")" "$R"
  local rc=0
  docker exec "$c" /dynamod "$@" >"$tmp" 2>&1 || rc=$?
  sed 's/^/   /' "$tmp"
  return "$rc"
}
# http ARGS...: curl -si, printed as the status line, the Dynamod-* and
# Content-Type headers and the body.
http() {
  printf '%s$ curl %s%s\n' "$C" "$(quote "$@")" "$R"
  curl -sS -i --max-time 15 "$@" | tr -d '\r' | awk '
    NR == 1 { print "   " $0; next }
    body { print "   " $0; next }
    /^$/ { body = 1; next }
    tolower($0) ~ /^(dynamod-context|dynamod-deleted|content-type)/ { print "   " $0 }'
}
# context URL: the Dynamod-Context header of a GET.
context() {
  curl -sS -D - -o /dev/null --max-time 15 "$1" | tr -d '\r' |
    awk 'tolower($1) == "dynamod-context:" { print $2 }'
}
# status_code ARGS...: only the HTTP status of a curl.
status_code() { curl -sS -o /dev/null -w '%{http_code}' --max-time 15 "$@"; }

# alive_count CONTAINER: how many members the node sees alive.
alive_count() {
  dyn "$1" status 2>/dev/null | awk '$3 == "alive"' | wc -l
}
# hints CONTAINER: the hints the node keeps for others.
hints() {
  dyn "$1" status 2>/dev/null | sed -n 's/.* \([0-9][0-9]*\) hints pending here.*/\1/p'
}
# wait_for WHAT SECONDS CMD...: polls CMD every 2 s until it succeeds.
wait_for() {
  local what=$1 secs=$2
  shift 2
  local tries=$((secs / 2)) i
  printf '   %swaiting until %s (at most %ds)%s' "$D" "$what" "$secs" "$R"
  for ((i = 0; i < tries; i++)); do
    if "$@"; then
      printf ' %sok after %ds%s\n' "$G" "$((i * 2))" "$R"
      return 0
    fi
    printf '.'
    sleep 2
  done
  printf '\n'
  die "gave up waiting until $what"
}
sees() { [[ $(alive_count "$1") == "$2" ]]; }
no_hints() { local c; for c in "$@"; do [[ $(hints "$c") == 0 ]] || return 1; done; }

u1=$(url "$n1") u2=$(url "$n2") u3=$(url "$n3")
key="cart-$(date +%H%M%S)"
kv=kv/demo/$key

printf '%sdynamod demo%s: compose project %s, network %s, key demo/%s\n' "$B" "$R" "$project" "$network" "$key"
printf 'n1 = %s (%s)\nn2 = %s (%s)\nn3 = %s (%s)\n' "$name1" "$u1" "$name2" "$u2" "$name3" "$u3"

all_see_three() { sees "$n1" 3 && sees "$n2" 3 && sees "$n3" 3; }
wait_for "every node sees three members alive" 90 all_see_three

# --- 1 ----------------------------------------------------------------------
step "The cluster"
say "dynamod status asks one node for its view of the cluster. Every node is" \
  "equal; with three members each holds a replica of every key (n_val 3)."
dx "$name1" status
look "three members, all 'alive'; 0 hints pending."

# --- 2 ----------------------------------------------------------------------
step "Write through n1, read through n2 and n3"
say "Any node takes any request. A write waits for a quorum (2 of 3) of" \
  "replicas; every read returns a causal context (Dynamod-Context) to send" \
  "back with the next write of that key."
http -XPUT "$u1/$kv" -H 'Content-Type: text/plain' -d milk
http "$u2/$kv"
http "$u3/$kv"
look "204 for the write; 200 and 'milk' on n2 and n3, each with the same Dynamod-Context."
ctx0=$(context "$u2/$kv")

# --- 3 ----------------------------------------------------------------------
step "Cut n3 off: docker network disconnect"
say "n3 loses its only network: it can reach neither n1 nor n2, and even its" \
  "published port stops answering. From now on we reach n3 with docker exec," \
  "running the dynamod CLI inside its container."
show docker network disconnect "$network" "$name3"
wait_for "n1 sees n3 gone" 60 sees "$n1" 2
wait_for "n3 sees n1 and n2 gone" 60 sees "$n3" 1
dx "$name1" status
dx "$name3" status
look "n1 sees n3 'dead' (or 'suspect'); n3 sees n1 and n2 'dead'. Both sides keep serving."

# --- 4 ----------------------------------------------------------------------
step "Write on both sides of the partition"
say "Two clients each read 'milk' before the partition (context $ctx0) and now" \
  "add an item. On the majority side, n1 still reaches a write quorum."
http -XPUT "$u1/$kv" -H 'Content-Type: text/plain' -H "Dynamod-Context: $ctx0" -d milk,eggs
say "On the minority side n3 alone cannot reach a quorum of 2: the default" \
  "write is refused with 503, and nothing is written."
dx "$name3" put demo "$key" milk,bread --content-type text/plain --context "$ctx0" || true
say "A client that prefers availability writes with w=1 (as Riak users do):" \
  "n3 takes the write alone and keeps hints for n1 and n2."
dx "$name3" put demo "$key" milk,bread --content-type text/plain --context "$ctx0" -w 1 && ok "acknowledged (exit 0)"
say "Each side now reads its own write:"
http "$u1/$kv"
dx "$name3" get demo "$key" -r 1
dx "$name3" status
look "n1 answers milk,eggs; n3 answers milk,bread; n3 keeps hints for the others (the first line of its status)."

# --- 5 ----------------------------------------------------------------------
step "Heal the partition: docker network connect"
say "n3 comes back under its service name. Gossip finds it again within a few" \
  "seconds; then hinted handoff (every --handoff-interval, 5 s) sends each" \
  "side the writes it missed."
show docker network connect --alias n3 "$network" "$name3"
u3=$(url "$n3")
wait_for "every node sees three members alive" 90 all_see_three
wait_for "all hints are delivered" 90 no_hints "$n1" "$n2" "$n3"
dx "$name1" status
look "three members alive again, 0 hints pending: both sides exchanged their writes."

# --- 6 ----------------------------------------------------------------------
step "Siblings: nothing was lost"
say "The two writes were concurrent: each descends 'milk', neither saw the" \
  "other. dynamod keeps both as siblings and a read answers 300 Multiple" \
  "Choices, through any node. (Accept: application/json asks for JSON;" \
  "values are base64.)"
http "$u2/$kv" -H 'Accept: application/json'
say "The CLI prints the same siblings plainly, with the context to write back:"
dx "$name3" get demo "$key"
look "300 and two siblings, milk,eggs and milk,bread; 'milk' alone is gone, superseded by both."
ctx1=$(context "$u2/$kv")

# --- 7 ----------------------------------------------------------------------
step "Resolve the siblings with the context"
say "The application merges the siblings and writes the result with the" \
  "context of that read: the write supersedes both siblings."
http -XPUT "$u3/$kv" -H 'Content-Type: text/plain' -H "Dynamod-Context: $ctx1" -d milk,eggs,bread
http "$u1/$kv"
http "$u2/$kv"
http "$u3/$kv"
look "200 and milk,eggs,bread on every node, with one and the same context."

# --- 8 ----------------------------------------------------------------------
step "Kill n2: docker kill"
say "docker kill sends SIGKILL: no clean shutdown. (Docker's restart policy" \
  "does not restart a container you kill; we start it again ourselves.)"
show docker kill "$name2"
say "Writes go on: n1 and n3 are a quorum. The coordinator keeps a hint for" \
  "n2 for every write it missed."
ctx2=$(context "$u1/$kv")
http -XPUT "$u1/$kv" -H 'Content-Type: text/plain' -H "Dynamod-Context: $ctx2" -d milk,eggs,bread,coffee
# shellcheck disable=SC2016 # the $i is shown as typed, not expanded
printf '%s$ for i in 1..10: curl -XPUT %s/kv/demo/%s-item-$i%s\n' "$C" "$u3" "$key" "$R"
for i in $(seq 1 10); do
  code=$(status_code -XPUT "$u3/kv/demo/$key-item-$i" -H 'Content-Type: text/plain' -d "item $i")
  [[ $code == 204 ]] || die "write $key-item-$i answered $code"
done
ok "10 writes acknowledged (204) with n2 down"
wait_for "n1 sees n2 gone" 60 sees "$n1" 2
dx "$name1" status
dx "$name3" status
look "n2 'dead'; hints pending on n1 and n3 (about one per write n2 missed)."

# --- 9 ----------------------------------------------------------------------
step "Bring n2 back and watch it catch up"
show docker start "$name2"
n2_answers() { dyn "$n2" health >/dev/null 2>&1; }
wait_for "n2 answers" 60 n2_answers
u2=$(url "$n2")
say "Watching 'dynamod status' on n1 and n3 until the hints for n2 are delivered:"
for i in $(seq 1 30); do
  h1=$(hints "$n1") h3=$(hints "$n3")
  printf '   %s n2 is %-7s hints pending: n1 %s, n3 %s\n' "$(date +%T)" \
    "$(dyn "$n1" status 2>/dev/null | awk '$1 == "n2" { print $3 }')" "${h1:-?}" "${h3:-?}"
  [[ $h1 == 0 && $h3 == 0 ]] && break
  ((i < 30)) || die "hints not delivered within 60 s"
  sleep 2
done
dx "$name2" status
http "$u2/$kv?r=1"
http "$u2/kv/demo/$key-item-7?r=1"
look "the hint counts fall to 0 within a few handoff rounds: n2 has every write it missed; it answers milk,eggs,bread,coffee and item 7."

printf '\n%sDone.%s The partition produced two siblings, a write with the context merged\n' "$B" "$R"
printf 'them, and a killed node caught up by hinted handoff. Every write the cluster\n'
printf 'acknowledged is still there. Stop the cluster with: make down\n'
