#!/usr/bin/env bash
# Events piped on standard input: three losses in a row trigger the offer.
source "$(dirname "$0")/lib.sh"
bin=$1
for i in 0 1 2; do
    echo "{\"id\":\"e-$i\",\"player_id\":\"alice\",\"type\":\"fight\",\"ts\":$((1763800000000 + i)),\"data\":{\"result\":\"loss\"}}"
done | "$bin" --source ndjson --input - --shards 1 --scripts lua/examples --output - 2> "$work/err.txt" > "$work/out.ndjson" \
    || { cat "$work/err.txt"; fail "exit $?"; }
[ "$(wc -l < "$work/out.ndjson")" -eq 1 ] || fail "expected one trigger, got: $(cat "$work/out.ndjson")"
grep -q '"player_id":"alice"' "$work/out.ndjson" || fail "trigger is not for alice: $(cat "$work/out.ndjson")"
grep -q '"event_id":"e-2"' "$work/out.ndjson" || fail "trigger does not name the causing event"
echo "PASS: stdin input"

# A live pipe: five lines written by a writer that stays open are processed at once (no
# waiting for a full batch or for the writer to close), and SIGTERM ends the run while
# the writer is idle.
mkfifo "$work/live.fifo"
exec 3<> "$work/live.fifo"
"$bin" --source ndjson --input - --shards 1 --scripts lua/examples --output "$work/live.ndjson" \
    < "$work/live.fifo" 2> "$work/live_err.txt" &
pid=$!
for i in 0 1 2 3 4; do
    echo "{\"id\":\"l-$i\",\"player_id\":\"bob\",\"type\":\"fight\",\"ts\":$((1763800000000 + i)),\"data\":{\"result\":\"loss\"}}" >&3
done
for _ in $(seq 300); do  # liveness only
    grep -q '"event_id":"l-2"' "$work/live.ndjson" 2> /dev/null && break
    sleep 0.1
done
grep -q '"event_id":"l-2"' "$work/live.ndjson" 2> /dev/null \
    || { kill -KILL "$pid"; cat "$work/live_err.txt"; fail "lines of an open pipe were held back"; }
kill -TERM "$pid"
status=
for _ in $(seq 100); do  # liveness only: 10 s
    if ! kill -0 "$pid" 2> /dev/null; then
        status=0
        wait "$pid" || status=$?
        break
    fi
    sleep 0.1
done
[ -n "$status" ] || { kill -KILL "$pid"; cat "$work/live_err.txt"; fail "SIGTERM did not end a run waiting for an idle writer"; }
exec 3>&-
[ "$status" -eq 0 ] || { cat "$work/live_err.txt"; fail "exit $status after SIGTERM"; }
[ "$(summary_field processed "$work/live_err.txt")" -eq 5 ] || { cat "$work/live_err.txt"; fail "not every line processed"; }
echo "PASS: a live pipe is read as it is written and stops on SIGTERM"
