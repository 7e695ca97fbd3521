#!/usr/bin/env bash
# Events piped on standard input: three losses in a row trigger the offer.
source "$(dirname "$0")/lib.sh"
bin=$1
for i in 0 1 2; do
    echo "{\"id\":\"e-$i\",\"player_id\":\"alice\",\"type\":\"fight\",\"ts\":$((1763800000000 + i)),\"data\":{\"result\":\"loss\"}}"
done | "$bin" --source ndjson --input - --shards 1 --scripts lua/examples --output - 2> "$work/err.txt" > "$work/out.ndjson" \
    || { cat "$work/err.txt"; fail "exit $?"; }
[ "$(wc -l < "$work/out.ndjson")" -eq 1 ] || fail "expected one trigger, got: $(cat "$work/out.ndjson")"
grep -q '"player_id":"alice"' "$work/out.ndjson" || fail "trigger is not for alice: $(cat "$work/out.ndjson")"
grep -q '"event_id":"e-2"' "$work/out.ndjson" || fail "trigger does not name the causing event"
echo "PASS: stdin input"
