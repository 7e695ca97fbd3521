#!/usr/bin/env bash
# The HTTP path with real clients (curl, and Python's Prometheus parser): events posted to
# the gateway become triggers; the admin API shows metrics that agree with what was sent,
# serves profiles and the campaign report, refuses writes without the token, refuses a broken script with its
# line while the old handlers keep running, hot-loads a fixed one, flips the kill switch
# and answers an audience query.
source "$(dirname "$0")/lib.sh"
bin=$1
export RTCRM_ADMIN_TOKEN=s3cret
"$bin" --source http --listen 127.0.0.1:0 --admin 127.0.0.1:0 --scripts lua/examples \
    --output "$work/triggers.ndjson" --dead-letter "$work/dead.ndjson" 2> "$work/err.txt" &
pid=$!
for _ in $(seq 100); do
    grep -q 'admin API on' "$work/err.txt" 2> /dev/null && break
    sleep 0.1
done
events=$(sed -n 's/.*listening on \(.*\)$/http:\/\/\1/p' "$work/err.txt")
admin=$(sed -n 's/.*admin API on \(.*\)$/http:\/\/\1/p' "$work/err.txt")
[ -n "$events" ] && [ -n "$admin" ] || { cat "$work/err.txt"; fail "no addresses printed"; }
auth=(-H "Authorization: Bearer s3cret")

# fights PLAYER FIRST_SEQ COUNT: NDJSON losses.
fights() {
    for s in $(seq "$2" $(($2 + $3 - 1))); do
        printf '{"id":"e-%s-%s","player_id":%s,"type":"fight","ts":%s,"data":{"result":"loss"}}\n' "$1" "$s" "$1" $((1763800000000 + s))
    done
}
post() {  # post FILE → "STATUS BODY"
    curl -s -o "$work/reply.json" -w '%{http_code}' --data-binary @"$1" "$events/events"
}

# 30 players lose three fights each; one batch line is not JSON.
for p in $(seq 30); do fights "$p" 0 3; done > "$work/batch.ndjson"
echo '{"player_id":31,' >> "$work/batch.ndjson"
[ "$(post "$work/batch.ndjson")" = 400 ] || fail "a batch with a bad line: $(cat "$work/reply.json")"
grep -q '"accepted":90' "$work/reply.json" || fail "good lines not counted: $(cat "$work/reply.json")"
grep -q '"line":91,"reason":"parse_error"' "$work/reply.json" || fail "the bad line is not named: $(cat "$work/reply.json")"

wait_triggers() {
    for _ in $(seq 100); do
        [ "$(wc -l < "$work/triggers.ndjson" 2> /dev/null || echo 0)" -ge "$1" ] && return 0
        sleep 0.1
    done
    fail "expected $1 triggers, have $(wc -l < "$work/triggers.ndjson")"
}
wait_triggers 30

# /metrics parses as Prometheus text and agrees with what was sent.
curl -sf "$admin/metrics" > "$work/metrics.txt" || fail "GET /metrics"
/usr/bin/python3 - "$work/metrics.txt" <<'PY' || fail "/metrics disagrees with the events sent"
import sys
from prometheus_client.parser import text_string_to_metric_families
values = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        values[(s.name, tuple(sorted(s.labels.items())))] = s.value
def get(name, **labels):
    return values.get((name, tuple(sorted(labels.items()))))
assert get("rtcrm_events_in_total") == 91, get("rtcrm_events_in_total")
assert get("rtcrm_events_processed_total") == 90
assert get("rtcrm_events_dead_lettered_total", reason="parse_error") == 1
assert get("rtcrm_campaign_triggers_total", campaign="3") == 30
assert get("rtcrm_campaign_suppressed_total", campaign="3", reason="fatigue") == 0
assert get("rtcrm_campaign_timers_total", campaign="31", event="armed") == 0  # the win-back waits on logins
assert get("rtcrm_campaign_timed_out_total", campaign="31", by="quiet_deferred") == 0
assert get("rtcrm_campaign_orphaned_timers_total") == 0
assert get("rtcrm_handler_calls_total", kind="updater", handler="fight-stats") == 90
assert get("rtcrm_gateway_events_accepted_total") == 90
assert get("rtcrm_event_latency_seconds_count") == 90, get("rtcrm_event_latency_seconds_count")
assert get("rtcrm_event_latency_seconds_bucket", le="+Inf") == 90
assert get("rtcrm_event_latency_seconds_sum") > 0
print("metrics ok")
PY

