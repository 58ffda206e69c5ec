#!/usr/bin/env bash
# openstack-up.sh: a real OpenStack for the tests, on this machine, from
# Debian 12's packages, without systemd, on loopback only: Keystone, Glance
# (file store, a 1 MiB image), Placement, Nova api, conductor, scheduler and
# two nova-compute processes on the fake driver (hosts fake-1 and fake-2), a
# Neutron stand-in (Nova asks Neutron even about servers with no network),
# and a flavor. Nova publishes its notifications in both formats on the
# RabbitMQ the project already uses; the databases live on the local MariaDB.
#
#   scripts/openstack-up.sh          # install what is missing, start what is down
#   scripts/openstack-up.sh --senlin # and Senlin 14: api, conductor, engine,
#                                    # health manager (one worker each, port 8777)
#   scripts/openstack-down.sh        # stop what this started
#
# Idempotent: a second run finds everything answering and takes seconds.
# Every service runs one worker (two cores are shared). It prints how long
# each stage took. It writes .data/openstack/clouds.yaml (ignored by git,
# mode 0600): the clouds healthd-admin, healthd-member (project healthd)
# and healthd-other (project healthd-other). The cloud is the machine's:
#   /var/lib/healthd-openstack/   secrets.env (the passwords made on the
#                                 first run, 0600), run/ (a PID file per
#                                 process), the stamps of done steps
#   /var/log/healthd-openstack/   a log per process and step
# Configuration files go to /etc/<service>/ (the packages' own are kept as
# *.debian-orig). Needs root, Debian's /usr/bin/python3 (put first on PATH
# here) and a Go toolchain for its Go half (internal/openstacktest/osbench).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
GO="$(command -v go || true)"
[ -n "$GO" ] || GO=/usr/local/go/bin/go
# Debian's python3 first: the services need its packages, which another
# python3 earlier on PATH lacks.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8

HOST=127.0.0.1
# The cloud is the machine's, whichever checkout started it: its state
# lives beside its databases, so that every checkout (a CI clone too) finds
# the same processes and passwords.
STATE=/var/lib/healthd-openstack
RUN="$STATE/run"
LOG=/var/log/healthd-openstack
DIR="$ROOT/.data/openstack"
BIN="$ROOT/.bin"
RABBIT_URL="${OPENSTACK_RABBIT_URL:-rabbit://guest:guest@127.0.0.1:5672/}"
COMPUTES=(fake-1 fake-2)
PACKAGES=(keystone glance-api placement-api nova-api nova-conductor nova-scheduler
	uwsgi-core uwsgi-plugin-python3 mariadb-client curl)

WITH_SENLIN=false
for arg in "$@"; do
	case "$arg" in
	--senlin) WITH_SENLIN=true ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;/^set -euo/d'; exit 0 ;;
	*) printf 'openstack-up: unknown argument %s (--senlin, --help)\n' "$arg" >&2; exit 2 ;;
	esac
done
if $WITH_SENLIN; then
	PACKAGES+=(senlin-api senlin-engine senlin-conductor senlin-health-manager)
fi

