#!/usr/bin/env bash
# install-temporal-server.sh: make sure .bin/temporal-server and
# .bin/temporal-sql-tool are the Temporal server v1.29.1 (the version the
# pinned dev server, CLI v1.5.1, embeds) and its SQL schema tool, built from
# the Go module go.temporal.io/server. They are the production shape of
# Temporal: its services with PostgreSQL persistence and visibility, the
# schema set up by Temporal's own tool (scripts/temporal-server.sh).
#
# Builds them with `go install` when missing or another version: minutes on a
# cold Go build cache (it shares most of its packages with the CLI), seconds on
# a warm one. Quiet when they are already there.
set -euo pipefail

VERSION=v1.29.1
MODULE=go.temporal.io/server

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="$PWD/.bin"

installed_version() {
	go version -m "$1" 2>/dev/null | awk -v m="$MODULE" '$1 == "mod" && $2 == m { print $3; exit }'
}

for pair in "cmd/server:temporal-server" "cmd/tools/sql:temporal-sql-tool"; do
	pkg="${pair%%:*}"
	name="${pair##*:}"
	if [ -x "$BIN/$name" ] && [ "$(installed_version "$BIN/$name")" = "$VERSION" ]; then
		continue
	fi
	echo "install-temporal-server: building $name ($MODULE/$pkg@$VERSION) into .bin (minutes on a cold build cache)"
	tmp="$(mktemp -d)"
	GOBIN="$tmp" go install -ldflags "-s -w" "$MODULE/$pkg@$VERSION"
	mkdir -p "$BIN"
	mv "$tmp/$(basename "$pkg")" "$BIN/$name"
	rmdir "$tmp"
	got="$(installed_version "$BIN/$name")"
	if [ "$got" != "$VERSION" ]; then
		echo "install-temporal-server: error: $BIN/$name reports ${got:-no version}, want $VERSION" >&2
		exit 1
	fi
done
