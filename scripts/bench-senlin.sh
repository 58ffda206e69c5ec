#!/usr/bin/env bash
# bench-senlin.sh: the time of one polling round of one cluster, as Senlin's
# health manager runs it (every node in turn, each dead node taking its whole
# retry cycle) and as healthd runs it (the real CheckCluster sweep, then the
# round's confirmation of the suspects all at once), in the same run and
# against the same in-process node server (BenchmarkSenlinVersusSweep: 500
# nodes, 10 and then 100 of them dead; retry_limit 3, retry_interval 3 s, so a
# 1 s request timeout and a 9 s retry cycle). Senlin's round grows by one
# retry cycle per dead node; healthd's stays about one cycle.
#
#   scripts/bench-senlin.sh                                  # about 17 minutes
#   SENLIN_NODES=50 SENLIN_DEAD_COUNTS=2,5 scripts/bench-senlin.sh   # about 1.5 minutes
#   SENLIN_DEAD=refused scripts/bench-senlin.sh              # about 12 minutes
#   RUNS=3 scripts/bench-senlin.sh                           # medians of 3 runs
#
# A dead node holds each request until the client's timeout, as a dead VM
# whose address still routes does (SENLIN_DEAD=hang, the default), or answers
# 503 at once (SENLIN_DEAD=refused). The run is almost all waiting: the
# Senlin side with 100 hanging dead nodes alone takes 100 x 9 s = 15 minutes.
# Do not run other benchmarks meanwhile. Needs no services.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS="${RUNS:-1}"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench '^BenchmarkSenlinVersusSweep$' -benchtime 1x -count "$RUNS" -timeout 2h ./activities | tee "$out"

# A result reads "BenchmarkSenlinVersusSweep-2  1  <v> healthd-round-s-10dead
# <v> healthd-sweep-s-10dead  <v> ratio-10dead  <v> senlin-round-s-10dead ...",
# the metrics in any order, four for each dead-node count.
awk '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^BenchmarkSenlinVersusSweep/ && / ratio-/ {
	runs++
	for (i = 1; i < NF; i++) {
		u = $(i + 1)
		if (u !~ /-[0-9]+dead$/) continue
		d = u; sub(/^.*-/, "", d); sub(/dead$/, "", d)
		kind = u; sub(/-[0-9]+dead$/, "", kind)
		if (!(d in seen)) { seen[d] = 1; order[++nd] = d }
		k = d SUBSEP kind
		v[k, ++cnt[k]] = $i
	}
}
END {
	if (runs == 0) { print "bench-senlin: no results" > "/dev/stderr"; exit 1 }
	for (i = 2; i <= nd; i++) { t = order[i]; for (j = i - 1; j > 0 && order[j] + 0 > t + 0; j--) order[j + 1] = order[j]; order[j + 1] = t }
	printf "\nmedians over %d run(s), seconds per round:\n", runs
	printf "%6s  %13s  %13s  %13s  %8s\n", "dead", "senlin round", "healthd sweep", "healthd round", "ratio"
	for (o = 1; o <= nd; o++) {
		d = order[o]
		split("senlin-round-s healthd-sweep-s healthd-round-s ratio", kinds, " ")
		for (q = 1; q <= 4; q++) {
			k = d SUBSEP kinds[q]; n = cnt[k]
			delete a
			for (i = 1; i <= n; i++) a[i] = v[k, i]
			m[q] = n ? median(a, n) : 0
		}
		printf "%6d  %11.1f s  %11.2f s  %11.2f s  %7.1fx\n", d, m[1], m[2], m[3], m[4]
	}
}' "$out"
