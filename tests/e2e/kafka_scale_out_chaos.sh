#!/usr/bin/env bash
# Chaos: three rtcrm-topology instances in one consumer group share the CQL test peer as
# their profile store while rtcrm-gen streams events; instances are killed with SIGKILL
# and started again at random moments (seeded: the seed is printed, CHAOS_SEED=N replays
# the schedule). At the end:
# - every player's counter per event type equals its events in the stream: each event's
#   effect was applied exactly once, through kills, replays and rebalances;
# - the stored profiles equal those of one uninterrupted instance that read the same
#   topic into a keyspace of its own;
# - the capped campaign fired at most its cap per player (in the stored history and in
#   the triggers sent, counted once per event).
# Sizes (environment): CHAOS_EVENTS (200000), CHAOS_PLAYERS (2000), CHAOS_RATE (3000 events
# per second: the stream lasts ~70 s, for about 5 kills, one every 5-11 s after the last
# restart, each instance down for up to 10 s, so partitions move to the others and back
# while events flow) over 16 partitions. About 3 minutes on 2 cores: the stream, the catch-up,
# then ~65 s for the reference run (the CQL test peer's lightweight transactions are the
# slow part).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kafka_lib.sh"
source "$(dirname "$0")/scale_out_lib.sh"
seed=${CHAOS_SEED:-$(( $(date +%s%N) % 1000000 ))}
events=${CHAOS_EVENTS:-200000}
players=${CHAOS_PLAYERS:-2000}
rate=${CHAOS_RATE:-3000}
# Players about equally active: the mock cluster keeps about 5 MB per partition and drops
# the oldest messages past that, read or not, so no partition may grow past it.
zipf=0.3
cap=3  # scale_out_chaos/handlers.lua
echo "chaos seed: $seed (CHAOS_SEED=$seed replays this schedule), $events events, $players players, $rate/s"
RANDOM=$seed
SCRIPTS=tests/e2e/scale_out_chaos
start_kafka --topic raw:16
kill_all_on_exit
start_cql_peer
began=$SECONDS

"$GEN" --events "$events" --players "$players" --seed "$seed" --zipf "$zipf" --output "$work/events.ndjson" 2> /dev/null
python3 - "$work/events.ndjson" > "$work/expected.txt" <<'PY'
import collections, json, sys
counts = collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    counts[(str(e["player_id"]), e["type"])] += 1
for (player, kind), n in counts.items():
    print(player, kind, n)
PY
sort -o "$work/expected.txt" "$work/expected.txt"
"$GEN" --events "$events" --players "$players" --seed "$seed" --zipf "$zipf" --rate "$rate" --brokers "$BOOTSTRAP" --topic raw \
    2> "$work/gen.err" &
gen_pid=$!

# The instances: slot i runs incarnation n as "s<i>_<n>" (its own trigger file and log).
declare -a pid incarnation
launch() {
    local slot=$1
    incarnation[slot]=$(( ${incarnation[slot]:-0} + 1 ))
    local name="s${slot}_${incarnation[slot]}"
    start_instance "$name"
    local var="PID_$name"
    pid[slot]=${!var}
}
for slot in 1 2 3; do
    launch "$slot"
done

# Kill one at a random moment, start it again after a random pause; until the stream
# ended and at least 4 kills happened.
kills=0
while kill -0 "$gen_pid" 2> /dev/null || [ "$kills" -lt 4 ]; do
    sleep "$(( 5 + RANDOM % 6 )).$(( RANDOM % 10 ))"
    slot=$(( 1 + RANDOM % 3 ))
    kill -9 "${pid[slot]}"
    wait "${pid[slot]}" 2> /dev/null || true
    kills=$((kills + 1))
    # Down for up to 10 s: past the session timeout (6 s), its partitions move to the
    # others, which then give them back when it returns (and get them again later).
    down="$(( RANDOM % 10 )).$(( RANDOM % 10 ))"
    echo "$((SECONDS - began)) s: SIGKILL s${slot}_${incarnation[slot]}, down for $down s"
    sleep "$down"
    launch "$slot"
done
wait "$gen_pid" || { cat "$work/gen.err"; fail "rtcrm-gen could not produce the stream"; }
echo "$((SECONDS - began)) s: stream produced, $kills kills; waiting for the instances to catch up"

# stored_total: the sum of every stored counter (each event adds one).
stored_total() {
    dump_profiles 2> /dev/null | python3 -c '
import json, sys
print(sum(n for line in sys.stdin for k, n in json.loads(line).get("attributes", {}).items() if k.startswith("n_")))'
}
wait_total() {
    local deadline=$((SECONDS + $1)) total=0 next_report=$((SECONDS + 10))
    until total=$(stored_total) && [ "$total" -ge "$events" ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "stored counters add up to $total of $events events"
        if [ "$SECONDS" -ge "$next_report" ]; then
            echo "$((SECONDS - began)) s: $total of $events events stored"
            next_report=$((SECONDS + 10))
        fi
        sleep 3  # a dump reads every profile: not too often
    done
}
wait_total 120
for slot in 1 2 3; do
    stop_instance "s${slot}_${incarnation[slot]}"
done
echo "$((SECONDS - began)) s: every event stored"
stored_counts "$work/stored.txt"
if ! cmp -s "$work/expected.txt" "$work/stored.txt"; then
    diff "$work/expected.txt" "$work/stored.txt" | head -n 10 >&2
    wrong=$(comm -3 "$work/expected.txt" "$work/stored.txt" | awk '{print $1}' | sort -u | wc -l)
    fail "$wrong players have counters that differ from their events (diff expected stored above)"
fi
dump_profiles > "$work/chaos.json"

# The reference: one instance, never interrupted, from the start of the topic.
GROUP=reference KEYSPACE=crm_reference start_instance reference
KEYSPACE=crm_reference wait_total 120
stop_instance reference
KEYSPACE=crm_reference dump_profiles > "$work/reference.json"
echo "$((SECONDS - began)) s: reference run done"
if ! cmp -s "$work/reference.json" "$work/chaos.json"; then
    diff <(cut -c1-300 "$work/reference.json") <(cut -c1-300 "$work/chaos.json") | head -n 6 >&2
    fail "$(diff "$work/reference.json" "$work/chaos.json" | grep -c '^>') stored profiles differ from the uninterrupted run's"
fi

# The cap: in the stored trigger history, and in the triggers sent (once per event).
python3 - "$cap" "$work/chaos.json" "$work"/s*_*.out <<'PY' || fail "the capped campaign fired past its cap"
import collections, json, sys
cap, stored, outs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
over = [p["player_id"] for p in map(json.loads, open(stored)) if p.get("triggers", {}).get("capped", {}).get("total", 0) > cap]
assert not over, f"stored history past the cap for players {over[:5]}"
sent = collections.defaultdict(set)
for path in outs:
    for line in open(path):
        t = json.loads(line)
        sent[t["player_id"]].add(t["event_id"])
over = [p for p, ids in sent.items() if len(ids) > cap]
assert not over, f"triggers past the cap for players {over[:5]}"
print(f"cap {cap}: {sum(map(len, sent.values()))} triggers for {len(sent)} players, none past it")
PY
echo "PASS: seed $seed, $events events, $kills kills, profiles equal the uninterrupted run's, in $((SECONDS - began)) s"
