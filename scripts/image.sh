#!/usr/bin/env bash
# image.sh: builds the healthd image here, pulling nothing: the file tree
# with deploy/docker/rootfs.sh (static binaries from this checkout, this
# machine's CA certificates, a non-root user), then the image from
# deploy/docker/Dockerfile.prebuilt (FROM scratch, the Dockerfile's
# metadata). With --test, also runs it against the services of this machine
# (scripts/image-test.sh).
#
#   scripts/image.sh [--test] [TAG]      # TAG defaults to healthd:dev
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
test_it=
if [ "${1:-}" = --test ]; then
	test_it=1
	shift
fi
case "${1:-}" in -h | --help) sed -n '2,9p' "$0"; exit 0 ;; esac
TAG="${1:-healthd:dev}"
ctx=.data/image
rm -rf "$ctx"
mkdir -p "$ctx"
sh deploy/docker/rootfs.sh "$ctx/rootfs"
docker build -q -f deploy/docker/Dockerfile.prebuilt -t "$TAG" "$ctx" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$TAG")
echo "image.sh: built $TAG ($((size / 1024 / 1024)) MiB)"
if [ -n "$test_it" ]; then
	exec bash scripts/image-test.sh "$TAG"
fi
