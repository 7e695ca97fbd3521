#!/usr/bin/env bash
# An outside client interoperates: kcat produces keyed events (and one malformed line) to
# `raw`, rtcrm-topology turns them into triggers on `crm_trigger` and a dead letter on
# `crm_dead_letter`, and kcat reads both back.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kafka_lib.sh"
start_kafka

# 50 players lose three fights each; player 7 also sends a line that is not JSON.
for seq in 0 1 2; do
    for p in $(seq 50); do
        printf '%s|{"id":"e-%s-%s","player_id":%s,"type":"fight","ts":%s,"data":{"result":"loss"}}\n' \
            "$p" "$p" "$seq" "$p" $((1763800000000 + seq * 1000))
    done
done > "$work/events.txt"
echo '7|{"player_id":7,"type":' >> "$work/events.txt"
kcat -P -b "$BOOTSTRAP" -t raw -K '|' -l "$work/events.txt" || fail "kcat could not produce"

"$TOPOLOGY" --source kafka --brokers "$BOOTSTRAP" --topic raw --group crm --scripts lua/examples \
    --sink kafka --trigger-topic crm_trigger --dead-letter-topic crm_dead_letter \
    -X session.timeout.ms=6000 2> "$work/topology.err" &
pid=$!
wait_for_lines "kafka_read crm_trigger '%k %s\n'" 50 60 || { cat "$work/topology.err"; fail "no 50 triggers on crm_trigger"; }
wait_for_lines "kafka_read crm_dead_letter '%s\n'" 1 30 || { cat "$work/topology.err"; fail "no dead letter"; }
kill -TERM "$pid"
wait "$pid" || { cat "$work/topology.err"; fail "rtcrm-topology exit code $?"; }
cat "$work/topology.err"

kafka_read crm_trigger '%k %s\n' > "$work/triggers.txt"
[ "$(wc -l < "$work/triggers.txt")" -eq 50 ] || fail "expected 50 triggers, got $(wc -l < "$work/triggers.txt")"
# Each trigger is keyed by its player, fired by the third loss, for campaign 3.
while read -r key body; do
    echo "$body" | grep -q "\"player_id\":$key," || fail "trigger keyed $key is not for player $key: $body"
    echo "$body" | grep -q "\"event_id\":\"e-$key-2\"" || fail "trigger of $key not fired by the third loss: $body"
    echo "$body" | grep -q '"campaign_id":3' || fail "unexpected campaign: $body"
done < "$work/triggers.txt"
[ "$(cut -d' ' -f1 "$work/triggers.txt" | sort -u | wc -l)" -eq 50 ] || fail "a player got two triggers"
# Each trigger's id is in its body and in the rtcrm-trigger-id header.
kafka_read crm_trigger '%k|%h|%s\n' > "$work/trigger_ids.txt"
[ "$(wc -l < "$work/trigger_ids.txt")" -eq 50 ] || fail "expected 50 triggers with headers"
while IFS='|' read -r key headers body; do
    [ "$headers" = "rtcrm-trigger-id=3:$key:e:e-$key-2" ] || fail "trigger of $key: header '$headers'"
    echo "$body" | grep -q "\"trigger_id\":\"3:$key:e:e-$key-2\"}\$" || fail "trigger of $key: no trigger_id at the end: $body"
done < "$work/trigger_ids.txt"

kafka_read crm_dead_letter '%h|%k|%s\n' > "$work/dead.txt"
grep -q '^rtcrm-reason=parse_error|7|' "$work/dead.txt" || { cat "$work/dead.txt"; fail "dead letter without reason header or key"; }
grep -q '"raw":"{\\"player_id\\":7,\\"type\\":"' "$work/dead.txt" || { cat "$work/dead.txt"; fail "dead letter without the raw bytes"; }
echo "PASS: kcat in, rtcrm, kcat out"
