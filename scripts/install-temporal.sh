#!/usr/bin/env bash
# install-temporal.sh: make sure .bin/temporal is the Temporal CLI v1.5.1, the
# newest release that builds from source with this project's Go. It provides
# the dev server (`temporal server start-dev`) for dev mode and the tests.
#
# Builds it with `go install` when missing or another version: about 3 minutes
# on a cold Go build cache, about 10 s on a warm one. Quiet when it is already
# there.
set -euo pipefail

VERSION=v1.5.1
MODULE=github.com/temporalio/cli

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="$PWD/.bin"
CLI="$BIN/temporal"

# installed_version prints the module version the binary was built from
# (`temporal --version` says 0.0.0-DEV for a `go install` build).
installed_version() {
	go version -m "$CLI" 2>/dev/null | awk -v m="$MODULE" '$1 == "mod" && $2 == m { print $3; exit }'
}

if [ ! -x "$CLI" ] || [ "$(installed_version)" != "$VERSION" ]; then
	echo "install-temporal: building the Temporal CLI $VERSION into .bin (minutes on a cold build cache)"
	mkdir -p "$BIN"
	GOBIN="$BIN" go install -ldflags "-s -w" "$MODULE/cmd/temporal@$VERSION"
	got="$(installed_version)"
	if [ "$got" != "$VERSION" ]; then
		echo "install-temporal: error: $CLI reports ${got:-no version}, want $VERSION" >&2
		exit 1
	fi
fi