T0=$SECONDS
say() { printf 'openstack-up: %s\n' "$*"; }
die() { printf 'openstack-up: error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root: it installs packages, writes /etc and runs services as their users"

# stage NAME FUNCTION: runs one stage and prints how long it took.
stage() {
	local name=$1 start=$SECONDS
	shift
	"$@"
	say "$name: $((SECONDS - start)) s"
}

mkdir -p "$RUN" "$LOG" "$DIR"
chmod 700 "$DIR"

### Secrets: made once, kept in a file only root reads.

if [ ! -f "$STATE/secrets.env" ]; then
	umask 077
	{
		for v in ADMIN_PASSWORD SERVICE_PASSWORD MEMBER_PASSWORD DB_PASSWORD; do
			printf '%s=%s\n' "$v" "$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24)"
		done
	} >"$STATE/secrets.env"
	umask 022
fi
# shellcheck disable=SC1091
. "$STATE/secrets.env"
export OS_AUTH_URL="http://$HOST:5000/v3"
export OSBENCH_ADMIN_PASSWORD="$ADMIN_PASSWORD" OSBENCH_SERVICE_PASSWORD="$SERVICE_PASSWORD" OSBENCH_MEMBER_PASSWORD="$MEMBER_PASSWORD"

### Helpers

# alive NAME: the process of NAME's PID file runs.
alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# start NAME USER[:GROUP] CMD...: starts CMD as USER in a session of its
# own, its output in log/NAME.log and its PID (the program's own: setsid
# and setpriv exec it) in run/NAME.pid; nothing when it runs already.
start() {
	local name=$1 user=${2%%:*} group=${2#*:}
	shift 2
	if alive "$name"; then
		return 0
	fi
	# Already running without its PID file (it was lost, or another state
	# directory started it): adopt the oldest such process, never a second.
	# A script's command line starts with its interpreter.
	local pid pattern
	pattern="^(/usr/bin/python3 )?(/usr/bin/)?$(printf '%s' "$*" | sed 's/[][\.*^$(){}?+|/]/\\&/g')\$"
	if pid="$(pgrep -o -u "$user" -f -- "$pattern")"; then
		echo "$pid" >"$RUN/$name.pid"
		say "adopted $name (pid $pid)"
		return 0
	fi
	setsid setpriv --reuid "$user" --regid "$group" --init-groups -- "$@" >>"$LOG/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
	say "started $name (pid $!)"
}

# answers URL [SECONDS]: waits until URL answers HTTP (any status).
answers() {
	local deadline=$((SECONDS + ${2:-90}))
	until curl -s -o /dev/null --max-time 2 "$1"; do
		[ "$SECONDS" -lt "$deadline" ] || die "$1 does not answer after ${2:-90} s (see $LOG)"
		sleep 0.5
	done
}

sql() { mysql -uroot -N -B -e "$1"; }

# database USER DB...: the databases and their user.
database() {
	local user=$1 db
	shift
	for db in "$@"; do
		sql "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4;
			CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
			CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
			ALTER USER '$user'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
			ALTER USER '$user'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
			GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'localhost';
			GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'127.0.0.1';"
	done
}

# has_tables DB: the database holds tables (its schema was made).
has_tables() { [ "$(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$1'")" -gt 0 ]; }

# keep FILE: keeps the package's own configuration file once.
keep() { if [ -f "$1" ] && [ ! -f "$1.debian-orig" ]; then cp -a "$1" "$1.debian-orig"; fi; }

# write FILE GROUP: writes standard input to FILE, readable by GROUP only.
write() {
	keep "$1"
	cat >"$1"
	chown root:"$2" "$1"
	chmod 640 "$1"
}

# authtoken USER TYPE: the [keystone_authtoken] section of a service of the
# catalog's TYPE, which keystonemiddleware needs to enforce the access rules
# of an application credential (without it, it refuses their tokens).
authtoken() {
	cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://$HOST:5000
auth_url = http://$HOST:5000
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $SERVICE_PASSWORD
service_token_roles_required = true
service_type = $2
EOF
}

# uwsgi NAME USER PORT WSGI: a WSGI service, one process. uwsgi's
# --http-socket keeps no connection alive but does not say so: without
# "Connection: close" Python clients reuse the socket and get resets.
uwsgi() {
	start "$1" "$2" uwsgi_python3 --http-socket "$HOST:$3" --wsgi-file "$4" --master --processes 1 --threads 4 \
		--enable-threads --lazy-apps --die-on-term --no-orphans --buffer-size 65535 --add-header "Connection: close"
}

### Stages

# senlin: Senlin 14 beside healthd on the same Nova (--senlin), each service
# through scripts/openstack/senlin-run.py (see there why).
senlin() {
	database senlin senlin
	mkdir -p /var/log/senlin /var/lib/senlin
	chown -R senlin:senlin /var/log/senlin /var/lib/senlin
	write /etc/senlin/senlin.conf senlin <<EOF
[DEFAULT]
transport_url = $RABBIT_URL
default_region_name = RegionOne
[database]
connection = mysql+pymysql://senlin:$DB_PASSWORD@$HOST/senlin
[senlin_api]
bind_host = $HOST
bind_port = 8777
workers = 1
[engine]
workers = 1
[conductor]
workers = 1
[health_manager]
workers = 1
[authentication]
auth_url = http://$HOST:5000/v3
service_username = senlin
service_password = $SERVICE_PASSWORD
service_project_name = service
service_user_domain = Default
service_project_domain = Default
[oslo_policy]
policy_dirs = /etc/senlin/policy.d
$(authtoken senlin clustering)
EOF
	install -m 0755 "$ROOT/scripts/openstack/senlin-run.py" "$STATE/senlin-run"
	has_tables senlin || setpriv --reuid senlin --regid senlin --init-groups -- senlin-manage --config-file /etc/senlin/senlin.conf db_sync >>"$LOG/senlin-manage.log" 2>&1
	"$STATE/osbench" senlin >>"$LOG/osbench.log"
	local s
	for s in api conductor engine health-manager; do
		start "senlin-$s" senlin:senlin /usr/bin/python3 "$STATE/senlin-run" "senlin-$s" --config-file /etc/senlin/senlin.conf
	done
	answers "http://$HOST:8777/"
}

packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	say "installing ${#missing[@]} packages and their dependencies (minutes): ${missing[*]}"
	# Keep the packages' scripts from starting services, and say no to every
	# question that would touch a database during the install.
	[ -x /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
	debconf-set-selections <<'EOF'
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
glance-common glance/configure_db boolean false
glance-common glance/configure_rabbit boolean false
glance-common glance/configure_ksat boolean false
glance-api glance/configure_api-endpoint boolean false
placement-common placement/configure_db boolean false
placement-common placement/configure_ksat boolean false
placement-api placement/configure_api-endpoint boolean false
nova-common nova/configure_db boolean false
nova-common nova/configure_rabbit boolean false
nova-common nova/configure_ksat boolean false
nova-common nova/configure_neutron boolean false
nova-common nova/configure_placement boolean false
nova-api novaapi/configure_db boolean false
nova-api nova/configure_api-endpoint boolean false
senlin-common senlin/configure_db boolean false
senlin-common senlin/configure_rabbit boolean false
senlin-common senlin/configure_ksat boolean false
senlin-api senlin/configure_api-endpoint boolean false
EOF
	# Not nova-compute: it pulls libvirt and qemu; python3-nova has the
	# program, and the fake driver needs no hypervisor.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$LOG/apt.log" 2>&1 || {
		apt-get update -qq >>"$LOG/apt.log" 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOG/apt.log" 2>&1 ||
			{ tail -20 "$LOG/apt.log" >&2; die "apt-get install failed (see $LOG/apt.log)"; }
	}
}

services() {
	bash "$ROOT/scripts/ensure-services.sh" # RabbitMQ (and PostgreSQL, for the tests)
	if ! mysqladmin -uroot --connect-timeout=2 ping >/dev/null 2>&1; then
		command -v mariadbd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mariadb-server >>"$LOG/apt.log" 2>&1
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
		local deadline=$((SECONDS + 60))
		until mysqladmin -uroot --connect-timeout=2 ping >/dev/null 2>&1; do
			[ "$SECONDS" -lt "$deadline" ] || die "MariaDB does not answer after 60 s"
			sleep 1
		done
		say "started MariaDB"
	fi
	# Nova's notifications also go to oslo's own queues (notifications.info,
	# versioned_notifications.info), which nothing here reads: bound them.
	if [ ! -f "$STATE/rabbitmq.policy" ]; then
		rabbitmqctl -q set_policy --apply-to queues healthd-bench-notifications \
			'^(versioned_)?notifications\.[a-z]+$' '{"max-length":1000}' >/dev/null
		touch "$STATE/rabbitmq.policy"
	fi
	if [ ! -x "$BIN/osbench" ] || [ -n "$(find "$ROOT/internal/openstacktest" -name '*.go' -newer "$BIN/osbench" -print -quit)" ]; then
		mkdir -p "$BIN"
		(cd "$ROOT" && "$GO" build -trimpath -o "$BIN/osbench" ./internal/openstacktest/osbench)
	fi
	# The machine's copy, which the Neutron stand-in runs from, whichever
	# checkout started it.
	cmp -s "$BIN/osbench" "$STATE/osbench" || install -m 0755 "$BIN/osbench" "$STATE/osbench"
}

keystone() {
	database keystone keystone
	write /etc/keystone/keystone.conf keystone <<EOF
[DEFAULT]
log_dir = /var/log/keystone
[database]
connection = mysql+pymysql://keystone:$DB_PASSWORD@$HOST/keystone
[token]
provider = fernet
[fernet_tokens]
key_repository = /etc/keystone/fernet-keys
[credential]
key_repository = /etc/keystone/credential-keys
EOF
	local mlog="$LOG/keystone-manage.log"
	has_tables keystone || keystone-manage db_sync >>"$mlog" 2>&1
	[ -f /etc/keystone/fernet-keys/0 ] || keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone >>"$mlog" 2>&1
	[ -f /etc/keystone/credential-keys/0 ] || keystone-manage credential_setup --keystone-user keystone --keystone-group keystone >>"$mlog" 2>&1
	chown -R keystone:keystone /var/log/keystone
	# bootstrap is idempotent but slow; run it when the admin password it
	# set is not the one in secrets.env.
	local stamp
	stamp="$(printf '%s' "$ADMIN_PASSWORD" | sha256sum | cut -c1-16)"
	if [ "$(cat "$STATE/keystone.bootstrapped" 2>/dev/null)" != "$stamp" ] || ! has_tables keystone; then
		keystone-manage bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-username admin \
			--bootstrap-project-name admin --bootstrap-role-name admin --bootstrap-service-name keystone \
			--bootstrap-region-id RegionOne --bootstrap-admin-url "http://$HOST:5000/v3/" \
			--bootstrap-internal-url "http://$HOST:5000/v3/" --bootstrap-public-url "http://$HOST:5000/v3/" >>"$mlog" 2>&1
		echo "$stamp" >"$STATE/keystone.bootstrapped"
	fi
	uwsgi keystone keystone 5000 /usr/bin/keystone-wsgi-public
	answers "http://$HOST:5000/v3"
	# The projects, users and catalog: again only when the passwords or
	# osbench changed (setting a password costs Keystone a hash each).
	stamp="$(cat "$STATE/secrets.env" "$STATE/osbench" | sha256sum | cut -c1-16)"
	if [ "$(cat "$STATE/keystone.setup" 2>/dev/null)" != "$stamp" ]; then
		"$STATE/osbench" keystone >>"$LOG/osbench.log"
		echo "$stamp" >"$STATE/keystone.setup"
	fi
}

placement() {
	database placement placement
	write /etc/placement/placement.conf placement <<EOF
[DEFAULT]
log_dir = /var/log/placement
[api]
auth_strategy = keystone
[placement_database]
connection = mysql+pymysql://placement:$DB_PASSWORD@$HOST/placement
$(authtoken placement placement)
EOF
	mkdir -p /var/log/placement
	chown -R placement:placement /var/log/placement
	has_tables placement || setpriv --reuid placement --regid placement --init-groups -- placement-manage db sync >>"$LOG/placement-manage.log" 2>&1
	uwsgi placement placement 8778 /usr/bin/placement-api
	answers "http://$HOST:8778/"
}

glance() {
	database glance glance
	mkdir -p /var/lib/glance/images /var/lib/glance/staging /var/lib/glance/tasks /var/lib/glance/lock
	chown -R glance:glance /var/lib/glance /var/log/glance
	write /etc/glance/glance-api.conf glance <<EOF
[DEFAULT]
bind_host = $HOST
bind_port = 9292
workers = 1
log_dir = /var/log/glance
enabled_backends = fs:file
[database]
connection = mysql+pymysql://glance:$DB_PASSWORD@$HOST/glance
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = /var/lib/glance/images
[os_glance_staging_store]
filesystem_store_datadir = /var/lib/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = /var/lib/glance/tasks
[paste_deploy]
flavor = keystone
[oslo_concurrency]
lock_path = /var/lib/glance/lock
$(authtoken glance image)
EOF
	has_tables glance || setpriv --reuid glance --regid glance --init-groups -- glance-manage db_sync >>"$LOG/glance-manage.log" 2>&1
	start glance glance glance-api --config-file /etc/glance/glance-api.conf
	answers "http://$HOST:9292/"
	"$STATE/osbench" glance >>"$LOG/osbench.log"
}

neutron() {
	start neutron nobody:nogroup "$STATE/osbench" neutron -listen "$HOST:9696"
	answers "http://$HOST:9696/"
}

# nova_common DEFAULT-LINES: what every Nova process reads, with more lines
# in its [DEFAULT] section.
nova_common() {
	cat <<EOF
[DEFAULT]
$1
my_ip = $HOST
state_path = /var/lib/nova
transport_url = $RABBIT_URL
compute_driver = fake.FakeDriver
[oslo_concurrency]
lock_path = /var/lib/nova/tmp
[oslo_messaging_notifications]
driver = messagingv2
[notifications]
notification_format = both
notify_on_state_change = vm_and_task_state
[vnc]
enabled = false
[spice]
enabled = false
[serial_console]
enabled = false
[glance]
region_name = RegionOne
[placement]
$(service_auth placement)
[neutron]
$(service_auth nova)
EOF
}

# service_auth USER: how a Nova process calls another service as USER.
service_auth() {
	cat <<EOF
auth_type = password
auth_url = http://$HOST:5000/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $SERVICE_PASSWORD
region_name = RegionOne
EOF
}

nova() {
	database nova nova_api nova nova_cell0
	mkdir -p /var/lib/nova/tmp
	chown -R nova:nova /var/lib/nova /var/log/nova
	write /etc/nova/nova.conf nova <<EOF
$(nova_common "enabled_apis = osapi_compute
osapi_compute_listen = $HOST
osapi_compute_listen_port = 8774
osapi_compute_workers = 1")
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
[api_database]
connection = mysql+pymysql://nova:$DB_PASSWORD@$HOST/nova_api
[database]
connection = mysql+pymysql://nova:$DB_PASSWORD@$HOST/nova
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 30
$(authtoken nova compute)
EOF
	# The computes get no database: they reach it through the conductor.
	local h
	for h in "${COMPUTES[@]}"; do
		# A vCPU ratio that lets the scale run (TestSyncThousandServersOnNova)
		# put a thousand one-vCPU servers on two fake hosts of 8 vCPUs.
		nova_common "host = $h
cpu_allocation_ratio = 64.0" | write "/etc/nova/nova-compute-$h.conf" nova
	done
	local manage=(setpriv --reuid nova --regid nova --init-groups -- nova-manage --config-file /etc/nova/nova.conf)
	local mlog="$LOG/nova-manage.log"
	has_tables nova_api || "${manage[@]}" api_db sync >>"$mlog" 2>&1
	if [ "$(sql "SELECT COUNT(*) FROM nova_api.cell_mappings" 2>/dev/null || echo 0)" -lt 2 ]; then
		"${manage[@]}" cell_v2 list_cells 2>>"$mlog" | grep -q ' cell0 ' || "${manage[@]}" cell_v2 map_cell0 >>"$mlog" 2>&1
		"${manage[@]}" cell_v2 list_cells 2>>"$mlog" | grep -q ' cell1 ' || "${manage[@]}" cell_v2 create_cell --name=cell1 >>"$mlog" 2>&1
	fi
	has_tables nova || "${manage[@]}" db sync >>"$mlog" 2>&1
	has_tables nova_cell0 || "${manage[@]}" db sync >>"$mlog" 2>&1
	start nova-api nova nova-api --config-file /etc/nova/nova.conf
	start nova-conductor nova nova-conductor --config-file /etc/nova/nova.conf
	start nova-scheduler nova nova-scheduler --config-file /etc/nova/nova.conf
	for h in "${COMPUTES[@]}"; do
		# python3-nova's entry point (the nova-compute package would pull
		# libvirt and qemu).
		start "nova-compute-$h" nova /usr/bin/python3 -c \
			'import sys; from nova.cmd.compute import main; sys.argv[0] = "nova-compute"; sys.exit(main())' \
			--config-file "/etc/nova/nova-compute-$h.conf"
	done
	answers "http://$HOST:8774/"
	# Both computes up (or forced down on purpose), a compute a test left
	# fenced brought back, then
	# mapped into cell1, and the flavor.
	"$STATE/osbench" nova -computes "$(IFS=,; echo "${COMPUTES[*]}")" >>"$LOG/osbench.log"
	if [ "$(sql "SELECT COUNT(*) FROM nova_api.host_mappings")" -lt "${#COMPUTES[@]}" ]; then
		"${manage[@]}" cell_v2 discover_hosts >>"$mlog" 2>&1
	fi
}

clouds() {
	umask 077
	local cloud user project pw
	{
		echo "clouds:"
		for cloud in admin member other; do
			case $cloud in
			admin) user=admin project=admin pw=$ADMIN_PASSWORD ;;
			member) user=healthd-member project=healthd pw=$MEMBER_PASSWORD ;;
			other) user=healthd-other project=healthd-other pw=$MEMBER_PASSWORD ;;
			esac
			cat <<EOF
  healthd-$cloud:
    auth:
      auth_url: http://$HOST:5000/v3
      username: $user
      password: $pw
      project_name: $project
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
    interface: public
EOF
		done
	} >"$DIR/clouds.yaml"
	umask 022
}

stage "packages" packages
stage "mariadb, rabbitmq, osbench" services
stage "keystone" keystone
stage "placement" placement
stage "glance" glance
stage "neutron stand-in" neutron
stage "nova" nova
if $WITH_SENLIN; then
	stage "senlin" senlin
fi
clouds
say "up in $((SECONDS - T0)) s: OS_CLIENT_CONFIG_FILE=$DIR/clouds.yaml OS_CLOUD=healthd-member (or healthd-admin, healthd-other)"
