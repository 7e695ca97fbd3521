#!/usr/bin/env bash
# Campaign counters survive kill -9 with the LMDB store: they are committed with the
# profiles they came from, so a run killed at random moments (4 times) and resumed each
# time reports exactly what a run that was never killed reports: triggers, exposures and
# conversions per arm, suppressions by reason, players, per campaign and per day.
source "$(dirname "$0")/lib.sh"
topology=$1

mkdir "$work/scripts"
cat > "$work/scripts/campaigns.lua" <<'LUA'
crm.updater{ id = "streak", on = "fight", fn = function(e, p)
  if e.data.result == "loss" then p:incr("loss_streak") else p:set("loss_streak", 0) end
end }
crm.fatigue{ per_player = 2, every = "1h" }
crm.campaign{ id = 33, on = "fight", priority = 5,
  when = function(e, p) return e.data.result == "loss" end,
  segment = function(p) return (p:get("loss_streak") or 0) >= 2 end,
  cap = { per_player = 3, every = "1d" },
  holdout = 0.2,
  variants = { { name = "a", weight = 1, content = { offer = "tanks-10" } },
               { name = "b", weight = 2, content = { offer = "tanks-5-and-gold" } } },
  goal = { on = "purchase", within = "2h" },
  content = { offer = "tanks" } }
crm.campaign{ id = 34, on = "fight", content = { offer = "gold" },
  when = function(e, p) return e.data.result == "win" end,
  holdout = 0.5, goal = { on = "purchase", within = "30m" } }
crm.campaign{ id = 35, on = "login", transactional = true, content = { hello = true } }
LUA
# 1,200,000 events of 997 players over about 3 days (200 ms apart), deterministic.
awk 'BEGIN { for (i = 0; i < 1200000; i++) {
    p = (i * 7919) % 997 + 1; k = (i * 31) % 17;
    t = k == 0 ? "login" : (k == 7 ? "purchase" : "fight"); r = (i * 13) % 5 < 3 ? "loss" : "win";
    printf "{\"id\":\"e-%d\",\"player_id\":%d,\"type\":\"%s\",\"ts\":%.0f,\"data\":{\"result\":\"%s\"}}\n",
        i, p, t, 1763800000000 + i * 200, r } }' > "$work/events.ndjson"

args=(--source ndjson --input "$work/events.ndjson" --scripts "$work/scripts" --shards 2 --store lmdb
      --store-no-sync --output /dev/null --dead-letter "$work/dead.ndjson")

"$topology" "${args[@]}" --store-path "$work/reference" --report "$work/reference.json" 2> "$work/reference.err" \
    || { cat "$work/reference.err"; fail "the reference run failed"; }
python3 - "$work/reference.json" <<'PY' || fail "the reference report does not show what the test needs"
import json, sys
report = {c["id"]: c for c in json.load(open(sys.argv[1]))["campaigns"]}
c33, c34, c35 = report["33"], report["34"], report["35"]
assert c33["triggers"] > 0 and c33["arms"]["control"]["exposures"] > 0, c33
assert all(c33["arms"][a]["conversions"] > 0 for a in ("control", "a", "b")), c33["arms"]
assert c33["suppressed"]["cap"] > 0 and c34["suppressed"]["fatigue"] > 0, (c33["suppressed"], c34["suppressed"])
assert c35["triggers"] > 0 and "arms" not in c35, c35
assert len(c33["days"]) >= 3, c33["days"]
PY

for attempt in 1 2 3 4; do
    kill_mid_run 3 18 "$work/crashed.err" "$topology" "${args[@]}" --store-path "$work/crashed"
done
[ "$interrupted" -ge 2 ] || fail "only $interrupted of 4 runs were still running when killed; make the input larger"
"$topology" "${args[@]}" --store-path "$work/crashed" --report "$work/crashed.json" 2>> "$work/crashed.err" \
    || { cat "$work/crashed.err"; fail "the final run failed"; }
tail -n 1 "$work/crashed.err"
python3 - "$work/reference.json" "$work/crashed.json" <<'PY' || fail "the counters after $interrupted crashes differ from the uninterrupted run"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
if a != b:
    for x, y in zip(a["campaigns"], b["campaigns"]):
        if x != y:
            for k in x:
                if x[k] != y.get(k):
                    print(x["id"], k, "reference:", json.dumps(x[k])[:300], "crashed:", json.dumps(y.get(k))[:300])
    sys.exit(1)
PY
echo "PASS: $interrupted crashes, campaign report identical to the uninterrupted run"
