#!/usr/bin/env bash
# Bad lines of an NDJSON file land in the dead-letter file with their reasons; good lines
# around them are processed.
source "$(dirname "$0")/lib.sh"
bin=$1
{
    echo '{"id":"a","player_id":1,"type":"fight","ts":1763800000000,"data":{"result":"loss"}}'
    echo '{"player_id":1,"type":'
    echo '{"type":"fight","ts":1763800000001,"data":{"result":"loss"}}'
    echo '{"player_id":[1],"type":"fight","ts":1763800000002}'
    echo '{"id":"b","player_id":1,"type":"fight","ts":1763800000003,"data":{"result":"draw"}}'
    printf '{"player_id":1,"type":"login","pad":"%s"}\n' "$(head -c 70000 /dev/zero | tr '\0' x)"
    echo '{"id":"c","player_id":2,"type":"login","ts":1763800000004,"data":{"platform":"web"}}'
} > "$work/in.ndjson"
"$bin" --source ndjson --input "$work/in.ndjson" --schemas examples/schemas --output "$work/out.ndjson" \
    --dead-letter "$work/dead.ndjson" 2> "$work/err.txt" || { cat "$work/err.txt"; fail "exit $?"; }
cat "$work/err.txt"
[ "$(wc -l < "$work/dead.ndjson")" -eq 5 ] || fail "expected 5 dead letters, got $(wc -l < "$work/dead.ndjson")"
for reason in parse_error missing_field wrong_type schema_violation too_large; do
    grep -q "\"reason\":\"$reason\"" "$work/dead.ndjson" || fail "no dead letter with reason $reason"
done
grep '"reason":"schema_violation"' "$work/dead.ndjson" | grep -q 'result' || fail "schema violation does not name the field"
grep '"reason":"parse_error"' "$work/dead.ndjson" | grep -q '"offset":' || fail "dead letter has no offset"
[ "$(summary_field processed "$work/err.txt")" -eq 2 ] || fail "expected 2 processed events"
[ "$(summary_field dead_lettered "$work/err.txt")" -eq 5 ] || fail "expected 5 dead-lettered events"
echo "PASS: dead letters carry their reasons"
