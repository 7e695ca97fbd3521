#!/usr/bin/env bash
# --report FILE: when the run ends, the campaign report is written to FILE (through a
# temporary file renamed over it) and counts what the campaigns sent.
source "$(dirname "$0")/lib.sh"
bin=$1
mkdir "$work/scripts"
cat > "$work/scripts/report.lua" <<'LUA'
crm.campaign{ id = 33, on = "fight", content = { offer = "tanks" }, cap = { per_player = 1 },
              when = function(event, profile) return event.data.result == "loss" end }
crm.campaign{ id = "quiet", on = "never" }
crm.campaign{ id = 40, on = "fight", cap = { per_player = 1 }, holdout = 0.5,
              variants = { { name = "a", weight = 1 }, { name = "b", weight = 1 } },
              goal = { on = "purchase", within = "1d" } }
LUA
for p in 1 2 3 4 5; do
    for i in 0 1; do
        echo "{\"id\":\"e-$p-$i\",\"player_id\":$p,\"type\":\"fight\",\"ts\":$((1763800000000 + p * 10 + i)),\"data\":{\"result\":\"loss\"}}"
    done
done > "$work/events.ndjson"
for p in 1 2 3 4 5; do
    echo "{\"id\":\"buy-$p\",\"player_id\":$p,\"type\":\"purchase\",\"ts\":$((1763800000000 + p * 10 + 5)),\"data\":{}}"
done >> "$work/events.ndjson"
echo '{"previous":"report"}' > "$work/report.json"
"$bin" --source ndjson --input "$work/events.ndjson" --shards 2 --scripts "$work/scripts" --output "$work/out.ndjson" \
    --report "$work/report.json" 2> "$work/err.txt" || { cat "$work/err.txt"; fail "exit $?"; }
sent=$(grep -c '"campaign_id":33' "$work/out.ndjson" || true)
[ "$sent" -eq 5 ] || fail "expected 5 triggers of campaign 33 (one per player), got $sent"
variants=$(grep -c '"campaign_id":40' "$work/out.ndjson" || true)
python3 - "$work/report.json" "$sent" "$variants" <<'PY' || fail "report: $(cat "$work/report.json")"
import json, sys
report = json.load(open(sys.argv[1]))
sent = int(sys.argv[2])
ids = [c["id"] for c in report["campaigns"]]
assert ids == ["33", "quiet", "40"], ids
c = report["campaigns"][0]
assert c["triggers"] == sent, c
assert c["players"] == sent, c
assert c["suppressed"]["cap"] == 5, c
assert [d["day"] for d in c["days"]] == ["2025-11-22"], c["days"]
assert report["campaigns"][1]["triggers"] == 0 and report["campaigns"][1]["days"] == []
assert "arms" not in c and "uplift" not in c
# The experiment: 5 players, each exposed once, in control or a variant, each converting.
x = report["campaigns"][2]
assert list(x["arms"]) == ["control", "a", "b"], x["arms"]
assert sum(a["exposures"] for a in x["arms"].values()) == 5, x["arms"]
assert sum(a["conversions"] for a in x["arms"].values()) == 5, x["arms"]
assert x["triggers"] == int(sys.argv[3]) == x["arms"]["a"]["exposures"] + x["arms"]["b"]["exposures"], x
assert x["shadow"] == x["arms"]["control"]["exposures"], x
assert [u["variant"] for u in x["uplift"]] == ["a", "b"], x["uplift"]
for u, arm in zip(x["uplift"], ["a", "b"]):
    if x["arms"][arm]["exposures"] and x["arms"]["control"]["exposures"]:
        assert u["diff"] == 0.0 and u["ci95"] == [0.0, 0.0], u
    else:
        assert u["rate"] is None and u["ci95"] is None, u
PY
ls "$work" | grep -q 'report.json.tmp' && fail "the temporary file stayed: $(ls "$work")"
echo "PASS: --report writes the campaign report when the run ends"

# A report that cannot be written fails the run (exit 1) and says why.
status=0
"$bin" --source ndjson --input "$work/events.ndjson" --shards 1 --scripts "$work/scripts" --output "$work/out2.ndjson" \
    --report "$work/no-such-dir/report.json" 2> "$work/err2.txt" || status=$?
[ "$status" -eq 1 ] || { cat "$work/err2.txt"; fail "expected exit 1 for an unwritable report, got $status"; }
grep -q -- "--report $work/no-such-dir/report.json" "$work/err2.txt" || { cat "$work/err2.txt"; fail "no message naming the report"; }
echo "PASS: an unwritable --report fails the run with a message"
