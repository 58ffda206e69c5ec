#!/usr/bin/env bash
# openstack-down.sh: stops what scripts/openstack-up.sh started, by the PIDs
# it kept in /var/lib/healthd-openstack/run: SIGTERM to each process's session, SIGKILL
# after 15 s. MariaDB, RabbitMQ, the databases, the packages and
# the bench's state stay; openstack-up.sh starts the services again in
# seconds. The fake driver keeps its servers in the computes' memory, so
# they are gone after a restart (Nova still lists them).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUN=/var/lib/healthd-openstack/run
say() { printf 'openstack-down: %s\n' "$*"; }

[ -d "$RUN" ] || { say "nothing started here"; exit 0; }
pids=()
for f in "$RUN"/*.pid; do
	[ -e "$f" ] || continue
	name="$(basename "$f" .pid)"
	pid="$(cat "$f")"
	if kill -0 "$pid" 2>/dev/null; then
		# Each runs in a session of its own (setsid): its group is its PID,
		# and holds its workers.
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid")
		say "stopping $name (pid $pid)"
	fi
	rm -f "$f"
done
deadline=$((SECONDS + 15))
for pid in "${pids[@]}"; do
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		say "killed pid $pid after 15 s"
	fi
done
say "stopped ${#pids[@]} processes"
