# Helpers for the scale-out scripts (sourced after lib.sh and kafka_lib.sh): the CQL test
# peer as the shared profile store, rtcrm-topology instances in one consumer group, and
# the stored counters. The binaries come as environment variables: TOPOLOGY, KAFKA_DEV,
# GEN, CQL_PEER, PROFILES.

# start_cql_peer: starts the CQL test peer and sets CQL_PORT (it serves until its stdin closes).
start_cql_peer() {
    coproc PEER { exec "$CQL_PEER" --address 127.0.0.1 --port 0; }
    local line
    read -r -t 20 line <&"${PEER[0]}" || fail "the CQL test peer did not start"
    CQL_PORT=${line#port=}
    [ "$CQL_PORT" -gt 0 ] 2> /dev/null || fail "the CQL test peer printed '$line'"
}

# kill_all_on_exit: at exit, the instances still running are killed (a failed check must
# not leave them behind), then the Kafka mock cluster; call it after start_kafka.
INSTANCE_PIDS=()
kill_all_on_exit() {
    trap 'kill -9 "${INSTANCE_PIDS[@]}" 2> /dev/null || true; kill "$kafka_pid" 2> /dev/null || true
          [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
}

# start_instance NAME [FLAGS...]: an rtcrm-topology in group $GROUP (crm) on topic "raw"
# with the handlers of $SCRIPTS (tests/e2e/scale_out), storing profiles in the peer's
# keyspace $KEYSPACE (crm_scale); triggers to $work/NAME.out, log to $work/NAME.err (both
# appended). Sets PID_<NAME> to the binary's own pid.
start_instance() {
    local name=$1
    shift
    ( exec "$TOPOLOGY" --source kafka --brokers "$BOOTSTRAP" --topic raw --group "${GROUP:-crm}" \
        --scripts "${SCRIPTS:-tests/e2e/scale_out}" --store cassandra --cassandra-hosts "127.0.0.1:$CQL_PORT" \
        --keyspace "${KEYSPACE:-crm_scale}" --shards 2 \
        --sink ndjson --output "$work/$name.out" --maintenance-topic '' \
        -X session.timeout.ms=6000 -X fetch.wait.max.ms=50 -X heartbeat.interval.ms=500 "$@" \
        2>> "$work/$name.err" ) &
    printf -v "PID_$name" '%s' "$!"
    INSTANCE_PIDS+=("$!")
}

# stop_instance NAME: SIGTERM (the instance drains, commits and leaves the group), then waits.
stop_instance() {
    local var="PID_$1"
    kill -TERM "${!var}"
    wait "${!var}" || { tail -n 20 "$work/$1.err" >&2; fail "instance $1 exited with $?"; }
}

# triggers NAME...: trigger lines the instances wrote so far (one per processed event).
triggers() {
    local n=0 f
    for f in "$@"; do
        [ -f "$work/$f.out" ] && n=$((n + $(wc -l < "$work/$f.out")))
    done
    echo "$n"
}

# wait_processed N SECONDS NAME...: until the instances wrote N triggers together.
wait_processed() {
    local want=$1 deadline=$((SECONDS + $2))
    shift 2
    until [ "$(triggers "$@")" -ge "$want" ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "only $(triggers "$@") of $want events processed"
        sleep 0.2
    done
}

# dump_profiles: every profile stored in $KEYSPACE, one JSON object a line, by player key.
dump_profiles() {
    "$PROFILES" --store cassandra --cassandra-hosts "127.0.0.1:$CQL_PORT" --keyspace "${KEYSPACE:-crm_scale}" --dump
}

# stored_counts FILE: "player type count" lines, sorted, for every stored profile's n_<type>
# attributes (the handlers' counters).
stored_counts() {
    dump_profiles |
        python3 -c '
import json, sys
for line in sys.stdin:
    p = json.loads(line)
    for name, n in sorted(p.get("attributes", {}).items()):
        if name.startswith("n_"):
            print(p["player_id"], name[2:], n)
' | sort > "$1"
}
