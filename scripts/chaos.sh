#!/usr/bin/env bash
# chaos.sh: the long version of TestChaosKills. Nodes of a cluster fail one at
# a time and their recoveries mend them, while the health worker and the
# engine, real `worker` processes, are killed with SIGKILL at random moments
# (mid-sweep, mid-confirm, mid-wait, around continue-as-new) and restarted at
# once. Every incident must get exactly one action, every action must
# succeed, and every round must be run or counted as missed.
#
#   scripts/chaos.sh                                   # 20 health kills, 5 engine kills
#   CHAOS_HEALTH_KILLS=40 CHAOS_SEED=123 scripts/chaos.sh
#
# It prints the test's tally (seed, kills, incidents, actions, duplicates,
# losses, rounds, missed rounds, continue-as-new runs); CHAOS_SEED reruns a
# failed run's randomness. A health worker killed mid-sweep holds the rounds
# until the sweep's heartbeat timeout (30 s) passes, so a run takes several
# minutes. Needs the same services as the tests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CHAOS_HEALTH_KILLS="${CHAOS_HEALTH_KILLS:-20}"
export CHAOS_ENGINE_KILLS="${CHAOS_ENGINE_KILLS:-5}"

bash scripts/ensure-services.sh
bash scripts/install-temporal.sh
export TEMPORAL_CLI_PATH="$PWD/.bin/temporal"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
rc=0
go test -run '^TestChaosKills$' -count 1 -v -timeout 30m ./internal/app >"$out" 2>&1 || rc=$?
grep -E -- '--- (PASS|FAIL)|chaos_test.go' "$out" || true
if [ "$rc" -ne 0 ]; then
	echo "chaos: FAILED (full output follows)" >&2
	cat "$out" >&2
	exit "$rc"
fi
grep -o 'chaos tally: .*' "$out"
