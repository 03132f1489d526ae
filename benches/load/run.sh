#!/usr/bin/env bash
# Load benchmark of `rollguard serve` (POST /v1/decide) with wrk.
#
# Builds the release binary, then for each configuration starts a fresh server on a free
# loopback port with the policy set examples/error-spike-with-outage, drives it with wrk
# (benches/load/decide.lua posts snapshots/spike.json), prints wrk's latency distribution
# and stops the server. Configurations:
#   1. 32 connections, no decision log
#   2.  4 connections, no decision log
#   3. 32 connections, --decision-log to a temporary file (every decision is fsynced)
#
# Environment: DURATION (default 20s), THREADS (default 2), WRK (default wrk),
# NICE (unset by default): a niceness for the server and wrk, e.g. NICE=-15 on a machine that
# other work keeps busy (a negative value needs root).
# Exits non-zero if wrk saw any non-2xx response or socket error.
#
# Usage: benches/load/run.sh
set -euo pipefail

DURATION=${DURATION:-20s}
THREADS=${THREADS:-2}
WRK=${WRK:-wrk}
NICE=${NICE:-}
RUN=()
[[ -n "$NICE" ]] && RUN=(nice -n "$NICE")

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

POLICIES=examples/error-spike-with-outage
SNAPSHOT=$POLICIES/snapshots/spike.json
LUA=benches/load/decide.lua
BIN=target/release/rollguard

if ! command -v "$WRK" >/dev/null 2>&1; then
    echo "error: wrk is not installed." >&2
    echo "  Debian/Ubuntu: apt-get install -y wrk" >&2
    echo "  other systems: https://github.com/wg/wrk (or set WRK=/path/to/wrk)" >&2
    exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rollguard-load.XXXXXX")
SERVER_PID=""

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

WRK_PID=""

cleanup() {
    if [[ -n "$WRK_PID" ]]; then
        kill -TERM "$WRK_PID" 2>/dev/null || true
        wait "$WRK_PID" 2>/dev/null || true
    fi
    stop_server
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server NAME [extra serve args...]: sets ADDR to the address the server listens on.
start_server() {
    local name=$1
    shift
    local out=$TMP/$name.stdout err=$TMP/$name.stderr
    # Port 0: the kernel picks a free port; the first stdout line names it.
    "${RUN[@]}" "$BIN" serve --policies "$POLICIES" --addr 127.0.0.1:0 "$@" >"$out" 2>"$err" &
    SERVER_PID=$!
    local line=""
    for _ in $(seq 200); do
        line=$(head -n 1 "$out" 2>/dev/null || true)
        [[ "$line" == "rollguard serve: listening on http://"* ]] && break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "error: rollguard serve exited before listening:" >&2
            cat "$err" >&2
            exit 1
        fi
        sleep 0.05
    done
    if [[ "$line" != "rollguard serve: listening on http://"* ]]; then
        echo "error: rollguard serve did not report listening within 10 s" >&2
        cat "$out" "$err" >&2
        exit 1
    fi
    echo "$line"
    ADDR=${line#rollguard serve: listening on http://}
    ADDR=${ADDR%% *}
}

# Sets CHILDREN_CPU to "USER SYS": CPU seconds of this script's reaped children (bash `times`,
# second line). `times` runs in this shell, not in a subshell, which would have no children.
children_cpu() {
    times >"$TMP/times"
    CHILDREN_CPU=$(sed -n 2p "$TMP/times" | awk '{
        for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); printf "%.3f ", t[1] * 60 + t[2] } }')
}

declare -a SUMMARY=()
FAILED=0

# run NAME CONNECTIONS [extra serve args...]
run() {
    local name=$1 conns=$2
    shift 2
    echo
    echo "=== $name: $THREADS threads, $conns connections, $DURATION ==="
    start_server "$name" "$@"
    local cmd=("$WRK" -t"$THREADS" -c"$conns" -d"$DURATION" --latency -s "$LUA"
        "http://$ADDR/v1/decide" -- "$SNAPSHOT")
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "+ ${RUN[*]}${RUN:+ }${cmd[*]}"
    local before after
    children_cpu
    before=$CHILDREN_CPU
    # In the background so that a signal to this script is handled at once (see cleanup).
    "${RUN[@]}" "${cmd[@]}" >"$TMP/$name.wrk" &
    WRK_PID=$!
    wait "$WRK_PID"
    WRK_PID=""
    children_cpu
    after=$CHILDREN_CPU
    cat "$TMP/$name.wrk"
    awk -v b="$before" -v a="$after" 'BEGIN {
        split(b, x, " "); split(a, y, " ");
        printf "wrk cpu: user %.2f s, sys %.2f s\n", y[1] - x[1], y[2] - x[2] }'
    # CPU time the server used (since its start: a few ms before wrk started).
    awk -v hz="$(getconf CLK_TCK)" \
        '{printf "server cpu: user %.2f s, sys %.2f s\n", $14 / hz, $15 / hz}' \
        "/proc/$SERVER_PID/stat"
    stop_server
    if [[ -s "$TMP/$name.stderr" ]]; then
        echo "server stderr:"
        sed 's/^/  /' "$TMP/$name.stderr"
    fi
    local result
    result=$(grep '^RESULT ' "$TMP/$name.wrk" | tail -n 1)
    SUMMARY+=("$name $result")
    if [[ "$result" != *" non2xx=0 errors=0" ]]; then
        echo "FAILED: $name had non-2xx responses or socket errors" >&2
        FAILED=1
    fi
}

echo "=== machine ==="
echo "nproc:  $(nproc)"
echo "cpu:    $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "memory: $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
echo "kernel: $(uname -sr)"
echo "wrk:    $("$WRK" --version 2>&1 | head -n 1 || true)"
echo "nice:   ${NICE:-(not set)}"
echo "tmp:    $TMP ($(df -PT "$TMP" | awk 'NR == 2 {print $2}'))"

echo
echo "=== build ==="
cargo build --release

run conns32-nolog 32
run conns4-nolog 4
LOG=$TMP/decisions.log
run conns32-log 32 --decision-log "$LOG"
echo "decision log: $(wc -l <"$LOG") records"
"$BIN" audit verify "$LOG"

echo
echo "=== summary ($THREADS wrk threads, $DURATION each; latencies in microseconds) ==="
printf '%-16s %10s %10s %10s %10s %10s %8s %7s\n' config requests req/s p50 p90 p99 non-2xx errors
for s in "${SUMMARY[@]}"; do
    name=${s%% *}
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" ${s#* }"; }
    printf '%-16s %10s %10s %10s %10s %10s %8s %7s\n' "$name" "$(get requests)" "$(get rps)" \
        "$(get p50_us)" "$(get p90_us)" "$(get p99_us)" "$(get non2xx)" "$(get errors)"
done

exit "$FAILED"
