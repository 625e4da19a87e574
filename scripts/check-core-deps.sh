#!/usr/bin/env bash
# support-access-core is the domain: it must not depend (normally) on an I/O framework.
set -euo pipefail
forbidden='^(tokio|hyper|axum|sea-orm|sqlx|jsonwebtoken)(-[a-z0-9-]+)? v'
deps=$(cargo tree -p support-access-core -e normal --prefix none --format '{p}' --locked)
if offenders=$(printf '%s\n' "$deps" | grep -E "$forbidden"); then
  echo "ERROR: support-access-core depends on I/O frameworks:" >&2
  printf '%s\n' "$offenders" | sort -u >&2
  exit 1
fi
echo "support-access-core depends on none of tokio, hyper, axum, sea-orm, sqlx, jsonwebtoken"
