#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ (with its management plugin) answer on this machine.
# Start them if installed and stopped; install them with apt-get when root on Debian;
# otherwise say in one line what to do. Hosts/ports come from PG_HOST/PG_PORT and
# RABBIT_HOST/RABBIT_PORT/RABBIT_MANAGEMENT_PORT (defaults: 127.0.0.1, 5432, 5672, 15672).
set -euo pipefail

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
RABBIT_HOST=${RABBIT_HOST:-127.0.0.1}
RABBIT_PORT=${RABBIT_PORT:-5672}
RABBIT_MANAGEMENT_PORT=${RABBIT_MANAGEMENT_PORT:-15672}

say() { echo "infra: $*"; }
die() { echo "infra: ERROR: $*" >&2; exit 1; }

port_open() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- 3<&- 2>/dev/null
}

wait_port() { # host port seconds what
  local i
  for ((i = 0; i < $3 * 2; i++)); do
    port_open "$1" "$2" && return 0
    sleep 0.5
  done
  die "$4 did not come up on $1:$2 within $3s"
}

is_local() { [[ "$1" == 127.* || "$1" == localhost || "$1" == ::1 ]]; }

apt_install() {
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    return 1
  fi
  say "installing $* with apt-get"
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if port_open "$PG_HOST" "$PG_PORT"; then
    return 0
  fi
  is_local "$PG_HOST" || die "PostgreSQL at $PG_HOST:$PG_PORT does not answer; start it or set PG_ADMIN_URL"
  local fresh=0
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql || die "PostgreSQL is not installed: run 'sudo apt-get install postgresql' (or set PG_ADMIN_URL to a server)"
    fresh=1
  fi
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  [[ -n "$version" ]] || die "no PostgreSQL cluster found: run 'sudo pg_createcluster --start 15 main'"
  say "starting PostgreSQL $version"
  if [[ $(id -u) -eq 0 ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  else
    pg_ctlcluster "$version" main start 2>/dev/null || die "PostgreSQL is stopped: run 'sudo pg_ctlcluster $version main start'"
  fi
  wait_port "$PG_HOST" "$PG_PORT" 60 PostgreSQL
  if [[ $fresh -eq 1 ]]; then
    # a fresh Debian cluster asks for a password on TCP: give the admin role the one our default URL uses
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  fi
}

ensure_rabbitmq() {
  if ! port_open "$RABBIT_HOST" "$RABBIT_PORT"; then
    is_local "$RABBIT_HOST" || die "RabbitMQ at $RABBIT_HOST:$RABBIT_PORT does not answer; start it or set AMQP_URI"
    if ! command -v rabbitmq-server >/dev/null; then
      apt_install rabbitmq-server || die "RabbitMQ is not installed: run 'sudo apt-get install rabbitmq-server' (or set AMQP_URI to a broker)"
    fi
    [[ $(id -u) -eq 0 ]] || die "RabbitMQ is stopped: run 'sudo rabbitmq-server -detached'"
    say "starting RabbitMQ"
    # its file-handle budget follows this limit; at 1024 new connections block once the test
    # vhosts' queues hold ~900 handles
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    rabbitmq-server -detached >/dev/null 2>&1 || true
    wait_port "$RABBIT_HOST" "$RABBIT_PORT" 90 RabbitMQ
  fi
  if ! port_open "$RABBIT_HOST" "$RABBIT_MANAGEMENT_PORT"; then
    is_local "$RABBIT_HOST" || die "RabbitMQ management API at $RABBIT_HOST:$RABBIT_MANAGEMENT_PORT does not answer; enable rabbitmq_management there"
    command -v rabbitmq-plugins >/dev/null || die "rabbitmq-plugins not found: run 'rabbitmq-plugins enable rabbitmq_management' on the broker host"
    say "enabling the RabbitMQ management plugin"
    rabbitmq-plugins enable rabbitmq_management >/dev/null 2>&1 \
      || die "could not enable the management plugin: run 'sudo rabbitmq-plugins enable rabbitmq_management'"
    wait_port "$RABBIT_HOST" "$RABBIT_MANAGEMENT_PORT" 60 "RabbitMQ management"
  fi
}

ensure_postgres
ensure_rabbitmq
say "PostgreSQL $PG_HOST:$PG_PORT and RabbitMQ $RABBIT_HOST:$RABBIT_PORT (management :$RABBIT_MANAGEMENT_PORT) are up"
