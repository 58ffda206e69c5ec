#!/usr/bin/env bash
# bench-round-shapes.sh: what Temporal itself costs per healthy round, for a
# timer and a local sweep per round (today's healthy round) and for runs of
# quiet rounds swept by one heartbeating activity (BenchmarkRoundShapes),
# side by side in one run, each shape on a dev server of its own. The sweeps
# do nothing: BenchmarkFleet measures the probes.
#
#   scripts/bench-round-shapes.sh                     # 3,000 clusters, 60 s rounds, 4-minute windows, runs of 5
#   ROUND_SHAPES_CLUSTERS=10000 scripts/bench-round-shapes.sh
#   ROUND_SHAPES_RUN=10 ROUND_SHAPES_HEARTBEAT=150s scripts/bench-round-shapes.sh
#
# Reported per round: timer-server-ms/round and run-server-ms/round (the dev
# server's CPU), timer/run, and the worker's (this process's) CPU of each.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-temporal.sh
export TEMPORAL_CLI_PATH="$PWD/.bin/temporal"
exec go test -run '^$' -bench '^BenchmarkRoundShapes$' -benchtime 1x -timeout 60m ./internal/app
