#!/usr/bin/env bash
# --shard-policy: the demo runs with its shards under SCHED_BATCH, and under SCHED_FIFO
# where the process may use it; where it may not, the run is refused up front, naming
# the privilege, with nothing processed.
source "$(dirname "$0")/lib.sh"
bin=$1
bob() {  # bob POLICY: the demo with that shard policy; Bob gets his one offer
    "$bin" --source generator --scenario bob --events 20000 --players 2000 --seed 7 --shards 2 \
        --scripts lua/examples --admin "" --shard-policy "$1" --output "$work/$1.ndjson" 2> "$work/$1.err" \
        || { cat "$work/$1.err"; fail "--shard-policy $1: exit $?"; }
    [ "$(grep -c '"player_id":4242,' "$work/$1.ndjson" || true)" -eq 1 ] || fail "--shard-policy $1: Bob's offer"
    [ "$(summary_field processed "$work/$1.err")" -eq 20000 ] || fail "--shard-policy $1: not every event processed"
}
bob batch
echo "PASS: the demo with --shard-policy batch"

# refused FILE: rtcrm-topology refused SCHED_FIFO before processing anything.
refused() {
    grep -q 'cannot apply "fifo".*CAP_SYS_NICE' "$1" || fail "the refusal does not name the privilege: $(cat "$1")"
    ! grep -q "processed=" "$1" || fail "events were processed before the refusal: $(cat "$1")"
}
if "$bin" --events 100 --admin "" --shard-policy fifo --output /dev/null 2> "$work/fifo.err"; then
    bob fifo
    echo "PASS: the demo with --shard-policy fifo"
else
    refused "$work/fifo.err"
    echo "PASS: --shard-policy fifo refused without the privilege"
fi

# As an unprivileged user, SCHED_FIFO is refused (when this test can switch users).
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null \
    && setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$bin" 2> /dev/null; then
    chmod 777 "$work"
    if setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$bin" --events 100 --admin "" \
        --shard-policy fifo --output /dev/null 2> "$work/nobody.err"; then
        fail "an unprivileged user got SCHED_FIFO"
    fi
    refused "$work/nobody.err"
    echo "PASS: --shard-policy fifo refused to an unprivileged user"
else
    echo "(not root, or the binary is not reachable by nobody: the unprivileged case is not run)"
fi
