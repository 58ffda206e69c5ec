#!/usr/bin/env bash
# openstack-scenarios.sh: runs the openstack driver's live scenarios on the
# bench's real Nova several times and prints one table (median and worst of
# each timing, and how many runs passed), as the README's "OpenStack"
# section shows it.
#
#   scripts/openstack-scenarios.sh [RUNS]     # default 3; brings the bench up
#
# Each scenario is a test (internal/app, internal/openstack) that logs its
# timings; the raw output goes to .data/openstack-scenarios.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS="${1:-3}"
LOG=.data/openstack-scenarios.log
mkdir -p .data
bash scripts/openstack-up.sh >/dev/null
export HEALTHD_TEST_OPENSTACK=1
TESTS='^(TestOpenStackDriverRecoversAStoppedServer|TestOpenStackDriverRecreatesOnNovaEvents|TestOpenStackDriverHoldsAZoneOutage|TestOpenStackDriverEvacuatesADownHost|TestRebuildAndRecreateOnNova|TestServerGroupClusterOnNova|TestApplicationCredentialWithAccessRules)$'
start=$SECONDS
go test -p 1 -count="$RUNS" -timeout 60m -v -run "$TESTS" ./internal/app ./internal/openstack >"$LOG" 2>&1 || true
echo "openstack-scenarios: $RUNS runs in $((SECONDS - start)) s; output in $LOG"

# A duration as Go prints it (663ms, 3.26s, 1m2.5s) in seconds.
awk -v runs="$RUNS" '
function secs(d,   m, s) {
	if (d ~ /ms$/) { sub(/ms$/, "", d); return d / 1000 }
	m = 0
	if (d ~ /m/) { split(d, p, "m"); m = p[1]; d = p[2] }
	sub(/s$/, "", d)
	return m * 60 + d
}
function add(name, d) { n[name]++; v[name, n[name]] = secs(d); if (!(name in seen)) { seen[name] = 1; order[++k] = name } }
/stop → action .* → ACTIVE/ { add("a stopped server: stop → action (NODE_STATUS_POLLING)", $(NF-3)); add("a stopped server: stop → ACTIVE", $NF) }
/stop → recreated server ACTIVE and adopted:/ { add("Nova events → bridge → RECREATE, adopted (LIFECYCLE_EVENTS)", $NF) }
/forced down → its 2 servers ACTIVE on fake-2:/ { add("a host forced down → its 2 servers ACTIVE elsewhere (HYPERVISOR_STATUS_POLLING)", $NF) }
/REBUILD: ACTIVE after/ { add("REBUILD → ACTIVE", $NF) }
/RECREATE: new server ACTIVE and the old one deleted after/ { add("RECREATE → ACTIVE, old deleted", $NF) }
/RECREATE in a server group: ACTIVE after/ { add("RECREATE in a server group → ACTIVE", $NF) }
/^--- PASS: Test/ { pass[$3]++ }
/^--- FAIL: Test/ { fail[$3]++ }
END {
	print "| scenario | runs | median | worst |"
	print "|---|---|---|---|"
	for (i = 1; i <= k; i++) {
		name = order[i]; c = n[name]
		for (a = 1; a <= c; a++) x[a] = v[name, a]
		for (a = 1; a <= c; a++) for (b = a + 1; b <= c; b++) if (x[b] < x[a]) { t = x[a]; x[a] = x[b]; x[b] = t }
		med = (c % 2) ? x[(c + 1) / 2] : (x[c / 2] + x[c / 2 + 1]) / 2
		printf "| %s | %d | %.2f s | %.2f s |\n", name, c, med, x[c]
	}
	print ""
	print "| test | passed | failed |"
	print "|---|---|---|"
	for (t in pass) printf "| %s | %d | %d |\n", t, pass[t], fail[t] + 0
	for (t in fail) if (!(t in pass)) printf "| %s | 0 | %d |\n", t, fail[t]
}' "$LOG"
