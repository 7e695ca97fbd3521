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
LUA
for p in 1 2 3 4 5; do
    for i in 0 1; do
        echo "{\"id\":\"e-$p-$i\",\"player_id\":$p,\"type\":\"fight\",\"ts\":$((1763800000000 + p * 10 + i)),\"data\":{\"result\":\"loss\"}}"
    done
done > "$work/events.ndjson"
echo '{"previous":"report"}' > "$work/report.json"
"$bin" --source ndjson --input "$work/events.ndjson" --shards 2 --scripts "$work/scripts" --output "$work/out.ndjson" \
    --report "$work/report.json" 2> "$work/err.txt" || { cat "$work/err.txt"; fail "exit $?"; }
sent=$(wc -l < "$work/out.ndjson")
[ "$sent" -eq 5 ] || fail "expected 5 triggers (one per player), got $sent"
python3 - "$work/report.json" "$sent" <<'PY' || fail "report: $(cat "$work/report.json")"
import json, sys
report = json.load(open(sys.argv[1]))
sent = int(sys.argv[2])
ids = [c["id"] for c in report["campaigns"]]
assert ids == ["33", "quiet"], ids
c = report["campaigns"][0]
assert c["triggers"] == sent, c
assert c["players"] == sent, c
assert c["suppressed"]["cap"] == 5, c
assert [d["day"] for d in c["days"]] == ["2025-11-22"], c["days"]
assert report["campaigns"][1]["triggers"] == 0 and report["campaigns"][1]["days"] == []
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
