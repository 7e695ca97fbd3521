#!/usr/bin/env bash
# Two rtcrm-topology instances in one consumer group share the CQL test peer as their
# profile store. A runs alone, B joins, leaves, joins again and leaves: partitions move
# A -> B -> A -> B -> A. A counter per event type on every event must end at exactly the
# number of events each player had: an instance that gets a partition back must not
# apply its events to profiles it cached before giving the partition up (and write those
# over the other instance's updates).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kafka_lib.sh"
source "$(dirname "$0")/scale_out_lib.sh"
start_kafka --topic raw:8
kill_all_on_exit
start_cql_peer

players=200
per_batch=2000
sent=0
# produce TYPE COUNT: COUNT events of TYPE over the players, in turn, keyed by player.
produce() {
    awk -v type="$1" -v n="$2" -v players="$players" -v first="$sent" 'BEGIN {
        for (i = 0; i < n; i++) {
            p = i % players; k = first + i
            printf "%d|{\"id\":\"e-%d\",\"player_id\":%d,\"type\":\"%s\",\"ts\":%d}\n", p, k, p, type, 1763800000000 + k
        }
    }' | kcat -P -b "$BOOTSTRAP" -t raw -K '|' || fail "kcat could not produce"
    sent=$((sent + $2))
}
# joined NAME: one probe event per player until instance NAME processed one (then the
# rebalance that brought it in is over), and until every probe is processed.
probes=0
joined() {
    local deadline=$((SECONDS + 60))
    until [ "$(triggers "$1")" -gt 0 ]; do
        [ "$SECONDS" -lt "$deadline" ] || { tail -n 20 "$work/$1.err" >&2; fail "instance $1 got no partition"; }
        produce probe "$players"
        probes=$((probes + 1))
        sleep 1
    done
    wait_processed "$sent" 60 A B1 B2
}

start_instance A
produce fight "$per_batch"
wait_processed "$sent" 60 A B1 B2          # batch 1: A alone (it joins within a few seconds)
start_instance B1
joined B1
produce fight "$per_batch"
wait_processed "$sent" 60 A B1 B2          # batch 2: shared
stop_instance B1                           # B's partitions go back to A
produce fight "$per_batch"
wait_processed "$sent" 60 A B1 B2          # batch 3: A alone
start_instance B2
joined B2
produce fight "$per_batch"
wait_processed "$sent" 60 A B1 B2          # batch 4: shared again
stop_instance B2
stop_instance A

[ "$(triggers A B1 B2)" -eq "$sent" ] || fail "$(triggers A B1 B2) events processed, $sent sent"
echo "processed: A $(triggers A), B $(triggers B1) then $(triggers B2), of $sent"
stored_counts "$work/stored.txt"
for ((p = 0; p < players; p++)); do
    echo "$p fight $((4 * per_batch / players))"
    echo "$p probe $probes"
done | sort > "$work/expected.txt"
wrong=$(comm -23 "$work/expected.txt" "$work/stored.txt" | cut -d" " -f1 | sort -u | wc -l)
if [ "$wrong" -ne 0 ]; then
    comm -23 "$work/expected.txt" "$work/stored.txt" | head -n 5 >&2
    fail "$wrong of $players players have counters that differ from the events sent (expected vs stored above)"
fi
# The instances never wrote over each other: no conditional write found a newer version.
! grep -h "another writer" "$work"/*.err >&2 || fail "an instance's profile write lost to another's"
echo "PASS: $players players, every counter equals its events after A -> B -> A"
