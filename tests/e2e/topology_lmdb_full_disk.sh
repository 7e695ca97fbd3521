#!/usr/bin/env bash
# An LMDB store on a full filesystem (a 512 KiB tmpfs; needs root, skipped otherwise): the
# failing writes are logged with their real cause (no space left on device), /readyz
# answers 503 naming it, /metrics counts them, SIGTERM ends the run within the drain
# timeout, and rtcrm-topology exits 1, its summary counting the events not stored.
source "$(dirname "$0")/lib.sh"
bin=$1
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: mounting a tiny tmpfs (a filesystem to fill) needs root"
    exit 77
fi
mnt="$work/full"
mkdir "$mnt"
if ! mount -t tmpfs -o size=512k tmpfs "$mnt" 2> "$work/mount.err"; then
    echo "SKIP: cannot mount a tmpfs here: $(cat "$work/mount.err")"
    exit 77
fi
pid=
cleanup() {
    [ -z "$pid" ] || kill -KILL "$pid" 2> /dev/null || true
    exec 3>&- || true
    umount "$mnt" 2> /dev/null || true
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# 20000 players: far more profile bytes than 512 KiB hold.
awk 'BEGIN { for (i = 0; i < 20000; i++)
    printf "{\"id\":\"e-%d\",\"player_id\":%d,\"type\":\"fight\",\"ts\":%d,\"data\":{\"result\":\"loss\"}}\n", i, i + 1, 1763800000000 + i }' \
    > "$work/events.ndjson"
# The events come through a FIFO whose writer stays open: the run goes on until SIGTERM.
mkfifo "$work/in.fifo"
exec 3<> "$work/in.fifo"
"$bin" --source ndjson --input - --shards 2 --store lmdb --store-path "$mnt/store" --drain-timeout 2s \
    --admin 127.0.0.1:0 --output /dev/null < "$work/in.fifo" 2> "$work/err.txt" &
pid=$!
cat "$work/events.ndjson" >&3 &
for _ in $(seq 600); do
    grep -q 'write failed' "$work/err.txt" 2> /dev/null && break
    kill -0 "$pid" 2> /dev/null || { cat "$work/err.txt"; fail "rtcrm-topology ended early"; }
    sleep 0.1
done
grep -q 'write failed' "$work/err.txt" || { cat "$work/err.txt"; fail "the failing store is not logged"; }
grep -q 'rtcrm: store: store lmdb: write failed: lmdb_store .*: write: no space left on device: the filesystem of' "$work/err.txt" \
    || { cat "$work/err.txt"; fail "the log does not name the full filesystem"; }

admin=$(sed -n 's/.*admin API on \(.*\)$/http:\/\/\1/p' "$work/err.txt")
code=$(curl -s -o "$work/ready.json" -w '%{http_code}' "$admin/readyz")
[ "$code" = 503 ] || fail "/readyz answers $code while the store fails: $(cat "$work/ready.json")"
grep -q 'no space left on device' "$work/ready.json" || fail "/readyz does not say why: $(cat "$work/ready.json")"
curl -s "$admin/metrics" > "$work/metrics.txt"
errors=$(sed -n 's/^rtcrm_store_errors_total \([0-9]*\)$/\1/p' "$work/metrics.txt")
[ "${errors:-0}" -gt 0 ] || fail "/metrics counts no store error"

kill -TERM "$pid"
status=
for _ in $(seq 300); do  # liveness only: the drain timeout is 2 s
    if ! kill -0 "$pid" 2> /dev/null; then
        status=0
        wait "$pid" || status=$?
        break
    fi
    sleep 0.1
done
[ -n "$status" ] || { cat "$work/err.txt"; fail "still running 30 s after SIGTERM"; }
pid=
[ "$status" -eq 1 ] || { cat "$work/err.txt"; fail "exit status $status, not 1"; }
unstored=$(summary_field unstored "$work/err.txt")
[ "${unstored:-0}" -gt 0 ] || { cat "$work/err.txt"; fail "the summary counts no unstored event"; }
grep -q "events processed and not stored" "$work/err.txt" || { cat "$work/err.txt"; fail "the stop report is silent"; }
logged=$(grep -c 'write failed' "$work/err.txt")
store_errors=$(summary_field store_errors "$work/err.txt")
[ "$logged" -lt "$store_errors" ] || { cat "$work/err.txt"; fail "every failed attempt is logged ($logged lines)"; }
echo "PASS: a full disk under LMDB is reported, fails readiness, and ends the run with status 1"
