#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind (callgrind), for nginx and the
# gateway in front of the same stub upstream.
#
#   bash bench/instructions.sh            # prints a markdown table, writes bench/results/instructions.md
#   bash bench/instructions.sh --check    # also fails when a ratio exceeds bench/instructions.limits
#
# Why instructions: this machine kind has no hardware counters and CPU time per request
# moves with whatever else runs on the two cores. Callgrind counts the instructions the
# process executes (all its threads), which is the same for the same binary and the same
# requests whatever the load, so it is the regression guard for the per-request cost
# (`bench/run.sh` stays the source of the req/s, latency, CPU time and RSS figures).
#
# Method: each proxy runs under `valgrind --tool=callgrind` with one worker (nginx:
# master_process off, 1 worker; gateway: 1 tokio worker thread); a keep-alive client
# sends WARM requests, the counters are zeroed (`callgrind_control -z`), the client sends
# N more requests on one connection, and the counters are dumped. Instructions/request =
# the dump's total ÷ N; startup and warm-up are not counted. Cases:
#   nginx           GET RECORD_PATH with an ordinary CRM token
#   gw-ordinary     the same through the gateway
#   gw-support      the same with a support token (policy, token verify, audit in SQLite)
#   gw-ordinary-grants  gw-ordinary again, on a fresh gateway whose store holds
#                   BENCH_GRANTS (10000) more orgs with open grants (opened natively
#                   before, not counted): the ordinary path must stay flat in them
# Settings: BENCH_N (2000), BENCH_WARM (200), BENCH_GRANTS (10000; 0 skips that case),
# BENCH_BIN (prebuilt bench binaries to measure instead of building them, e.g. an
# earlier commit's), BENCH_KEEP (a folder to copy the callgrind dumps to, for
# `callgrind_annotate --inclusive=yes DUMP`: where the instructions go).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${BENCH_N:-2000}
WARM=${BENCH_WARM:-200}
GRANTS=${BENCH_GRANTS:-10000}
CHECK=0
[[ "${1:-}" == "--check" ]] && CHECK=1
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi
RECORD_PATH=/crm/v8/Leads/4150868000000225013
ORDINARY_AUTH="Zoho-oauthtoken 1000.abc.def"
STUB_PORT=18181
NGINX_PORT=18182
GW_PORT=18183
GW_OPS_PORT=18193

log() { printf '[instructions] %s\n' "$*" >&2; }

missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ -n "${BENCH_BIN:-}" ]]; then
    BIN=$BENCH_BIN # prebuilt binaries, e.g. of an earlier commit, to compare two builds
else
    log "building release binaries (cargo build --release -p support-access-bench)"
    (cd "$ROOT" && cargo build --release --locked -p support-access-bench >&2)
    TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps --locked |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    BIN="$TARGET_DIR/release"
fi

WORK=$(mktemp -d /tmp/sa-instr.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ -n "${BENCH_KEEP:-}" ]]; then
        mkdir -p "$BENCH_KEEP" && cp "$WORK"/callgrind.out.* "$BENCH_KEEP"/ 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_http() { # wait_http URL: until something answers (valgrind starts slowly)
    for _ in $(seq 600); do
        if curl -s -o /dev/null --max-time 2 "$1"; then return 0; fi
        sleep 0.2
    done
    log "nothing answers at $1"
    return 1
}

# drive PORT AUTH COUNT: COUNT GET requests on one keep-alive connection; every answer
# must be 200 (a refusal would measure the wrong path).
drive() {
    python3 - "$1" "$2" "$3" "$RECORD_PATH" <<'PY'
import http.client, sys
port, auth, count, path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for i in range(count):
    conn.request("GET", path, headers={"Authorization": auth})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"request {i}: status {response.status}")
PY
}

declare -A INSTR

# measure KEY PORT AUTH PID: zero, drive N, dump, read the total
measure() {
    local key=$1 port=$2 auth=$3 pid=$4 out
    drive "$port" "$auth" "$WARM"
    callgrind_control -z "$pid" >/dev/null
    drive "$port" "$auth" "$N"
    callgrind_control -d "$key" "$pid" >/dev/null
    out=$(ls -t "$WORK"/callgrind.out.* | head -1)
    local total
    total=$(awk '/^summary:/ {print $2} /^totals:/ {t=$2} END {if (t) print t}' "$out" | tail -1)
    INSTR[$key]=$(awk -v t="$total" -v n="$N" 'BEGIN { printf "%.0f", t / n }')
    log "$key: ${INSTR[$key]} instructions/request"
}

callgrind() { # callgrind NAME CMD...: run CMD under callgrind, dumps in $WORK
    local name=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out.$name.%p" \
        --dump-instr=no --collect-jumps=no "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
}

"$BIN/bench-stub" --listen "127.0.0.1:$STUB_PORT" >"$WORK/stub.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$STUB_PORT/"

