#!/usr/bin/env bash
# test.sh: run every check and test of the project, as CI does.
#
#   scripts/test.sh                  # every package
#   scripts/test.sh ./internal/...   # only these package patterns
#
# Brings up PostgreSQL and RabbitMQ (ensure-services.sh), the Temporal CLI
# (install-temporal.sh) and the Temporal server (install-temporal-server.sh)
# first: the integration and end-to-end tests need them and fail, rather than
# skip, without them. Then go vet, a gofmt check and the tests with the race
# detector; on a whole run, also the end-to-end recovery test once more on the
# Temporal server with PostgreSQL instead of the dev server, and the tests on
# the test bench's real OpenStack (scripts/openstack-up.sh). Works from any
# directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

whole=
if [ "$#" -eq 0 ]; then
	whole=1
	set -- ./...
fi

bash scripts/ensure-services.sh
bash scripts/install-temporal.sh
bash scripts/install-temporal-server.sh
export TEMPORAL_CLI_PATH="$PWD/.bin/temporal"

echo "== go vet $*"
go vet "$@"

# go_files lists the project's Go files: tracked or new, not ignored.
go_files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -co --exclude-standard -- '*.go' | while IFS= read -r f; do
			if [ -f "$f" ]; then printf '%s\n' "$f"; fi
		done
	else
		find . \( -path ./.bin -o -path ./.data -o -path ./.git \) -prune -o -name '*.go' -print
	fi
}

# in_patterns keeps the files that belong to the package patterns given: a
# pattern ending in /... covers its directory tree, any other its directory.
in_patterns() {
	local f p dir
	while IFS= read -r f; do
		f="${f#./}"
		for p in "$@"; do
			p="${p#./}"
			case "$p" in
			... | "") printf '%s\n' "$f"; break ;;
			*/...) case "$f" in "${p%/...}"/*) printf '%s\n' "$f"; break ;; esac ;;
			*)
				dir="$(dirname "$f")"
				if [ "$dir" = "${p%/}" ]; then printf '%s\n' "$f"; break; fi
				;;
			esac
		done
	done
}

echo "== gofmt"
unformatted="$(go_files | in_patterns "$@" | xargs -r gofmt -l)"
if [ -n "$unformatted" ]; then
	echo "gofmt would change these files (run gofmt -w):" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go test -race $*"
go test -race -count=1 -timeout 20m "$@"

if [ -n "$whole" ]; then
	echo "== go test -race: the end-to-end recovery on the Temporal server with PostgreSQL"
	HEALTHD_TEST_TEMPORAL=server go test -race -count=1 -timeout 5m -run 'TestEndToEndRecovery$' ./internal/app
fi

# The image, built here without pulling (scripts/image.sh) and run against
# this machine's services (scripts/image-test.sh), and the compose file
# checked by docker-compose, where Docker runs: ensure-docker.sh installs and
# starts it. HEALTHD_SKIP_DOCKER=1 leaves them out.
if [ -n "$whole" ] && [ -z "${HEALTHD_SKIP_DOCKER:-}" ]; then
	echo "== the image (scripts/image.sh --test) and docker-compose.yml (docker-compose config)"
	bash scripts/ensure-docker.sh
	bash scripts/image.sh --test
	docker-compose -f docker-compose.yml config -q
fi

# The tests on the test bench's real OpenStack, last, with the bench up only
# while they run (about 2.3 GB and some CPU at rest): seconds to start when
# its packages are installed, about 4 minutes on a fresh machine.
# HEALTHD_SKIP_OPENSTACK=1 leaves them out (a machine without root or
# Debian's packages).
if [ -n "$whole" ] && [ -z "${HEALTHD_SKIP_OPENSTACK:-}" ]; then
	echo "== the test bench's OpenStack: scripts/openstack-up.sh, the tests on it, scripts/openstack-down.sh"
	bash scripts/openstack-up.sh
	trap 'bash scripts/openstack-down.sh' EXIT
	HEALTHD_TEST_OPENSTACK=1 go test -race -count=1 -p 1 -timeout 15m \
		-run 'Nova|OpenStack|Hypervisor' ./internal/openstacktest ./internal/openstack ./internal/app
fi
