#!/usr/bin/env bash
# Make sure Prometheus (promtool) and postgres_exporter are on this machine: Debian's packages,
# installed with apt-get when root, else one line saying what to run. Also enables RabbitMQ's
# rabbitmq_prometheus plugin (port 15692) on a local broker, which needs no restart.
set -euo pipefail

say() { echo "prometheus: $*"; }
die() { echo "prometheus: ERROR: $*" >&2; exit 1; }

missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-postgres-exporter >/dev/null || missing+=(prometheus-postgres-exporter)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    die "missing ${missing[*]}: run 'sudo apt-get install --no-install-recommends ${missing[*]}'"
  fi
  say "installing ${missing[*]} with apt-get"
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

RABBIT_HOST=${RABBIT_HOST:-127.0.0.1}
if [[ "$RABBIT_HOST" == 127.* || "$RABBIT_HOST" == localhost ]] && command -v rabbitmq-plugins >/dev/null; then
  if ! (exec 3<>"/dev/tcp/$RABBIT_HOST/15692") 2>/dev/null; then
    say "enabling the rabbitmq_prometheus plugin"
    rabbitmq-plugins enable rabbitmq_prometheus >/dev/null 2>&1 \
      || die "could not enable it: run 'sudo rabbitmq-plugins enable rabbitmq_prometheus'"
  fi
fi
