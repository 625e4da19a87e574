#!/usr/bin/env bash
# Benchmarks of the Support Access gateway against nginx (issue 6, point 5).
#
#   bash bench/run.sh
#
# One command, one machine, one run. It installs nginx and wrk (Debian packages) if
# they are missing, builds the release binaries of bench/ (the stub upstream, the real
# gateway with a support token, the revoke probe), starts everything on loopback and
# measures, against the same stub upstream:
#
#   direct           wrk -> stub
#   nginx            wrk -> nginx (reverse proxy, upstream keep-alive) -> stub
#   gw ordinary      wrk -> gateway -> stub, no support token
#   gw support/SQLite   wrk -> gateway -> stub, a support token, audit in SQLite
#   gw support/PG       wrk -> gateway -> stub, a support token, audit in PostgreSQL
#
# each in two CPU layouts (BENCH_MODES):
#   pinned  the proxy (nginx or gateway) alone on CPU 1, wrk and the stub on CPU 0;
#           nginx worker_processes 1, gateway 1 tokio worker thread.
#   shared  nothing pinned: wrk, stub and proxy share both cores;
#           nginx worker_processes 2, gateway 2 tokio worker threads.
# PostgreSQL (127.0.0.1:5432, database `test`, user `postgres`) is never pinned.
#
# For each: req/s, p50 and p99 latency (wrk --latency), CPU time of the proxy
# process(es) per request (utime+stime from /proc/PID/stat over the measured window),
# peak RSS (VmHWM; for nginx the sum over master and workers), and ratios to nginx.
# Then: peak RSS of a fresh gateway (and of nginx) holding 1,000 client connections
# (wrk -c1000), and the revoke propagation time between two gateway instances sharing
# PostgreSQL (bench-revoke, BENCH_REVOKE_TRIALS trials).
#
# The markdown result goes to stdout and to bench/results/latest.md. Settings
# (environment): BENCH_DURATION (10s), BENCH_WARMUP (3s), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2), BENCH_MODES ("pinned shared"; "none" skips both), BENCH_REVOKE_TRIALS (50; 0 skips),
# BENCH_PG_URL (postgres://postgres@127.0.0.1/test), BENCH_BIN (a folder of prebuilt
# bench binaries to measure instead of building them, e.g. an earlier commit's). A fresh PostgreSQL schema is
# created for the run and dropped at the end; temp files live in a mktemp folder.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-3s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
MODES=${BENCH_MODES:-pinned shared}
[[ "$MODES" == none ]] && MODES="" # BENCH_MODES=none BENCH_REVOKE_TRIALS=0: the 1,000-connection RSS check only
REVOKE_TRIALS=${BENCH_REVOKE_TRIALS:-50}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1/test}
RECORD_PATH=/crm/v8/Leads/4150868000000225013
ORDINARY_AUTH="Authorization: Zoho-oauthtoken 1000.abc.def"

STUB_PORT=18081
NGINX_PORT=18082
GW_PORT=18083
GW_OPS_PORT=18093
GW_B_PORT=18084
GW_B_OPS_PORT=18094

log() { printf '[bench] %s\n' "$*" >&2; }

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi

# --- what it needs -------------------------------------------------------------------
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v psql >/dev/null || missing+=(postgresql-client)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [[ -n "${BENCH_BIN:-}" ]]; then
    BIN=$BENCH_BIN # prebuilt binaries, e.g. of an earlier commit, to compare two builds
else
    log "building release binaries (cargo build --release -p support-access-bench)"
    (cd "$ROOT" && cargo build --release --locked -p support-access-bench >&2)
    TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps --locked |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    BIN="$TARGET_DIR/release"
fi
NPROC=$(nproc)
if ((NPROC < 2)) && [[ "$MODES" == *pinned* ]]; then
    log "only $NPROC CPU: the pinned layout needs 2; running shared only"
    MODES=shared
fi

