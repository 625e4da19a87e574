#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use (127.0.0.1:5432, database `test`, user
# `postgres`) is up: starts the local cluster when it is down, fails loudly when it can't.
set -euo pipefail

host=127.0.0.1
port=5432

up() { pg_isready -h "$host" -p "$port" -q 2>/dev/null; }

if up; then
  echo "PostgreSQL is up on $host:$port"
  exit 0
fi

if ! command -v pg_ctlcluster >/dev/null || [ ! -d /etc/postgresql ]; then
  echo "ERROR: PostgreSQL is not running on $host:$port and no local cluster was found to start." >&2
  echo "Start one, or point DATABASE_URL at a reachable server (postgres://USER@HOST:PORT/DB)." >&2
  exit 1
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
echo "PostgreSQL is down; starting cluster $version/main"
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do
  if up; then
    echo "PostgreSQL is up on $host:$port"
    exit 0
  fi
  sleep 1
done
echo "ERROR: PostgreSQL did not come up on $host:$port within 30 s." >&2
echo "Try: pg_ctlcluster --skip-systemctl-redirect $version main start; see /var/log/postgresql/." >&2
exit 1
