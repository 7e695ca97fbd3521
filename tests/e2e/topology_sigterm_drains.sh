#!/usr/bin/env bash
# SIGTERM on an endless run stops it cleanly: every event read is processed, exit 0.
source "$(dirname "$0")/lib.sh"
bin=$1
"$bin" --source generator --events 0 --rate 50000 --shards 2 --output /dev/null 2> "$work/err.txt" &
pid=$!
sleep 1.5
kill -TERM "$pid"
wait "$pid" || { cat "$work/err.txt"; fail "exit code $?"; }
cat "$work/err.txt"
in=$(summary_field in "$work/err.txt")
processed=$(summary_field processed "$work/err.txt")
[ "$in" -gt 1000 ] || fail "too few events read: $in"
[ "$in" -eq "$processed" ] || fail "in=$in but processed=$processed"
echo "PASS: SIGTERM drains"
