#!/usr/bin/env bash
# ensure-services.sh: make sure PostgreSQL and RabbitMQ answer on loopback,
# installing (Debian/Ubuntu packages) and starting whatever is missing, and
# that promtool is installed.
#
# Idempotent and quiet when everything is up; prints one line per action it
# takes. Exits non-zero with a message naming the service when one cannot be
# brought up within the deadline.
#
# Environment:
#   HEALTHD_PG_PORT           PostgreSQL port to check (default 5432)
#   HEALTHD_AMQP_PORT         RabbitMQ AMQP port to check (default 5672)
#   HEALTHD_SERVICE_TIMEOUT   seconds to wait for each service (default 60)
set -euo pipefail

HOST=127.0.0.1
PG_PORT="${HEALTHD_PG_PORT:-5432}"
AMQP_PORT="${HEALTHD_AMQP_PORT:-5672}"
TIMEOUT="${HEALTHD_SERVICE_TIMEOUT:-60}"

say() { printf 'ensure-services: %s\n' "$*"; }
die() { printf 'ensure-services: error: %s\n' "$*" >&2; exit 1; }

# as_root runs a command as root, through sudo when not root already.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# as_postgres runs a command as the postgres system user.
as_postgres() {
	if [ "$(id -un)" = postgres ]; then
		"$@"
	elif [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		as_root -u postgres "$@"
	fi
}

# port_open tells whether something accepts TCP connections on HOST:$1.
port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# apt_install installs Debian packages quietly, refreshing the package lists
# once if the first attempt fails (a fresh machine may have none).
apt_install() {
	local log
	log="$(mktemp)"
	export DEBIAN_FRONTEND=noninteractive
	if ! as_root apt-get install -y --no-install-recommends "$@" >"$log" 2>&1; then
		if ! { as_root apt-get update && as_root apt-get install -y --no-install-recommends "$@"; } >"$log" 2>&1; then
			cat "$log" >&2
			rm -f "$log"
			die "could not install $*"
		fi
	fi
	rm -f "$log"
}

# wait_until runs "$@" once a second until it succeeds or TIMEOUT seconds pass.
wait_until() {
	local deadline=$((SECONDS + TIMEOUT))
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			return 1
		fi
		sleep 1
	done
}

### PostgreSQL

pg_ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$HOST" -p "$PG_PORT" -t 2; }

pg_trusts_postgres() {
	PGCONNECT_TIMEOUT=5 psql -w -X -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -c 'select 1' >/dev/null 2>&1
}

# pg_cluster prints "<version> <name>" of the cluster to start: the one on
# PG_PORT if there is one, else the newest version's main cluster.
pg_cluster() {
	local c version
	c="$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print $1, $2; exit }')"
	if [ -n "$c" ]; then
		echo "$c"
		return
	fi
	version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
	if [ -z "$version" ]; then
		version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
	fi
	echo "$version main"
}

ensure_postgres() {
	if ! pg_ready; then
		if ! command -v pg_ctlcluster >/dev/null 2>&1; then
			say "installing postgresql"
			apt_install postgresql
		fi
		local version name
		read -r version name < <(pg_cluster) || true
		[ -n "${version:-}" ] || die "postgresql: no installed server version found"
		if [ ! -d "/etc/postgresql/$version/$name" ]; then
			say "postgresql: creating cluster $version/$name on port $PG_PORT"
			as_root pg_createcluster --port "$PG_PORT" "$version" "$name" >/dev/null
		fi
		say "postgresql: starting cluster $version/$name"
		as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start ||
			say "postgresql: pg_ctlcluster start failed, waiting for the port anyway"
		wait_until pg_ready ||
			die "postgresql does not answer on $HOST:$PG_PORT after ${TIMEOUT}s (see /var/log/postgresql/)"
	fi

	if ! pg_trusts_postgres; then
		# A fresh Debian cluster asks TCP clients for a password. Trust
		# loopback connections, as the default DATABASE_URL expects.
		local hba
		hba="$(as_postgres psql -X -tA -p "$PG_PORT" -c 'show hba_file')" ||
			die "postgresql: cannot read hba_file as the postgres user"
		if as_postgres grep -q '^host all all 127.0.0.1/32 trust$' "$hba"; then
			die "postgresql: $hba trusts loopback, yet psql -h $HOST -p $PG_PORT -U postgres fails"
		fi
		say "postgresql: trusting loopback connections in $hba"
		as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
		as_postgres psql -X -q -p "$PG_PORT" -c 'select pg_reload_conf()' >/dev/null
		wait_until pg_trusts_postgres ||
			die "postgresql: psql -h $HOST -p $PG_PORT -U postgres still fails"
	fi
}

### RabbitMQ

rabbit_up() {
	port_open "$AMQP_PORT" && return 0
	# await_startup blocks while a node boots and fails fast when none runs.
	timeout 10 rabbitmqctl -q await_startup >/dev/null 2>&1 || true
	port_open "$AMQP_PORT"
}

ensure_rabbitmq() {
	if port_open "$AMQP_PORT"; then
		return
	fi
	if ! command -v rabbitmq-server >/dev/null 2>&1; then
		say "installing rabbitmq-server"
		apt_install rabbitmq-server
	fi
	say "rabbitmq: starting rabbitmq-server"
	as_root rabbitmq-server -detached >/dev/null 2>&1 ||
		say "rabbitmq: rabbitmq-server -detached failed, waiting for the port anyway"
	wait_until rabbit_up ||
		die "rabbitmq does not answer on $HOST:$AMQP_PORT after ${TIMEOUT}s (see /var/log/rabbitmq/)"
}

### promtool

# The alert rules' tests (internal/metrics TestAlertRules) run promtool,
# which Debian ships with Prometheus.
ensure_promtool() {
	if command -v promtool >/dev/null 2>&1; then
		return
	fi
	say "installing prometheus (for promtool)"
	apt_install prometheus
}

ensure_postgres
ensure_rabbitmq
ensure_promtool