# The campaign report: a read (no token), in agreement with the triggers sent.
curl -sf "$admin/campaigns" > "$work/campaigns.json" || fail "GET /campaigns"
python3 - "$work/campaigns.json" <<'PY' || fail "GET /campaigns: $(cat "$work/campaigns.json")"
import json, sys
report = json.load(open(sys.argv[1]))
by_id = {c["id"]: c for c in report["campaigns"]}
assert by_id["3"]["triggers"] == 30, by_id["3"]
assert by_id["3"]["players"] == 30, by_id["3"]
assert [d["day"] for d in by_id["3"]["days"]] == ["2025-11-22"], by_id["3"]["days"]
PY

# A profile, read from its shard.
curl -sf "$admin/profiles/7" > "$work/p7.json" || fail "GET /profiles/7"
grep -q '"loss_streak":3' "$work/p7.json" || fail "profile 7: $(cat "$work/p7.json")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$admin/profiles/424242")" = 404 ] || fail "an unknown player is not 404"

# Writes need the token.
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$admin/campaigns/3/disable")" = 401 ] || fail "a write without the token"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer wrong' "$admin/campaigns/3/disable")" = 401 ] ||
    fail "a write with a wrong token"

# A broken script is refused with its line; the old handlers keep running.
code=$(curl -s -o "$work/put.json" -w '%{http_code}' -X PUT "${auth[@]}" --data-binary $'-- a comment\ncrm.updater{ id = ' "$admin/handlers/broken.lua")
[ "$code" = 400 ] || fail "a broken script was not refused: $code $(cat "$work/put.json")"
grep -q 'broken.lua:2:' "$work/put.json" || fail "no file:line in $(cat "$work/put.json")"
for p in 41 42; do fights "$p" 0 3; done > "$work/more.ndjson"
[ "$(post "$work/more.ndjson")" = 202 ] || fail "POST after the refused script"
wait_triggers 32

# A fixed script changes behaviour without a restart: logins now trigger campaign 9.
cat > "$work/welcome.lua" <<'LUA'
crm.campaign{ id = 9, content = { offer = "welcome-back" }, on = "login",
              when = function(event, profile) return true end }
LUA
code=$(curl -s -o "$work/put.json" -w '%{http_code}' -X PUT "${auth[@]}" --data-binary @"$work/welcome.lua" "$admin/handlers/welcome.lua")
[ "$code" = 200 ] || fail "the fixed script was refused: $(cat "$work/put.json")"
echo '{"id":"l-1","player_id":50,"type":"login","ts":1763800009000}' > "$work/login.ndjson"
[ "$(post "$work/login.ndjson")" = 202 ] || fail "POST login"
wait_triggers 33
tail -n 1 "$work/triggers.ndjson" | grep -q '"campaign_id":9' || fail "the new campaign did not fire"
curl -sf "$admin/handlers" | grep -q '"welcome.lua"' || fail "GET /handlers does not list the new script"

# The kill switch: campaign 3 stops firing, then fires again.
curl -sf -X POST "${auth[@]}" "$admin/campaigns/3/disable" | grep -q '"disabled":true' || fail "disable"
fights 60 0 3 > "$work/killed.ndjson"
[ "$(post "$work/killed.ndjson")" = 202 ] || fail "POST while disabled"
sleep 0.5
grep -q '"player_id":60,' "$work/triggers.ndjson" && fail "campaign 3 fired while disabled"
curl -sf -X POST "${auth[@]}" "$admin/campaigns/3/enable" | grep -q '"disabled":false' || fail "enable"
fights 61 0 3 > "$work/back.ndjson"
[ "$(post "$work/back.ndjson")" = 202 ] || fail "POST after enable"
wait_triggers 34

# Audience: the players with a losing streak of at least 3 (30 + 41, 42, 60, 61).
curl -sf -X POST "${auth[@]}" --data '{"segment":"(p:get(\"loss_streak\") or 0) >= 3","limit":5}' "$admin/audience" > "$work/aud.json" ||
    fail "POST /audience"
