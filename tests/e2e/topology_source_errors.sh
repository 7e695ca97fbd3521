#!/usr/bin/env bash
# A source that fails makes rtcrm-topology exit non-zero with a message naming the input:
# a directory without archive day files (refused at start), a missing file, and a file whose read fails mid-run
# (/proc/self/mem opens, and its first read fails with EIO), and a closed standard input.
source "$(dirname "$0")/lib.sh"
bin=$1

run() {  # run ARGS...: exit status in $status, standard error in $work/err.txt
    status=0
    "$bin" --source ndjson --shards 1 --output /dev/null "$@" 2> "$work/err.txt" > /dev/null || status=$?
}

mkdir "$work/a-directory"
run --input "$work/a-directory"
[ "$status" -ne 0 ] || { cat "$work/err.txt"; fail "a directory as --input exits 0"; }
grep -q "$work/a-directory is a directory" "$work/err.txt" || { cat "$work/err.txt"; fail "the directory is not named"; }

run --input "$work/missing.ndjson"
[ "$status" -ne 0 ] || { cat "$work/err.txt"; fail "a missing --input exits 0"; }
grep -q "cannot open $work/missing.ndjson" "$work/err.txt" || { cat "$work/err.txt"; fail "the missing file is not named"; }

run --input /proc/self/mem
[ "$status" -eq 1 ] || { cat "$work/err.txt"; fail "a read that fails exits $status, not 1"; }
grep -q "source ndjson failed after 0 records: ndjson_source: read /proc/self/mem: Input/output error" "$work/err.txt" \
    || { cat "$work/err.txt"; fail "the failed read is not reported"; }
status=0
"$bin" --source ndjson --shards 1 --output /dev/null --input - <&- 2> "$work/err.txt" > /dev/null || status=$?
[ "$status" -ne 0 ] || { cat "$work/err.txt"; fail "a closed standard input exits 0"; }
grep -q "ndjson_source: .*standard input" "$work/err.txt" || { cat "$work/err.txt"; fail "the closed input is not named"; }
echo "PASS: failing sources exit non-zero with the reason"
