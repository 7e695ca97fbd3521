#!/usr/bin/env bash
# A script that does not load stops rtcrm-topology at start with file:line and exit 1; a
# handler that keeps failing is disabled, which the library logs unless --log-level hides it.
source "$(dirname "$0")/lib.sh"
bin=$1
mkdir "$work/scripts"
printf 'crm.updater{ id = "x", on = "login",\n  fn = function(e, p) p:incr( end }\n' > "$work/scripts/broken.lua"
if "$bin" --source generator --events 10 --scripts "$work/scripts" 2> "$work/err.txt"; then
    fail "a broken script was accepted"
fi
cat "$work/err.txt"
grep -q 'broken.lua:2:' "$work/err.txt" || fail "the error does not name broken.lua:2"
# Scripts that used to hang or crash the process at start: a loop in xpcall's message
# handler, a finalizer, a list of event types with a hole. Each is refused with its line.
for case in 'xpcall(function() while true do end end,\n  function() while true do end end)\n|instruction budget exceeded' \
            'local x = 1\nsetmetatable({}, {__gc = function() while true do end end})\n|__gc' \
            'local x = 1\ncrm.updater{ id = "h", on = {"login", nil, true}, fn = function() end }\n|`on` must be'; do
    rm -f "$work/scripts/"*.lua
    printf "${case%%|*}" > "$work/scripts/hostile.lua"
    status=0
    timeout -k 5 30 "$bin" --source generator --events 10 --scripts "$work/scripts" 2> "$work/err.txt" || status=$?
    [ "$status" -eq 1 ] || { cat "$work/err.txt"; fail "exit status $status for ${case%%|*}"; }
    cat "$work/err.txt"
    grep -q "hostile.lua:2: .*${case##*|}" "$work/err.txt" || fail "the error does not name hostile.lua:2 and '${case##*|}'"
done

# A handler that fails on every event: the circuit breaker's warning reaches standard error
# through the default log sink, and --log-level error leaves it out.
rm -f "$work/scripts/"*.lua
printf 'crm.updater{ id = "bad", on = "*", fn = function(e, p) error("no") end }\n' > "$work/scripts/bad.lua"
"$bin" --source generator --events 100 --scripts "$work/scripts" --output "$work/out.ndjson" 2> "$work/err.txt" ||
    { cat "$work/err.txt"; fail "a failing handler stopped the run"; }
grep -q "^rtcrm: lua: updater 'bad' (bad.lua:1) disabled until the next reload: " "$work/err.txt" ||
    { cat "$work/err.txt"; fail "the disabled handler was not logged"; }
"$bin" --source generator --events 100 --scripts "$work/scripts" --output "$work/out.ndjson" --log-level error \
    2> "$work/err.txt" || { cat "$work/err.txt"; fail "--log-level error: exit status $?"; }
! grep -q '^rtcrm: ' "$work/err.txt" || { cat "$work/err.txt"; fail "--log-level error printed a warning"; }
grep -Eq "updater 'bad' \(bad.lua:1\): [0-9]+ errors, disabled" "$work/err.txt" || { cat "$work/err.txt"; fail "no summary of the handler"; }
status=0
"$bin" --source generator --events 10 --log-level verbose 2> "$work/err.txt" || status=$?
[ "$status" -eq 2 ] && grep -q -- "--log-level 'verbose': use debug, info, warning, error or off" "$work/err.txt" ||
    { cat "$work/err.txt"; fail "--log-level verbose: status $status"; }
echo "PASS: broken scripts are refused with file:line; a disabled handler is logged at warning"
