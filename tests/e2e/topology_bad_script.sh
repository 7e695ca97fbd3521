#!/usr/bin/env bash
# A script that does not load stops rtcrm-topology at start with file:line and exit 1.
source "$(dirname "$0")/lib.sh"
bin=$1
mkdir "$work/scripts"
printf 'crm.updater{ id = "x", on = "login",\n  fn = function(e, p) p:incr( end }\n' > "$work/scripts/broken.lua"
if "$bin" --source generator --events 10 --scripts "$work/scripts" 2> "$work/err.txt"; then
    fail "a broken script was accepted"
fi
cat "$work/err.txt"
grep -q 'broken.lua:2:' "$work/err.txt" || fail "the error does not name broken.lua:2"
echo "PASS: broken scripts are refused with file:line"
