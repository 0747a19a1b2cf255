#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379) and RabbitMQ (127.0.0.1:5672,
# the workers' tests run on both brokers) are listening: start the Debian services when
# installed, install them with apt when not. Also installs caddy (tests/ops run it).
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "ensure-services: $* missing and no apt-get; install it or set DATACOIN_DATABASE_URL/DATACOIN_REDIS_URL" >&2
    exit 1
  fi
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! listening 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  conf="/etc/postgresql/$version/main/pg_hba.conf"
  # Local development and CI only: trust loopback connections as the docs promise.
  grep -q "^host all all 127.0.0.1/32 trust" "$conf" || sed -i '1i host all all 127.0.0.1/32 trust' "$conf"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 50); do listening 5432 && break; sleep 0.2; done
fi
listening 5432 || { echo "ensure-services: PostgreSQL is not listening on 5432" >&2; exit 1; }

if ! listening 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 50); do listening 6379 && break; sleep 0.2; done
fi
listening 6379 || { echo "ensure-services: Redis is not listening on 6379" >&2; exit 1; }

if ! listening 5672; then
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  rabbitmq-server -detached
  for _ in $(seq 150); do listening 5672 && break; sleep 0.2; done
fi
listening 5672 || { echo "ensure-services: RabbitMQ is not listening on 5672" >&2; exit 1; }
echo "ensure-services: PostgreSQL, Redis and RabbitMQ are up"

# caddy: tests/ops/test_caddy.py runs ops/Caddyfile in front of `datacoin serve` (its own
# instance, on free ports). Without it (and without apt) those tests skip, except in CI.
if ! command -v caddy >/dev/null && command -v apt-get >/dev/null; then
  apt_install caddy
  # Debian's package enables a caddy service on port 80: not ours, stop it where it started.
  if command -v systemctl >/dev/null; then systemctl disable --now caddy >/dev/null 2>&1 || true; fi
fi
if command -v caddy >/dev/null; then
  echo "ensure-services: caddy $(caddy version | cut -d' ' -f1) installed"
else
  echo "ensure-services: no caddy (and no apt-get): tests/ops/test_caddy.py skips" >&2
fi
