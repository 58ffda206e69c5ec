#!/usr/bin/env bash
# ensure-docker.sh: make sure a Docker daemon answers and docker-compose is
# installed, installing Debian's docker.io and docker-compose and starting
# dockerd (as a process: there is no systemd) when they are missing. Used by
# scripts/test.sh for the image and compose checks. dockerd's output goes
# to /var/log/healthd-dockerd.log.
set -euo pipefail
say() { printf 'ensure-docker: %s\n' "$*"; }
die() { printf 'ensure-docker: error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (to install and start dockerd)"
install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; } ||
		die "could not install $*"
}
if ! command -v dockerd >/dev/null 2>&1; then
	say "installing docker.io"
	install docker.io
fi
if ! command -v docker-compose >/dev/null 2>&1; then
	say "installing docker-compose"
	install docker-compose
fi
if timeout 10 docker info >/dev/null 2>&1; then
	exit 0
fi
say "starting dockerd"
setsid dockerd >>/var/log/healthd-dockerd.log 2>&1 </dev/null &
for _ in $(seq 60); do
	timeout 5 docker info >/dev/null 2>&1 && exit 0
	sleep 1
done
die "dockerd does not answer after 60 s (see /var/log/healthd-dockerd.log)"
