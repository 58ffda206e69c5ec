#!/usr/bin/env bash
# bench-latency.sh: detection latency from publishing a Nova failure
# notification to RabbitMQ until its recovery action row exists in Postgres,
# through the bridge, Temporal and the workflow (BenchmarkDetectionLatency).
#
#   scripts/bench-latency.sh            # 5 runs of 100 notifications
#   RUNS=9 N=200 scripts/bench-latency.sh
#
# Machines are noisy: it prints each run's p50 and p99, then the median of
# each over the runs. Needs the same services as the tests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS="${RUNS:-5}"
N="${N:-100}"

bash scripts/ensure-services.sh
bash scripts/install-temporal.sh
export TEMPORAL_CLI_PATH="$PWD/.bin/temporal"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench '^BenchmarkDetectionLatency$' -benchtime "${N}x" -count "$RUNS" ./internal/app | tee "$out"

# A result reads "100  <ns> ns/op  <p50> p50-ms  <p99> p99-ms", on the line of
# the benchmark's name or, when the servers logged in between, on a line of
# its own.
awk -v runs="$RUNS" '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/ p50-ms/ {
	for (i = 1; i < NF; i++) {
		if ($(i + 1) == "p50-ms") p50[++n50] = $i
		if ($(i + 1) == "p99-ms") p99[++n99] = $i
	}
}
END {
	if (n50 == 0) { print "bench-latency: no results" > "/dev/stderr"; exit 1 }
	printf "detection latency over %d runs: median p50 %.1f ms, median p99 %.1f ms\n", n50, median(p50, n50), median(p99, n99)
}' "$out"
