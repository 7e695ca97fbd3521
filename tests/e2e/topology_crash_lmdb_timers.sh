#!/usr/bin/env bash
# Timers survive kill -9 with the LMDB store: a run killed at random moments (4 times)
# and restarted each time ends with exactly the profiles of a run that was never killed.
# Every timer due by the end of the input has fired once (its count matches), none fired
# for a player whose cancelling event was committed, and the pending ones are stored.
source "$(dirname "$0")/lib.sh"
topology=$1
profiles=$2

mkdir "$work/scripts"
cat > "$work/scripts/handlers.lua" <<'LUA'
-- A login arms "x" 2000 events (100 s) ahead; a logout before then cancels it.
crm.updater{ id = "arm", on = "login", fn = function(e, p) p:set_timer("x", e.ts + 100000, { at = e.ts }) end }
crm.updater{ id = "cancel", on = "logout", fn = function(e, p) p:cancel_timer("x") end }
crm.updater{ id = "fired", on = "timer:x", fn = function(e, p)
  p:incr("fired")
  p:set("last_armed_at", e.data.at)
end }
crm.updater{ id = "count", on = "*", fn = function(e, p) p:incr("events") end }
LUA
# 1,200,000 events of 997 players, deterministic (the runs take about a second: the kills land mid-run).
awk 'BEGIN { for (i = 0; i < 1200000; i++) {
    p = (i * 7919) % 997 + 1; k = (i * 31) % 13; t = k == 0 ? "login" : (k == 5 ? "logout" : "fight");
    printf "{\"id\":\"e-%d\",\"player_id\":%d,\"type\":\"%s\",\"ts\":%.0f}\n", i, p, t, 1763800000000 + i * 50 } }' \
    > "$work/events.ndjson"

args=(--source ndjson --input "$work/events.ndjson" --scripts "$work/scripts" --shards 2 --store lmdb
      --store-no-sync --output /dev/null --dead-letter "$work/dead.ndjson" --timer-clock event)

"$topology" "${args[@]}" --store-path "$work/reference" 2> "$work/reference.err" \
    || { cat "$work/reference.err"; fail "the reference run failed"; }
grep -q 'timers_fired=[1-9]' "$work/reference.err" || { tail -n 3 "$work/reference.err"; fail "no timer fired in the reference run"; }
"$profiles" --store lmdb --store-path "$work/reference" --dump > "$work/reference.ndjson"
[ "$(wc -l < "$work/reference.ndjson")" -eq 997 ] || fail "the reference run has $(wc -l < "$work/reference.ndjson") profiles"
grep -q '"timers":\[' "$work/reference.ndjson" || fail "no timer is pending at the end of the reference run"

for attempt in 1 2 3 4; do
    kill_mid_run 3 18 "$work/crashed.err" "$topology" "${args[@]}" --store-path "$work/crashed"
done
[ "$interrupted" -ge 2 ] || fail "only $interrupted of 4 runs were still running when killed; make the input larger"
"$topology" "${args[@]}" --store-path "$work/crashed" 2>> "$work/crashed.err" \
    || { cat "$work/crashed.err"; fail "the final run failed"; }
tail -n 1 "$work/crashed.err"
"$profiles" --store lmdb --store-path "$work/crashed" --dump > "$work/crashed.ndjson"
if ! cmp -s "$work/reference.ndjson" "$work/crashed.ndjson"; then
    diff <(tr '}' '\n' < "$work/reference.ndjson") <(tr '}' '\n' < "$work/crashed.ndjson") | head -n 10
    fail "profiles and timers after $interrupted crashes differ from the uninterrupted run"
fi
echo "PASS: $interrupted crashes, profiles and pending timers identical to the uninterrupted run"
