#!/usr/bin/env bash
# temporal-server.sh: run healthd's end-to-end tests, and optionally the fleet
# harness, against the production shape of Temporal instead of the dev server:
# the Temporal server v1.29.1 built from go.temporal.io/server, with
# PostgreSQL persistence and PostgreSQL visibility, its schema set up by
# Temporal's own SQL tool (temporal-sql-tool create-database, setup-schema,
# update-schema), the namespace and the search attributes registered as an
# operator would (internal/testkit/temporaltest does all of it, on fresh databases of
# the local PostgreSQL).
#
#   scripts/temporal-server.sh                      # the end-to-end tests below
#   TESTS='TestEndToEndRecovery$' scripts/temporal-server.sh
#   FLEET=1 scripts/temporal-server.sh              # and one fleet run (bench-fleet.sh's FLEET_* apply)
#
# CI runs the TLS, mTLS and API-key tests and TestEndToEndRecovery on this
# server (scripts/test.sh); this script runs more of them. Builds the server
# first (scripts/install-temporal-server.sh; minutes on a cold cache).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
TESTS="${TESTS:-TestEndToEndRecovery$|TestHealthyRoundCostIsConstant$|TestOverdueRecoveryIsFinishedByTheNextEngine$|TestZoneOutageEndToEnd$|TestTemporalOver}"

bash scripts/ensure-services.sh
bash scripts/install-temporal.sh
bash scripts/install-temporal-server.sh
export TEMPORAL_CLI_PATH="$PWD/.bin/temporal"
export HEALTHD_TEST_TEMPORAL=server

echo "== end-to-end tests on the Temporal server with PostgreSQL: $TESTS"
go test -count=1 -v -run "$TESTS" ./internal/app | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|fleet_test.go' || true
test "${PIPESTATUS[0]}" -eq 0

if [ "${FLEET:-}" = 1 ]; then
	echo "== fleet harness on the Temporal server with PostgreSQL"
	RUNS="${RUNS:-1}" bash scripts/bench-fleet.sh
fi