# --- bookkeeping ---------------------------------------------------------------------
WORK=$(mktemp -d /tmp/sa-bench.XXXXXX)
chmod 755 "$WORK"
SCHEMA="sa_bench_$$"
PG_SCHEMA_URL="${PG_URL}?options=-c%20search_path%3D${SCHEMA}"
PIDS=()

stop() { # stop PID: TERM, then KILL after 5 s
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop "$pid"; done
    psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cpuset() { # cpuset ROLE MODE -> taskset prefix
    if [[ "$2" == pinned ]]; then
        case "$1" in
            proxy) echo "taskset -c 1" ;;
            *) echo "taskset -c 0" ;;
        esac
    fi
}

wait_http() { # wait_http URL: until something answers
    for _ in $(seq 300); do
        if curl -s -o /dev/null --max-time 1 "$1"; then return 0; fi
        sleep 0.1
    done
    log "nothing answers at $1"
    return 1
}

cpu_ticks() { # utime+stime of the given PIDs, in clock ticks
    local total=0 pid stat
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        # after "pid (comm) ": state is field 1, utime field 12, stime field 13
        read -r -a f <<<"$stat"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

hwm_kib() { # sum of VmHWM of the given PIDs, KiB
    local total=0 pid v
    for pid in "$@"; do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

nginx_pids() { # master and workers
    local master
    master=$(cat "$WORK/nginx.pid")
    echo "$master" $(pgrep -P "$master")
}

postgres_pids() { pgrep -x postgres || pgrep -f '^postgres' || true; }

to_ms() { # wrk latency (e.g. 412.00us, 2.31ms, 1.02s) -> ms
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "%s", v }'
}

declare -A RPS P50 P99 CPU RSS NON2XX DBCPU

# measure KEY MODE AUTH_HEADER URL PID...
measure() {
    local key=$1 mode=$2 auth=$3 url=$4
    shift 4
    local pids=("$@") wrk
    wrk="$(cpuset client "$mode") wrk"
    log "$key: warm-up $WARMUP"
    $wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -H "$auth" "$url" >/dev/null
    local before db_before out="$WORK/${key//\//_}.wrk"
    before=$(cpu_ticks "${pids[@]}")
    db_before=$(cpu_ticks $(postgres_pids))
    log "$key: measuring $DURATION"
    $wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "$auth" "$url" >"$out"
    local after db_after
    after=$(cpu_ticks "${pids[@]}")
    db_after=$(cpu_ticks $(postgres_pids))
    local requests tck
    tck=$(getconf CLK_TCK)
    requests=$(awk '/requests in/ {print $1}' "$out")
    RPS[$key]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    P50[$key]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    P99[$key]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    NON2XX[$key]=$(awk '/Non-2xx/ {print $NF}' "$out")
    NON2XX[$key]=${NON2XX[$key]:-0}
    CPU[$key]=$(awk -v d=$((after - before)) -v t="$tck" -v n="$requests" \
        'BEGIN { if (n > 0) printf "%.1f", d / t / n * 1e6; else print "n/a" }')
    DBCPU[$key]=$(awk -v d=$((db_after - db_before)) -v t="$tck" -v n="$requests" \
        'BEGIN { if (n > 0) printf "%.1f", d / t / n * 1e6; else print "n/a" }')
    RSS[$key]=$(awk -v k="$(hwm_kib "${pids[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')
    log "$key: ${RPS[$key]} req/s, p50 ${P50[$key]} ms, p99 ${P99[$key]} ms, ${CPU[$key]} us CPU/req, ${RSS[$key]} MiB, non-2xx ${NON2XX[$key]}"
}

write_gateway_config() { # write_gateway_config FILE STORAGE_URL PROXY_PORT OPS_PORT
    cat >"$1" <<EOF
[listen]
proxy = "127.0.0.1:$3"
ops = "127.0.0.1:$4"
[upstream]
url = "http://127.0.0.1:$STUB_PORT"
connect_timeout = "2s"
request_timeout = "30s"
[storage]
url = "$2"
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
}

# start_gateway NAME MODE CONFIG [TOKEN_FILE] -> sets GW_PID
start_gateway() {
    local name=$1 mode=$2 config=$3 token=${4:-} threads=0 extra=()
    [[ "$mode" == pinned ]] && threads=1
    [[ -n "$token" ]] && extra=(--token-file "$token" --org "bench-$name")
    $(cpuset proxy "$mode") "$BIN/bench-gateway" --config "$config" --worker-threads "$threads" \
        "${extra[@]}" >"$WORK/$name.log" 2>&1 &
    GW_PID=$!
    PIDS+=("$GW_PID")
    local port
    port=$(awk -F'[:"]' '/^proxy/ {print $(NF-1)}' "$config")
    wait_http "http://127.0.0.1:$port/" || { cat "$WORK/$name.log" >&2; exit 1; }
    if [[ -n "$token" ]]; then
        for _ in $(seq 100); do [[ -s "$token" ]] && break; sleep 0.1; done
        [[ -s "$token" ]] || { log "no token from $name"; cat "$WORK/$name.log" >&2; exit 1; }
    fi
}

start_nginx() { # start_nginx MODE WORKERS
    local mode=$1 workers=$2
    mkdir -p "$WORK/nginx-temp"
    chmod 777 "$WORK/nginx-temp"
    cat >"$WORK/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx-temp/body;
    proxy_temp_path $WORK/nginx-temp/proxy;
    fastcgi_temp_path $WORK/nginx-temp/fastcgi;
    uwsgi_temp_path $WORK/nginx-temp/uwsgi;
    scgi_temp_path $WORK/nginx-temp/scgi;
    keepalive_requests 100000;
    upstream crm {
        server 127.0.0.1:$STUB_PORT;
        keepalive 256;
        keepalive_requests 100000;
    }
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
    rm -f "$WORK/nginx.pid"
    $(cpuset proxy "$mode") nginx -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_http "http://127.0.0.1:$NGINX_PORT/"
    for _ in $(seq 50); do [[ -s "$WORK/nginx.pid" ]] && break; sleep 0.1; done
}

# --- the run -------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $LOAD_BEFORE"
mkdir -p "$WORK/keys"
chmod 700 "$WORK/keys"
psql -q "$PG_URL" -c "CREATE SCHEMA $SCHEMA" >/dev/null

for mode in $MODES; do
    log "=== layout: $mode"
    workers=$NPROC
    [[ "$mode" == pinned ]] && workers=1

    $(cpuset client "$mode") "$BIN/bench-stub" --listen "127.0.0.1:$STUB_PORT" >"$WORK/stub.log" 2>&1 &
    STUB_PID=$!
    PIDS+=("$STUB_PID")
    wait_http "http://127.0.0.1:$STUB_PORT/"

    measure "$mode/direct" "$mode" "$ORDINARY_AUTH" "http://127.0.0.1:$STUB_PORT$RECORD_PATH" "$STUB_PID"

    start_nginx "$mode" "$workers"
    measure "$mode/nginx" "$mode" "$ORDINARY_AUTH" "http://127.0.0.1:$NGINX_PORT$RECORD_PATH" $(nginx_pids)
    stop "$NGINX_PID"

    write_gateway_config "$WORK/ordinary.toml" "sqlite://$WORK/ordinary-$mode.db?mode=rwc" $GW_PORT $GW_OPS_PORT
    start_gateway "ordinary-$mode" "$mode" "$WORK/ordinary.toml"
    measure "$mode/gw-ordinary" "$mode" "$ORDINARY_AUTH" "http://127.0.0.1:$GW_PORT$RECORD_PATH" "$GW_PID"
    stop "$GW_PID"

    write_gateway_config "$WORK/sqlite.toml" "sqlite://$WORK/support-$mode.db?mode=rwc" $GW_PORT $GW_OPS_PORT
    start_gateway "sqlite-$mode" "$mode" "$WORK/sqlite.toml" "$WORK/token-sqlite-$mode"
    measure "$mode/gw-support-sqlite" "$mode" "Authorization: Bearer $(cat "$WORK/token-sqlite-$mode")" \
        "http://127.0.0.1:$GW_PORT$RECORD_PATH" "$GW_PID"
    stop "$GW_PID"

    write_gateway_config "$WORK/pg.toml" "$PG_SCHEMA_URL" $GW_PORT $GW_OPS_PORT
    start_gateway "pg-$mode" "$mode" "$WORK/pg.toml" "$WORK/token-pg-$mode"
    measure "$mode/gw-support-pg" "$mode" "Authorization: Bearer $(cat "$WORK/token-pg-$mode")" \
        "http://127.0.0.1:$GW_PORT$RECORD_PATH" "$GW_PID"
    stop "$GW_PID"

    stop "$STUB_PID"
done

# --- 1,000 client connections --------------------------------------------------------
log "=== 1,000 client connections (shared layout, wrk -c1000 -d$DURATION)"
"$BIN/bench-stub" --listen "127.0.0.1:$STUB_PORT" >"$WORK/stub.log" 2>&1 &
STUB_PID=$!
PIDS+=("$STUB_PID")
wait_http "http://127.0.0.1:$STUB_PORT/"
write_gateway_config "$WORK/ordinary.toml" "sqlite://$WORK/c1000.db?mode=rwc" $GW_PORT $GW_OPS_PORT
start_gateway "c1000" shared "$WORK/ordinary.toml"
GW_IDLE_RSS=$(awk -v k="$(hwm_kib "$GW_PID")" 'BEGIN { printf "%.1f", k / 1024 }')
C1000_OUT=$(wrk -t"$THREADS" -c1000 -d"$DURATION" --latency -H "$ORDINARY_AUTH" "http://127.0.0.1:$GW_PORT$RECORD_PATH")
GW_C1000_RSS=$(awk -v k="$(hwm_kib "$GW_PID")" 'BEGIN { printf "%.1f", k / 1024 }')
GW_C1000_RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$C1000_OUT")
GW_C1000_ERR=$(awk '/Socket errors/ {print}' <<<"$C1000_OUT")
stop "$GW_PID"
start_nginx shared "$NPROC"
C1000_OUT=$(wrk -t"$THREADS" -c1000 -d"$DURATION" --latency -H "$ORDINARY_AUTH" "http://127.0.0.1:$NGINX_PORT$RECORD_PATH")
NGINX_C1000_RSS=$(awk -v k="$(hwm_kib $(nginx_pids))" 'BEGIN { printf "%.1f", k / 1024 }')
NGINX_C1000_RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$C1000_OUT")
stop "$NGINX_PID"
log "1,000 connections: gateway VmHWM $GW_C1000_RSS MiB (idle start $GW_IDLE_RSS MiB), nginx $NGINX_C1000_RSS MiB"

# --- revoke propagation --------------------------------------------------------------
REVOKE_SUMMARY="not run (BENCH_REVOKE_TRIALS=0)"
REVOKE_SORTED=""
if ((REVOKE_TRIALS > 0)); then
log "=== revoke propagation: $REVOKE_TRIALS trials, two instances on PostgreSQL"
write_gateway_config "$WORK/pg-b.toml" "$PG_SCHEMA_URL" $GW_B_PORT $GW_B_OPS_PORT
start_gateway "instance-b" shared "$WORK/pg-b.toml"
B_PID=$GW_PID
write_gateway_config "$WORK/pg-a.toml" "$PG_SCHEMA_URL" 0 0
"$BIN/bench-revoke" --config "$WORK/pg-a.toml" --target "http://127.0.0.1:$GW_B_PORT" \
    --trials "$REVOKE_TRIALS" >"$WORK/revoke.out" 2>"$WORK/revoke.err" || {
    cat "$WORK/revoke.err" >&2
    exit 1
}
stop "$B_PID"
stop "$STUB_PID"
REVOKE_SUMMARY=$(grep '^SUMMARY' "$WORK/revoke.out" | sed 's/^SUMMARY //')
REVOKE_SORTED=$(awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $3}' "$WORK/revoke.out" | sort -n | tr '\n' ' ')
log "revoke: $REVOKE_SUMMARY"
else
    stop "$STUB_PID"
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the report ----------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "" && a != "n/a") printf "%.2f", a / b; else print "n/a" }'; }

report() {
    echo "# Support Access gateway benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "- commit: \`$(cd "$ROOT" && git rev-parse --short HEAD)\`$(cd "$ROOT" && git diff --quiet -- gateway crates bench || echo ' (with local changes)')"
    echo "- machine: $NPROC CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "- nginx $(nginx -v 2>&1 | sed 's|.*/||'), wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}'), $(rustc --version | cut -d' ' -f1-2), PostgreSQL $(psql -tA "$PG_URL" -c 'SHOW server_version' 2>/dev/null | cut -d' ' -f1)"
    echo "- load average (1/5/15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER"
    echo "- wrk -t$THREADS -c$CONNS -d$DURATION --latency after a $WARMUP warm-up; GET $RECORD_PATH (support: \`Authorization: Bearer <support token>\`, others: \`$ORDINARY_AUTH\`)"
    echo "- CPU/req: utime+stime of the proxy process (nginx: master + workers; direct: the stub) over the measured window ÷ requests. DB CPU/req: the same for all \`postgres\` processes."
    echo "- Peak RSS: VmHWM since the process started (nginx: sum over master and workers)."
    echo
    local mode key
    for mode in $MODES; do
        if [[ "$mode" == pinned ]]; then
            echo "## Layout \`pinned\`: proxy alone on CPU 1 (nginx worker_processes 1, gateway 1 worker thread); wrk and stub on CPU 0"
        else
            echo "## Layout \`shared\`: nothing pinned (nginx worker_processes $NPROC, gateway $NPROC worker threads); wrk, stub, proxy share $NPROC cores"
        fi
        echo
        echo "| target | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MiB | non-2xx | req/s ÷ nginx | p99 ÷ nginx | CPU ÷ nginx | DB CPU µs/req |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        local n="$mode/nginx"
        for key in direct nginx gw-ordinary gw-support-sqlite gw-support-pg; do
            local k="$mode/$key" db="–"
            [[ "$key" == gw-support-pg ]] && db=${DBCPU[$k]}
            echo "| $key | ${RPS[$k]} | ${P50[$k]} | ${P99[$k]} | ${CPU[$k]} | ${RSS[$k]} | ${NON2XX[$k]} | $(ratio "${RPS[$k]}" "${RPS[$n]}") | $(ratio "${P99[$k]}" "${P99[$n]}") | $(ratio "${CPU[$k]}" "${CPU[$n]}") | $db |"
        done
        echo
    done
    echo "## 1,000 client connections (shared layout, wrk -t$THREADS -c1000 -d$DURATION, ordinary traffic)"
    echo
    echo "| process | peak RSS MiB (VmHWM) | req/s |"
    echo "|---|---:|---:|"
    echo "| gateway (fresh process; $GW_IDLE_RSS MiB before the load) | $GW_C1000_RSS | $GW_C1000_RPS |"
    echo "| nginx (master + workers) | $NGINX_C1000_RSS | $NGINX_C1000_RPS |"
    [[ -n "$GW_C1000_ERR" ]] && echo && echo "gateway run: $GW_C1000_ERR"
    echo
    echo "## Revoke propagation (two gateway instances on one PostgreSQL)"
    echo
    echo "Instance A revokes through its service; instance B (another process) is polled back to back with the revoked token until it answers 401. Time from the start of the revoke call to B's first 401, ms:"
    echo
    echo "- $REVOKE_SUMMARY"
    echo "- all trials, sorted: $REVOKE_SORTED"
}

mkdir -p "$ROOT/bench/results"
report | tee "$ROOT/bench/results/latest.md"