# nginx, one worker in the foreground process (so callgrind sees the worker)
mkdir -p "$WORK/nginx-temp"
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx-temp/body;
    proxy_temp_path $WORK/nginx-temp/proxy;
    fastcgi_temp_path $WORK/nginx-temp/fastcgi;
    uwsgi_temp_path $WORK/nginx-temp/uwsgi;
    scgi_temp_path $WORK/nginx-temp/scgi;
    keepalive_requests 100000;
    upstream crm { server 127.0.0.1:$STUB_PORT; keepalive 16; keepalive_requests 100000; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://crm;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
callgrind nginx nginx -c "$WORK/nginx.conf"
NGINX_PID=$LAST_PID
wait_http "http://127.0.0.1:$NGINX_PORT/"
measure nginx "$NGINX_PORT" "$ORDINARY_AUTH" "$NGINX_PID"
kill -TERM "$NGINX_PID"

mkdir -p "$WORK/keys"
chmod 700 "$WORK/keys"
cat >"$WORK/gateway.toml" <<EOF
[listen]
proxy = "127.0.0.1:$GW_PORT"
ops = "127.0.0.1:$GW_OPS_PORT"
[upstream]
url = "http://127.0.0.1:$STUB_PORT"
[storage]
url = "sqlite://$WORK/gateway.db?mode=rwc"
[auth]
header_schemes = ["Bearer", "Zoho-oauthtoken"]
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
token_ttl = "15m"
[policy]
file = "$ROOT/config/policy/zoho-crm-v8.toml"
[log]
level = "warn"
EOF
callgrind gateway "$BIN/bench-gateway" --config "$WORK/gateway.toml" --worker-threads 1 \
    --token-file "$WORK/token" --org bench-instructions
GW_PID=$LAST_PID
wait_http "http://127.0.0.1:$GW_PORT/"
for _ in $(seq 300); do [[ -s "$WORK/token" ]] && break; sleep 0.2; done
[[ -s "$WORK/token" ]] || { log "no support token"; cat "$WORK/gateway.log" >&2; exit 1; }
measure gw-ordinary "$GW_PORT" "$ORDINARY_AUTH" "$GW_PID"
measure gw-support "$GW_PORT" "Bearer $(tr -d '\n' <"$WORK/token")" "$GW_PID"
KEYS=(nginx gw-ordinary gw-support)

if ((GRANTS > 0)); then
    kill -TERM "$GW_PID"
    wait "$GW_PID" 2>/dev/null || true
    sed "s#gateway.db#gateway-grants.db#" "$WORK/gateway.toml" >"$WORK/gateway-grants.toml"
    log "opening $GRANTS grants (natively, not measured)"
    "$BIN/bench-gateway" --config "$WORK/gateway-grants.toml" --worker-threads 1 \
        --open-grants "$GRANTS" --token-file "$WORK/grants-token" --org bench-instructions \
        >"$WORK/grants-open.log" 2>&1 &
    OPENER=$!
    PIDS+=("$OPENER")
    for _ in $(seq 3000); do [[ -s "$WORK/grants-token" ]] && break; sleep 0.2; done
    [[ -s "$WORK/grants-token" ]] || { log "grants not opened"; cat "$WORK/grants-open.log" >&2; exit 1; }
    kill -TERM "$OPENER"
    wait "$OPENER" 2>/dev/null || true
    callgrind gateway-grants "$BIN/bench-gateway" --config "$WORK/gateway-grants.toml" --worker-threads 1
    GW_PID=$LAST_PID
    wait_http "http://127.0.0.1:$GW_PORT/"
    measure gw-ordinary-grants "$GW_PORT" "$ORDINARY_AUTH" "$GW_PID"
    KEYS+=(gw-ordinary-grants)
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
REPORT="$ROOT/bench/results/instructions.md"
{
    echo "# Instructions per request (callgrind) — $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    if [[ -n "${BENCH_BIN:-}" ]]; then
        echo "- binaries: \`$BENCH_BIN\` (prebuilt)"
    else
        echo "- commit: \`$(cd "$ROOT" && git rev-parse --short HEAD)\`$(cd "$ROOT" && git diff --quiet -- gateway crates bench || echo ' (with local changes)')"
    fi
    echo "- $N keep-alive GETs of \`$RECORD_PATH\` on one connection after $WARM warm-up; one worker per proxy; \`bash bench/instructions.sh\`"
    echo
    echo "| case | instructions/request | × nginx |"
    echo "|---|---:|---:|"
    for key in "${KEYS[@]}"; do
        echo "| $key | ${INSTR[$key]} | $(ratio "${INSTR[$key]}" "${INSTR[nginx]}") |"
    done
    if [[ -n "${INSTR[gw-ordinary-grants]:-}" ]]; then
        echo
        echo "With $GRANTS more open grants in the store, ordinary traffic costs $(ratio "${INSTR[gw-ordinary-grants]}" "${INSTR[gw-ordinary]}")× what it costs with one."
    fi
} | tee "$REPORT"

if ((CHECK)); then
    status=0
    while read -r key limit; do
        [[ -z "$key" || "$key" == \#* ]] && continue
        [[ -n "${INSTR[$key]:-}" ]] || continue
        if [[ "$key" == gw-ordinary-grants ]]; then # against gw-ordinary, not nginx
            got=$(ratio "${INSTR[$key]}" "${INSTR[gw-ordinary]}")
        else
            got=$(ratio "${INSTR[$key]}" "${INSTR[nginx]}")
        fi
        if awk -v g="$got" -v l="$limit" 'BEGIN { exit !(g > l) }'; then
            log "REGRESSION: $key is ${got}× nginx, limit ${limit}×"
            status=1
        fi
    done <"$ROOT/bench/instructions.limits"
    exit $status
fi
