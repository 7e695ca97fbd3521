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
    # Read one way by a key scan, another by the parser: refused, not routed by either.
    echo '{"player\u005fid":"A","player_id":"D","type":"login","ts":1763800000005}'
    # Event times that would hold caps forever or overflow buckets, and one past --max-event-lead.
    echo '{"player_id":3,"type":"login","ts":9223372036854775807}'
    echo '{"player_id":3,"type":"login","ts":-9223372036854775808}'
    echo "{\"player_id\":3,\"type\":\"login\",\"ts\":$(( $(date +%s) * 1000 + 2 * 3600 * 1000 ))}"
    # Bytes after a NUL, bytes that are not UTF-8, nesting past the limit.
    printf '{"player_id":4,"type":"login","ts":1763800000006}\0GARBAGE\n'
    printf '{"player_id":5,"type":"login","ts":1763800000007,"name":"caf\xe9"}\n'
    printf '{"player_id":6,"type":"login","ts":1763800000008,"deep":%s0%s}\n' "$(printf '[%.0s' {1..100})" "$(printf ']%.0s' {1..100})"
} > "$work/in.ndjson"
"$bin" --source ndjson --input "$work/in.ndjson" --schemas examples/schemas --output "$work/out.ndjson" \
    --dead-letter "$work/dead.ndjson" --max-event-lead 1h 2> "$work/err.txt" || { cat "$work/err.txt"; fail "exit $?"; }
cat "$work/err.txt"
[ "$(wc -l < "$work/dead.ndjson")" -eq 12 ] || fail "expected 12 dead letters, got $(wc -l < "$work/dead.ndjson")"
for reason in parse_error missing_field wrong_type schema_violation too_large ambiguous_key bad_time; do
    grep -q "\"reason\":\"$reason\"" "$work/dead.ndjson" || fail "no dead letter with reason $reason"
done
grep '"reason":"schema_violation"' "$work/dead.ndjson" | grep -q 'result' || fail "schema violation does not name the field"
grep '"reason":"parse_error"' "$work/dead.ndjson" | grep -q '"offset":' || fail "dead letter has no offset"
[ "$(grep -c '"reason":"bad_time"' "$work/dead.ndjson")" -eq 3 ] || fail "expected 3 bad_time dead letters"
grep -q 'NUL byte after the JSON value' "$work/dead.ndjson" || fail "bytes after a NUL were not refused"
grep -q 'invalid UTF-8 at offset 60' "$work/dead.ndjson" || fail "invalid UTF-8 not named with its offset"
grep -q 'nested deeper than 64 levels' "$work/dead.ndjson" || fail "nesting past the limit not refused"
# Every dead letter is JSON text (UTF-8), whatever the bytes it quotes.
python3 -c 'import json, sys; [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]' "$work/dead.ndjson" ||
    fail "a dead letter is not valid JSON"
grep -q '"raw_utf8_replaced":true' "$work/dead.ndjson" || fail "replaced bytes are not flagged"
[ "$(summary_field processed "$work/err.txt")" -eq 2 ] || fail "expected 2 processed events"
[ "$(summary_field dead_lettered "$work/err.txt")" -eq 12 ] || fail "expected 12 dead-lettered events"
grep -q 'ambiguous_key=1' "$work/err.txt" || fail "the summary does not count ambiguous_key"
grep -q 'bad_time=3' "$work/err.txt" || fail "the summary does not count bad_time"
echo "PASS: dead letters carry their reasons"
