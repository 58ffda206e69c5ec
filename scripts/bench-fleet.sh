#!/usr/bin/env bash
# bench-fleet.sh: load harness for a fleet of clusters (BenchmarkFleet): one
# health worker, a real Temporal dev server and a fresh database, every
# cluster's ClusterHealth workflow polling its nodes for a measured window.
# The health worker (and the engine, with FLEET_UNHEALTHY) runs as the real
# worker binary and the node server as a process of its own, so each one's
# CPU is measured apart.
#
#   scripts/bench-fleet.sh                                  # 3 runs, 50 clusters × 20 nodes, 5 s rounds, 30 s
#   FLEET_CLUSTERS=200 FLEET_NODES=50 scripts/bench-fleet.sh
#   RUNS=5 FLEET_UNHEALTHY=10 scripts/bench-fleet.sh        # with recoveries
#   FLEET_DYNAMIC_CONFIG=history.transferProcessorMaxPollRPS=1000,history.timerProcessorMaxPollRPS=1000 scripts/bench-fleet.sh
#   RUNS=3 FLEET_CLUSTERS=1000 FLEET_NODES=20 FLEET_INTERVAL=60s FLEET_DURATION=600s FLEET_BREAK=20 scripts/bench-fleet.sh
#   FLEET_PROFILE=/tmp/prof ... scripts/bench-fleet.sh      # and a 30 s CPU profile of the worker
#   HEALTHD_TEST_TEMPORAL=server ... scripts/bench-fleet.sh # on the Temporal server with PostgreSQL
#
# The fleet comes from FLEET_CLUSTERS, FLEET_NODES, FLEET_INTERVAL,
# FLEET_DURATION, FLEET_PLAIN, FLEET_UNHEALTHY, FLEET_BREAK (nodes taken down during the
# window, for detection latency), FLEET_PROFILE and FLEET_DYNAMIC_CONFIG. The worker
# processes inherit the environment, so their settings come from
# SWEEP_CONCURRENCY, WORKER_ACTIVITY_POLLERS, WORKER_WORKFLOW_POLLERS and the
# like, as for any worker; HEALTH_CHECK_INTERVAL_MIN defaults to 1 and
# LOG_LEVEL to warn.
#
# The metrics, over the measured window (the benchmark's doc comment has the
# details):
#   rounds, rounds-expected   round sweeps completed; clusters × duration / interval
#   late-p50-ms, late-p99-ms  round start lateness: sweep activity start minus the
#                             round timer's fire time, from the histories
#   dispatch-ms/round         the part of it until the round's workflow task started
#   missed-rounds             grid points skipped in the window, fleet-wide (Counters.MissedRounds)
#   missed-before-window      the same before the window, while the fleet was registered
#   round-errors              failed sweeps, fleet-wide (Counters.RoundErrors)
#   events/round              history events per round, fleet-wide
#   probes/s                  poll URL requests the node server answered
#   worker-cpu-ms/round       CPU (user + system, /proc/<pid>/stat) of the health
#                             worker process per completed round; the engine's not
#   server-cpu-ms/round       the same of the Temporal dev server process
#   postgres-cpu-ms/round     the same of the PostgreSQL server: the postmaster, its
#                             live children and the children it reaped in the window;
#                             all its clients' work, not only the fleet's (absent when
#                             the server does not run on this machine)
#   nodes-cpu-ms/round        the same of the node server process (probes, webhook)
#   harness-cpu-ms/round      the same of the test process, which holds the harness only
#   worker-us/probe, nodes-us/probe
#                             the health worker's and the node server's CPU per poll
#                             URL request: the per-node accounting
#   plain-us/probe, worker/plain
#                             a plain net/http loop's CPU per request on the same node
#                             server at the same rate, after the workers stop
#                             (FLEET_PLAIN=0 skips it), and the worker's per probe over it
#   node-conns/round          connections the node server accepted per round (0
#                             when the sweeps reuse the kept connections)
#   pg-xacts/round            transactions of the fleet's database per round
#   worker-peak-rss-mb        the health worker's peak RSS (VmHWM) at the window's end
#   settle-s                  from the last registration until every cluster had swept
#                             once; the window starts then
#   status-p99-ms, status-max-ms, status-over-1s
#                             status query latency: one a second in the window, then
#                             every cluster once after it
#   detect-p50-s, detect-p99-s, detect-bound-s, detect-missing (FLEET_BREAK)
#                             from a node going down to its action row, against the
#                             bound interval + (retry_limit - 1) × retry_interval + 2 s
#   recoveries                recoveries succeeded (Counters.RecoveriesSucceeded)
#
# One benchmark iteration is one whole fleet run, so it runs with -benchtime 1x
# and -count RUNS (default 3), each run on a new dev server, database and
# processes. It prints every run's results, then the median of each metric
# over the runs. Needs the same services as the tests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS="${RUNS:-3}"

bash scripts/ensure-services.sh
bash scripts/install-temporal.sh
export TEMPORAL_CLI_PATH="$PWD/.bin/temporal"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench '^BenchmarkFleet$' -benchtime 1x -count "$RUNS" -timeout 2h ./internal/app | tee "$out"

# A result reads "BenchmarkFleet-2  1  <value> <unit>  <value> <unit> ...";
# when the servers log in between, the numbers come on a line of their own
# after the name. Every run reports rounds-expected.
awk -v params="FLEET_CLUSTERS=${FLEET_CLUSTERS:-50} FLEET_NODES=${FLEET_NODES:-20} FLEET_INTERVAL=${FLEET_INTERVAL:-5s} FLEET_DURATION=${FLEET_DURATION:-30s} FLEET_UNHEALTHY=${FLEET_UNHEALTHY:-0} FLEET_BREAK=${FLEET_BREAK:-0}${HEALTHD_TEST_TEMPORAL:+ HEALTHD_TEST_TEMPORAL=$HEALTHD_TEST_TEMPORAL}${FLEET_DYNAMIC_CONFIG:+ FLEET_DYNAMIC_CONFIG=$FLEET_DYNAMIC_CONFIG}" '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/ rounds-expected/ {
	runs++
	for (i = 1; i < NF; i++) {
		unit = $(i + 1)
		if ($i !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ || unit !~ /[a-z]/ || unit == "ns/op") continue
		if (!(unit in n)) order[++units] = unit
		v[unit, ++n[unit]] = $i
	}
}
END {
	if (runs == 0) { print "bench-fleet: no results" > "/dev/stderr"; exit 1 }
	printf "BenchmarkFleet, %s: median over %d runs\n", params, runs
	for (u = 1; u <= units; u++) {
		unit = order[u]
		for (k = 1; k <= n[unit]; k++) a[k] = v[unit, k]
		printf "  %-22s %12.2f\n", unit, median(a, n[unit])
	}
}' "$out"
