#!/usr/bin/env bash
# image-test.sh TAG: runs the healthd image (scripts/image.sh) against this
# machine's services and checks what an operator relies on:
#   - it runs as the non-root user, has no shell, and says its help;
#   - worker migrate applies the migrations and exits 0;
#   - worker health and worker engine become "healthy" by the image's own
#     HEALTHCHECK (worker ready against /readyz), and their /metrics answer;
#   - the starter in the image reaches Temporal;
#   - a worker whose database is unreachable is reported "unhealthy".
# The containers use the host's network; a Temporal dev server of its own
# runs on a free port. Everything it starts is removed when it ends.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TAG="${1:-healthd:dev}"
say() { printf 'image-test: %s\n' "$*"; }
fail() { printf 'image-test: FAIL: %s\n' "$*" >&2; exit 1; }
bash scripts/ensure-services.sh >/dev/null
bash scripts/install-temporal.sh >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TPORT=$(free_port)
DB="healthd_image_$$"
NAME="healthd-image-$$"
containers=()
cleanup() {
	for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
	[ -n "${tpid:-}" ] && kill "$tpid" 2>/dev/null || true
	psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB" >/dev/null
.bin/temporal server start-dev --ip 127.0.0.1 --port "$TPORT" --headless --log-level error \
	--search-attribute ClusterId=Keyword --search-attribute HealthEnabled=Bool \
	--search-attribute HealthState=Keyword --search-attribute UnhealthyNodes=Int >/dev/null 2>&1 &
tpid=$!
for _ in $(seq 60); do (exec 3<>"/dev/tcp/127.0.0.1/$TPORT") 2>/dev/null && break; sleep 0.5; done

user=$(docker image inspect -f '{{.Config.User}}' "$TAG")
[ "$user" = 65532:65532 ] || fail "user: got $user, want 65532:65532"
say "runs as $user"
if docker run --rm --entrypoint /bin/sh "$TAG" -c true >/dev/null 2>&1; then fail "the image has a shell"; fi
say "no shell"
# contains TEXT: standard input holds TEXT (read whole: grep -q would cut
# the writer's pipe).
contains() { local all; all=$(cat); [[ $all == *"$1"* ]]; }
docker run --rm "$TAG" --help | contains 'worker runs the processes' || fail "worker --help"
docker run --rm --entrypoint /usr/local/bin/starter "$TAG" --help | contains register || fail "starter --help"

ENV=(-e "TEMPORAL_ADDRESS=127.0.0.1:$TPORT" -e "DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable")
docker run --rm --network host "${ENV[@]}" "$TAG" migrate >/dev/null 2>&1 || fail "worker migrate"
say "migrate: exit 0"

# run NAME METRICS_PORT ARGS...: a detached container on the host's network.
run() {
	local name=$1 port=$2
	shift 2
	containers+=("$name")
	docker run -d --name "$name" --network host -e "METRICS_ADDR=127.0.0.1:$port" "$@" >/dev/null
}
# health NAME: the container's health as its HEALTHCHECK says, waited for
# until it is no longer "starting" (90 s at most).
health() {
	local s
	for _ in $(seq 90); do
		s=$(docker inspect -f '{{.State.Health.Status}}' "$1")
		[ "$s" != starting ] && break
		sleep 1
	done
	echo "$s"
}
HPORT=$(free_port)
EPORT=$(free_port)
run "$NAME-health" "$HPORT" "${ENV[@]}" "$TAG" health
run "$NAME-engine" "$EPORT" "${ENV[@]}" "$TAG" engine
for c in health engine; do
	s=$(health "$NAME-$c")
	[ "$s" = healthy ] || { docker logs "$NAME-$c" 2>&1 | tail -5; fail "worker $c: $s, want healthy"; }
	say "worker $c: healthy"
done
curl -fsS "http://127.0.0.1:$HPORT/metrics" | contains $'\nhealthd_rounds_total' || fail "health worker's /metrics"
curl -fsS "http://127.0.0.1:$EPORT/metrics" | contains $'\nhealthd_engine_reclaims_total' || fail "engine's /metrics"
say "/metrics answer"
docker run --rm --network host "${ENV[@]}" --entrypoint /usr/local/bin/starter "$TAG" list >/dev/null ||
	fail "starter list against Temporal"
say "starter list: reaches Temporal"

BPORT=$(free_port)
DEAD=$(free_port)
run "$NAME-nodb" "$BPORT" -e "TEMPORAL_ADDRESS=127.0.0.1:$TPORT" -e "SKIP_MIGRATIONS=true" \
	-e "DATABASE_URL=postgres://postgres@127.0.0.1:$DEAD/$DB?sslmode=disable" "$TAG" engine
s=$(health "$NAME-nodb")
[ "$s" = unhealthy ] || fail "engine without its database: $s, want unhealthy"
say "engine without its database: unhealthy"
say "ok"
