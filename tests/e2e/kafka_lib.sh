# Helpers for the Kafka end-to-end scripts (sourced after lib.sh). The binaries come as
# environment variables: TOPOLOGY, KAFKA_DEV, GEN. kcat is the outside client.
command -v kcat > /dev/null || fail "kcat is not installed (scripts/setup-debian.sh installs it)"

# start_kafka [--topic NAME:PARTITIONS]...: starts rtcrm-kafka-dev and sets BOOTSTRAP.
start_kafka() {
    "$KAFKA_DEV" "$@" > "$work/kafka-dev.out" 2> "$work/kafka-dev.err" &
    kafka_pid=$!
    trap 'kill "$kafka_pid" 2> /dev/null || true; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
    for _ in $(seq 100); do
        if grep -q '^bootstrap: ' "$work/kafka-dev.out" 2> /dev/null; then
            BOOTSTRAP=$(sed -n 's/^bootstrap: //p' "$work/kafka-dev.out")
            return 0
        fi
        sleep 0.1
    done
    cat "$work/kafka-dev.err" >&2
    fail "rtcrm-kafka-dev printed no bootstrap line"
}

# kafka_read TOPIC FORMAT: every message now in TOPIC, one line each (kcat -f FORMAT).
kafka_read() {
    kcat -C -b "$BOOTSTRAP" -t "$1" -o beginning -e -q -f "$2"
}

# wait_for_lines CMD N SECONDS: reruns CMD until it prints at least N lines.
wait_for_lines() {
    local deadline=$((SECONDS + $3))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if [ "$(eval "$1" | wc -l)" -ge "$2" ]; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}
