#!/usr/bin/env bash
# bench-latency.sh: detection latency from publishing a Nova failure
# notification to RabbitMQ until its recovery action row exists in Postgres,
# through the bridge, Temporal and the workflow (BenchmarkDetectionLatency).
#
#   scripts/bench-latency.sh            # 5 runs of 100 notifications
#   RUNS=9 N=200 scripts/bench-latency.sh
#
# Machines are noisy: it prints each run's p50 and p99, then the median of
# each over the runs, for each case of the benchmark (the dev server's
# defaults, and its transfer queue poll limit lifted; see the benchmark's doc
# comment). Needs the same services as the tests.
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

# A result reads "BenchmarkDetectionLatency/<case>-2  100  <ns> ns/op  <p50>
# p50-ms  <p99> p99-ms"; when the servers log in between, the numbers come on
# a line of their own after the name.
awk '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
match($0, /^BenchmarkDetectionLatency\/[^ \t]+/) {
	name = substr($0, RSTART + 26, RLENGTH - 26); sub(/-[0-9]+$/, "", name)
	if (!(name in n)) order[++cases] = name
}
/ p50-ms/ {
	k = ++n[name]
	for (i = 1; i < NF; i++) {
		if ($(i + 1) == "p50-ms") p50[name, k] = $i
		if ($(i + 1) == "p99-ms") p99[name, k] = $i
	}
}
END {
	if (cases == 0) { print "bench-latency: no results" > "/dev/stderr"; exit 1 }
	for (c = 1; c <= cases; c++) {
		name = order[c]
		for (k = 1; k <= n[name]; k++) { a[k] = p50[name, k]; b[k] = p99[name, k] }
		printf "%s: over %d runs, median p50 %.1f ms, median p99 %.1f ms\n", name, n[name], median(a, n[name]), median(b, n[name])
	}
}' "$out"
