#!/usr/bin/env bash
# bench-vs-senlin-live.sh: Senlin 14's own health manager and healthd side by
# side on the bench's real Nova, the same failures put to both, one table
# with both columns from the same run (the README's "healthd and Senlin on
# one cloud").
#
#   scripts/bench-vs-senlin-live.sh            # about 30 minutes
#   scripts/bench-vs-senlin-live.sh --long     # an hour at least: after the
#                                              # failures, a server of each side
#                                              # stopped every 10 minutes
#   RUNS=6 scripts/bench-vs-senlin-live.sh     # single stops timed (default 3)
#
# It brings the bench up with Senlin (scripts/openstack-up.sh --senlin),
# then runs TestVersusSenlin (internal/app/senlin_vs_test.go): each side a
# cluster of 6 servers of its own, with Senlin's example health policy
# (internal/app/testdata/senlin), attached to Senlin's cluster and
# registered with healthd's starter. The table goes to
# .data/bench-vs-senlin.md, the test's whole output to
# .data/bench-vs-senlin.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WATCH=""
case "${1:-}" in
--long) WATCH=1h ;;
"") ;;
-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
*) echo "bench-vs-senlin-live: unknown argument $1 (--long, --help)" >&2; exit 2 ;;
esac
mkdir -p .data
OUT="$PWD/.data/bench-vs-senlin.md"
LOG=.data/bench-vs-senlin.log
bash scripts/openstack-up.sh --senlin >/dev/null
rm -f "$OUT"
start=$SECONDS
rc=0
HEALTHD_TEST_OPENSTACK=1 HEALTHD_TEST_SENLIN=1 HEALTHD_VS_SENLIN_RUNS="${RUNS:-3}" HEALTHD_VS_SENLIN_WATCH="$WATCH" \
	HEALTHD_VS_SENLIN_OUT="$OUT" go test -count=1 -timeout 3h -v -run '^TestVersusSenlin$' ./internal/app >"$LOG" 2>&1 || rc=$?
echo "bench-vs-senlin-live: $((SECONDS - start)) s, exit $rc; output in $LOG"
[ -f "$OUT" ] && cat "$OUT"
exit "$rc"
