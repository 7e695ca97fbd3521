#!/usr/bin/env bash
# rtcrm-profiles --where counts and dumps exactly the profiles the expression selects,
# scanning in parallel: checked against a filter of the full dump.
source "$(dirname "$0")/lib.sh"
topology=$1
profiles=$2
"$topology" --source generator --scenario bob --events 60000 --players 3000 --scripts lua/examples \
    --store lmdb --store-path "$work/store" --output /dev/null 2> "$work/run.err" || { cat "$work/run.err"; fail "topology run"; }

"$profiles" --store lmdb --store-path "$work/store" --dump --threads 1 > "$work/all.ndjson"
expected=$(/usr/bin/python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    level = json.loads(line)["attributes"].get("level")
    if level is not None and level >= 12:
        n += 1
print(n)' "$work/all.ndjson")
[ "$expected" -gt 0 ] || fail "no profile has level >= 12: the test data is wrong"

for threads in 1 4; do
    got=$("$profiles" --store lmdb --store-path "$work/store" --threads "$threads" --where '(p:get("level") or 0) >= 12' --count)
    [ "$got" -eq "$expected" ] || fail "--where --count with $threads threads: $got, expected $expected"
done
"$profiles" --store lmdb --store-path "$work/store" --threads 4 \
    --where 'return function(profile) return (profile:get("level") or 0) >= 12 end' --dump > "$work/some.ndjson"
[ "$(wc -l < "$work/some.ndjson")" -eq "$expected" ] || fail "--where --dump printed $(wc -l < "$work/some.ndjson") profiles"
# The same lines as the full dump's, in the same (player key) order.
grep -Fxf "$work/some.ndjson" "$work/all.ndjson" | cmp -s - "$work/some.ndjson" || fail "--dump with --where differs from the full dump"
# Bob (4242) reached level 12 in the scenario.
grep -q '^{"player_id":4242,' "$work/some.ndjson" || fail "Bob is missing from the segment"

# A bad expression is refused with its position, before anything is read.
if "$profiles" --store lmdb --store-path "$work/store" --where 'p:get(' --count 2> "$work/bad.err"; then
    fail "a bad --where was accepted"
fi
grep -q 'where:1:' "$work/bad.err" || { cat "$work/bad.err"; fail "no position in the error"; }
echo "PASS: --where selects $expected profiles"
