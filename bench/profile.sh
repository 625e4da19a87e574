#!/usr/bin/env bash
# CPU profile of the gateway under load (the hot spots quoted in BENCHMARKS.md).
#
#   bash bench/profile.sh [ordinary|support-pg|support-sqlite] [SECONDS]
#
# Starts the stub upstream and the gateway (release build of bench/, one tokio worker,
# pinned to CPU 1; wrk and the stub on CPU 0), drives it with wrk -t2 -c64, and samples
# the gateway with `perf record -e cpu-clock` (the machine has no hardware counters;
# the software clock works). Prints the top of `perf report --stdio --no-children`,
# and for support-pg the audit batching seen by PostgreSQL (commits per event).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIND=${1:-ordinary}
SECONDS_=${2:-8}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1/test}
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
(cd "$ROOT" && cargo build --release --locked -p support-access-bench >&2)
BIN="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release"
WORK=$(mktemp -d /tmp/sa-profile.XXXXXX)
SCHEMA="sa_profile_$$"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/keys" && chmod 700 "$WORK/keys"
case "$KIND" in
    ordinary | support-sqlite) STORAGE="sqlite://$WORK/profile.db?mode=rwc" ;;
    support-pg)
        psql -q "$PG_URL" -c "CREATE SCHEMA $SCHEMA" >/dev/null
        STORAGE="${PG_URL}?options=-c%20search_path%3D${SCHEMA}"
        ;;
    *) echo "usage: $0 [ordinary|support-pg|support-sqlite] [SECONDS]" >&2; exit 64 ;;
esac
cat >"$WORK/gateway.toml" <<TOML
[listen]
proxy = "127.0.0.1:18283"
ops = "127.0.0.1:18293"
[upstream]
url = "http://127.0.0.1:18281"
[storage]
url = "$STORAGE"
[auth.customer]
issuer = "https://accounts.crm.example"
audience = "crm"
key = { jwks_file = "$ROOT/config/keys/customer.jwks.json" }
[auth.staff]
issuer = "https://staff.vendor.example"
audience = "support-gateway"
key = { pem_file = "$ROOT/config/keys/staff.pub.pem" }
[auth.support]
signing_key = "$WORK/keys/support-signing.pem"
[policy]
file = "$ROOT/config/policy/zoho-crm-v8.toml"
[log]
level = "warn"
TOML
taskset -c 0 "$BIN/bench-stub" --listen 127.0.0.1:18281 >/dev/null &
PIDS+=($!)
TOKEN_ARGS=()
[[ "$KIND" != ordinary ]] && TOKEN_ARGS=(--token-file "$WORK/token")
taskset -c 1 "$BIN/bench-gateway" --config "$WORK/gateway.toml" --worker-threads 1 "${TOKEN_ARGS[@]}" >"$WORK/gw.log" 2>&1 &
GW=$!
PIDS+=("$GW")
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18283/ && break; sleep 0.1; done
AUTH="Authorization: Zoho-oauthtoken 1000.abc.def"
if [[ "$KIND" != ordinary ]]; then
    for _ in $(seq 100); do [[ -s "$WORK/token" ]] && break; sleep 0.1; done
    AUTH="Authorization: Bearer $(cat "$WORK/token")"
fi
URL=http://127.0.0.1:18283/crm/v8/Leads/4150868000000225013
taskset -c 0 wrk -t2 -c64 -d2s -H "$AUTH" "$URL" >/dev/null
commits() { psql -tA "$PG_URL" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"; }
[[ "$KIND" == support-pg ]] && C0=$(commits)
taskset -c 0 wrk -t2 -c64 -d"$((SECONDS_ + 2))s" -H "$AUTH" "$URL" >"$WORK/wrk.out" &
WRK=$!
sleep 1
perf record -e cpu-clock -F 1999 -g -p "$GW" -o "$WORK/perf.data" -- sleep "$SECONDS_" 2>/dev/null
wait "$WRK"
cat "$WORK/wrk.out" >&2
if [[ "$KIND" == support-pg ]]; then
    C1=$(commits)
    REQS=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
    echo "PostgreSQL commits during the run: $((C1 - C0)) (all clients of the database) for $REQS requests ($((2 * REQS)) audit events)"
fi
echo "== where the gateway's CPU time goes (by binary / kernel)"
perf report -i "$WORK/perf.data" --stdio --no-children --sort dso 2>/dev/null |
    grep -E '^ +[0-9.]+%' | sed 's/ *$//' | head -8
echo "== top functions"
perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 0.7 2>/dev/null |
    grep -E '^ +[0-9.]+%' | sed 's/ *$//' | cut -c1-160 | head -45
