#!/usr/bin/env bash
# Builds the dynamod container image without a registry: the static binary
# (CGO_ENABLED=0) is built on the host with the Go toolchain, then copied
# into a FROM scratch image.
#
#   scripts/docker-build.sh [TAG]      TAG defaults to $DYNAMOD_IMAGE or dynamod:dev
#
# GOARCH follows the Docker engine's architecture unless set.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-${DYNAMOD_IMAGE:-dynamod:dev}}

if ! docker info >/dev/null 2>&1; then
  echo "docker-build: no Docker engine answers (docker info failed)" >&2
  exit 1
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/dynamod-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

if [[ -z ${GOARCH:-} ]]; then
  case $(docker info --format '{{.Architecture}}' 2>/dev/null) in
    aarch64 | arm64) export GOARCH=arm64 ;;
    *) export GOARCH=amd64 ;;
  esac
fi
echo "docker-build: go build (CGO_ENABLED=0 GOOS=linux GOARCH=$GOARCH)" >&2
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o "$ctx/dynamod" ./cmd/dynamod
mkdir "$ctx/data" "$ctx/certs"
cp .dockerignore "$ctx/.dockerignore"

old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "docker-build: docker build -t $tag" >&2
# The classic builder, explicitly: without the buildx plugin (as on our
# machines) newer clients fall back to it anyway, with a deprecation notice.
# The output is shown only on failure.
if ! out=$(DOCKER_BUILDKIT=0 docker build -f Dockerfile -t "$tag" \
  --label "org.opencontainers.image.revision=$rev" \
  --label "org.opencontainers.image.source=github.com/dynamod/dynamod" \
  "$ctx" 2>&1); then
  echo "$out" >&2
  exit 1
fi
# The image the tag named before, if it changed: remove it unless something
# still uses it (a container, another tag).
if [[ -n $old && $old != $(docker image inspect -f '{{.Id}}' "$tag") ]]; then
  docker image rm "$old" >/dev/null 2>&1 || true
fi
echo "docker-build: built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}'))" >&2
