#!/usr/bin/env bash
# A shard stuck in a sink that never returns is visible and stoppable: its triggers go to a
# pipe that nobody reads, so once the pipe's buffer is full the NDJSON sink's write blocks
# the shard. The watchdog reports it on stderr, /readyz answers 503, /healthz names it and
# /metrics counts it; SIGTERM still ends the process within the drain timeout plus the
# grace period, with a report of what was lost and exit status 3. A second SIGTERM leaves
# at once.
source "$(dirname "$0")/lib.sh"
bin=$1

mkfifo "$work/triggers"
# Held open here for reading (read-write, so opening it never blocks) and never read.
exec 3<> "$work/triggers"

# start NAME DRAIN GRACE: runs the binary in the background (pid in $pid, stderr in $work/NAME.err).
start() {
    ( exec "$bin" --source generator --events 0 --players 1000000 --shards 2 --scripts lua/examples \
        --output "$work/triggers" --admin 127.0.0.1:0 --stuck-after 300ms --drain-timeout "$2" \
        --shutdown-grace "$3" 3<&- ) 2> "$work/$1.err" &
    pid=$!
}

# wait_stuck NAME: until the watchdog has reported a stuck shard (at most 30 s).
wait_stuck() {
    for _ in $(seq 300); do
        grep -q 'stuck: one step has run' "$work/$1.err" 2> /dev/null && return 0
        kill -0 "$pid" 2> /dev/null || { cat "$work/$1.err"; fail "$1: exited before a shard got stuck"; }
        sleep 0.1
    done
    cat "$work/$1.err"
    kill -KILL "$pid"
    fail "$1: no shard was reported stuck"
}

# finish NAME LIMIT_S: waits for the process to end (SIGKILL past LIMIT_S); sets $status and $took (ms).
finish() {
    local began now
    began=$(date +%s%N)
    while kill -0 "$pid" 2> /dev/null; do
        now=$(date +%s%N)
        if [ $(((now - began) / 1000000)) -gt $(($2 * 1000)) ]; then
            kill -KILL "$pid"
            wait "$pid" || true
            cat "$work/$1.err"
            fail "$1: still running $2 s after SIGTERM"
        fi
        sleep 0.05
    done
    status=0
    wait "$pid" || status=$?
    took=$((($(date +%s%N) - began) / 1000000))
}

# 1. Stuck: reported, then SIGTERM ends it after the drain timeout (1 s) plus at most the grace (1 s).
start stuck 1s 1s
wait_stuck stuck
port=$(sed -n 's/.*admin API on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/stuck.err")
[ -n "$port" ] || fail "no admin port in: $(cat "$work/stuck.err")"
grep -q "in sink 'ndjson' (stream main)" "$work/stuck.err" || fail "the report does not say where the shard is stuck"
ready=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$port/readyz")
[[ "$ready" == *" 503" && "$ready" == *"stuck for"* ]] || fail "/readyz: $ready"
health=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$port/healthz")
[[ "$health" == *" 200" && "$health" == *'"status":"stuck"'* && "$health" == *"sink 'ndjson'"* ]] || fail "/healthz: $health"
metrics=$(curl -s "http://127.0.0.1:$port/metrics")
grep -Eq '^rtcrm_stuck_shards [12]$' <<< "$metrics" || fail "/metrics: $(grep stuck <<< "$metrics")"
grep -Eq '^rtcrm_stuck_episodes_total [1-9][0-9]*$' <<< "$metrics" || fail "/metrics: $(grep stuck <<< "$metrics")"

kill -TERM "$pid"
finish stuck 10
cat "$work/stuck.err"
[ "$status" -eq 3 ] || fail "exit status $status, not 3"
[ "$took" -le 3500 ] || fail "took $took ms to end; the drain timeout plus the grace is 2000 ms"
grep -q 'the drain did not finish within 1000 ms' "$work/stuck.err" || fail "no loss report"
grep -Eq "shard [01] did not finish, stuck for .*: sink 'ndjson' \(stream main\)" "$work/stuck.err" || fail "the loss report does not name the stuck shard"
grep -Eq 'source generator: [0-9]+ read; not committed: [0-9]+ still in flight' "$work/stuck.err" || fail "the loss report does not say what was not committed"

# 2. A second SIGTERM leaves at once, long before a 20 s drain timeout.
start twice 20s 5s
wait_stuck twice
kill -TERM "$pid"
sleep 0.3
kill -TERM "$pid"
finish twice 10
cat "$work/twice.err"
[ "$status" -eq 3 ] || fail "exit status $status after two signals, not 3"
[ "$took" -le 3000 ] || fail "took $took ms to end after a second signal"
grep -q 'a second signal: leaving without a complete drain' "$work/twice.err" || fail "no report after the second signal"
grep -Eq "shard [01] stuck for .*: sink 'ndjson' \(stream main\)" "$work/twice.err" || fail "the report does not name the stuck shard"
echo "PASS: a stuck shard is reported and SIGTERM still ends the process"
