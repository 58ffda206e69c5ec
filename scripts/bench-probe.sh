#!/usr/bin/env bash
# bench-probe.sh: CPU time per node of the CheckCluster sweep against a plain
# Go HTTP client loop of the same concurrency, in the same run and against the
# same in-process node server (BenchmarkSweepVersusPlainLoop: 2,000 nodes, 32
# at a time). Target: the sweep costs at most 2x the plain loop.
#
#   scripts/bench-probe.sh                  # 3 runs of 5 sweeps and 5 loops
#   RUNS=5 N=10 scripts/bench-probe.sh
#   PROFILE=1 scripts/bench-probe.sh        # and the sweep's CPU profile, top 30
#
# Both numbers are the whole process's CPU time, so both include the node
# server answering the same requests. Machines are noisy: it prints each run,
# then the median of each number over the runs. Needs no services.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS="${RUNS:-3}"
N="${N:-5}"

out="$(mktemp)"
dir="$(mktemp -d)"
trap 'rm -rf "$out" "$dir"' EXIT
go test -run '^$' -bench '^BenchmarkSweepVersusPlainLoop$' -benchtime "${N}x" -count "$RUNS" ./activities | tee "$out"

# A result reads "BenchmarkSweepVersusPlainLoop-2  5  <ns> ns/op  <v>
# conns-plain  <v> conns-sweep  <v> cpu-us/node-plain  <v> cpu-us/node-sweep
# <v> ratio", the metrics in any order.
awk '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^BenchmarkSweepVersusPlainLoop/ && / ratio/ {
	k = ++n
	for (i = 1; i < NF; i++) {
		if ($(i + 1) == "cpu-us/node-sweep") sweep[k] = $i
		if ($(i + 1) == "cpu-us/node-plain") plain[k] = $i
		if ($(i + 1) == "ratio") ratio[k] = $i
	}
}
END {
	if (n == 0) { print "bench-probe: no results" > "/dev/stderr"; exit 1 }
	r = median(ratio, n)
	printf "over %d runs: median sweep %.1f cpu-us/node, median plain loop %.1f cpu-us/node, median ratio %.2f (target <= 2: %s)\n",
		n, median(sweep, n), median(plain, n), r, r <= 2 ? "met" : "missed"
}' "$out"

if [[ -n "${PROFILE:-}" ]]; then
	go test -run '^$' -bench '^BenchmarkSweepOnly$' -benchtime "$((N * 4))x" \
		-cpuprofile "$dir/cpu.out" -o "$dir/activities.test" ./activities
	go tool pprof -top -nodecount 30 "$dir/activities.test" "$dir/cpu.out"
	go tool pprof -top -cum -nodecount 30 "$dir/activities.test" "$dir/cpu.out"
fi
