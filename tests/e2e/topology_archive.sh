#!/usr/bin/env bash
# The event archive through rtcrm-topology: the day files decompress with the zstd tool to
# exactly the events that passed parsing and validation (each in the file of its event
# day), and the archive directory reads back as an NDJSON source, in day order, within
# --from/--to.
source "$(dirname "$0")/lib.sh"
topology=$1
command -v zstd > /dev/null || { echo "SKIP: the zstd command-line tool is not installed (scripts/setup-debian.sh)"; exit 77; }

mkdir "$work/schemas"
echo '{"type":"object","required":["data"]}' > "$work/schemas/fight.json"
nov1=1793491200000
day=86400000
{
    for d in 0 1 2; do
        for i in 1 2 3; do
            echo "{\"id\":\"d$d-$i\",\"player_id\":$i,\"type\":\"fight\",\"ts\":$((nov1 + d * day + i * 3600000)),\"data\":{\"result\":\"win\"}}"
        done
    done
    echo 'not json'
    echo "{\"id\":\"no-data\",\"player_id\":1,\"type\":\"fight\",\"ts\":$nov1}"
    echo "{\"id\":\"no-type\",\"player_id\":1,\"ts\":$nov1}"
} > "$work/events.ndjson"

"$topology" --source ndjson --input "$work/events.ndjson" --schemas "$work/schemas" --shards 2 \
    --output /dev/null --dead-letter "$work/dead.ndjson" --archive "$work/archive" 2> "$work/run.err" \
    || { cat "$work/run.err"; fail "the archiving run failed"; }
[ "$(wc -l < "$work/dead.ndjson")" -eq 3 ] || fail "expected 3 dead letters, got $(wc -l < "$work/dead.ndjson")"
[ "$(ls "$work/archive" | tr '\n' ' ')" = "2026-11-01.ndjson.zst 2026-11-02.ndjson.zst 2026-11-03.ndjson.zst " ] \
    || fail "day files: $(ls "$work/archive")"
for d in 0 1 2; do
    file="$work/archive/2026-11-0$((d + 1)).ndjson.zst"
    zstd -t -q "$file" || fail "zstd -t refuses $file"
    diff <(grep "\"id\":\"d$d-" "$work/events.ndjson" | sort) <(zstd -dcq "$file" | sort) \
        || fail "$file does not hold exactly the accepted events of its day"
done

# Read back: the whole directory, then one day of it.
"$topology" --source ndjson --input "$work/archive" --shards 1 --output /dev/null 2> "$work/all.err" \
    || { cat "$work/all.err"; fail "reading the archive failed"; }
[ "$(summary_field processed "$work/all.err")" -eq 9 ] || fail "read back: $(grep 'in=' "$work/all.err")"
"$topology" --source ndjson --input "$work/archive" --from 2026-11-02 --to 2026-11-02T02:30:00Z --shards 1 \
    --output /dev/null 2> "$work/day.err" || { cat "$work/day.err"; fail "reading within --from/--to failed"; }
[ "$(summary_field processed "$work/day.err")" -eq 2 ] || fail "--from/--to: $(grep 'in=' "$work/day.err")"
grep -q '2 events read from 1 files, 1 outside the time bounds skipped' "$work/day.err" \
    || fail "no count of the skipped events: $(cat "$work/day.err")"
"$topology" --source ndjson --input "$work/archive" --from 2026-11-03 --to 2026-11-02 --output /dev/null \
    2> "$work/bad.err" && fail "--to before --from was accepted"
grep -q 'is not later than' "$work/bad.err" || fail "unclear message: $(cat "$work/bad.err")"
echo "PASS: the archive holds exactly the accepted events by day and reads back within bounds"