grep -q '"count":34' "$work/aud.json" || fail "audience: $(cat "$work/aud.json")"
grep -q '"complete":true' "$work/aud.json" || fail "audience incomplete: $(cat "$work/aud.json")"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "${auth[@]}" --data '{"segment":"p:get("}' "$admin/audience")" = 400 ] ||
    fail "a bad segment is not 400"

curl -sf -X DELETE "${auth[@]}" "$admin/handlers/welcome.lua" > /dev/null || fail "DELETE a handler"

# Hostile scripts. Two uploads whose top level loops inside xpcall's message handler, at
# once: each is refused with its line after its load budget; the admin API goes on answering.
printf 'xpcall(function() while true do end end,\n  function() while true do end end)\n' > "$work/hostile_load.lua"
uploads=()
for i in 1 2; do
    curl -s --max-time 20 -o "$work/hostile$i.json" -w '%{http_code}' -X PUT "${auth[@]}" \
        --data-binary @"$work/hostile_load.lua" "$admin/handlers/hostile$i.lua" > "$work/hostile$i.code" &
    uploads+=($!)
done
wait "${uploads[@]}" || true
for i in 1 2; do
    [ "$(cat "$work/hostile$i.code")" = 400 ] || fail "hostile upload $i: $(cat "$work/hostile$i.code") $(cat "$work/hostile$i.json")"
    grep -q "hostile$i.lua:2: instruction budget exceeded" "$work/hostile$i.json" || fail "no file:line: $(cat "$work/hostile$i.json")"
done
curl -sf "$admin/healthz" > /dev/null || fail "the admin API stopped answering after hostile uploads"
# A handler that loops in xpcall's handler on every fight: each call ends at its budget, the
# gateway and the shards go on, and the circuit breaker disables it.
cat > "$work/hostile_run.lua" <<'LUA'
crm.updater{ id = "hostile", on = "fight", fn = function(event, profile)
    xpcall(function() while true do end end, function() while true do end end)
end }
LUA
[ "$(curl -s -o "$work/put.json" -w '%{http_code}' -X PUT "${auth[@]}" --data-binary @"$work/hostile_run.lua" "$admin/handlers/hostile_run.lua")" = 200 ] ||
    fail "the run-time hostile script was refused: $(cat "$work/put.json")"
for p in 71 72 73 74; do fights "$p" 0 3; done > "$work/hostile_fights.ndjson"
[ "$(curl -s --max-time 10 -o "$work/reply.json" -w '%{http_code}' --data-binary @"$work/hostile_fights.ndjson" "$events/events")" = 202 ] ||
    fail "the gateway stopped answering: $(cat "$work/reply.json")"
wait_triggers 38
curl -sf "$admin/readyz" > /dev/null || fail "not ready after a hostile handler"
curl -sf "$admin/handlers" > "$work/handlers.json" || fail "GET /handlers"
grep -q 'instruction budget exceeded' "$work/handlers.json" || fail "the hostile handler's error is not reported: $(cat "$work/handlers.json")"
curl -sf -X DELETE "${auth[@]}" "$admin/handlers/hostile_run.lua" > /dev/null || fail "DELETE the hostile handler"
# An audience segment that loops: each profile's call ends at its budget, the query answers
# within its time limit with the error and its line, and the shards go on.
curl -s --max-time 30 -X POST "${auth[@]}" \
    --data '{"segment":"p:get(\"x\") == nil and (function() while true do end end)()"}' "$admin/audience" > "$work/aud_loop.json" ||
    fail "POST /audience with a looping segment"
grep -q 'where:1: instruction budget exceeded' "$work/aud_loop.json" || fail "audience: $(cat "$work/aud_loop.json")"
fights 80 0 3 > "$work/after.ndjson"
[ "$(post "$work/after.ndjson")" = 202 ] || fail "POST after the looping audience"
wait_triggers 39
kill -TERM "$pid"
wait "$pid" || { cat "$work/err.txt"; fail "exit code $?"; }
echo "PASS: gateway and admin API over HTTP"
