#!/usr/bin/env bash
# The demo: generated traffic with Bob's three lost fights; Bob gets exactly one offer.
source "$(dirname "$0")/lib.sh"
bin=$1
"$bin" --source generator --scenario bob --events 20000 --players 2000 --seed 7 --shards 2 \
    --schemas examples/schemas --scripts lua/examples --output "$work/triggers.ndjson" --dead-letter "$work/dead.ndjson" 2> "$work/err.txt" \
    || { cat "$work/err.txt"; fail "rtcrm-topology exited with $?"; }
cat "$work/err.txt"
bob=$(grep -c '"player_id":4242,' "$work/triggers.ndjson" || true)
[ "$bob" -eq 1 ] || fail "expected exactly one trigger for Bob, got $bob"
grep '"player_id":4242,' "$work/triggers.ndjson" | grep -q '"offer":"tanks-10"' || fail "Bob's trigger has no tanks offer"
[ "$(summary_field in "$work/err.txt")" -eq 20000 ] || fail "not every event was read"
[ "$(summary_field processed "$work/err.txt")" -eq 20000 ] || fail "not every event was processed"
[ ! -s "$work/dead.ndjson" ] || fail "generated events were dead-lettered: $(head -n 3 "$work/dead.ndjson")"
echo "PASS: Bob got his offer"
