# Smoke tests of the custom-backend examples (examples/custom_store, examples/custom_sink).
# Their checks are small bash scripts, written into the build directory from here; they
# run from the repository root and use tests/e2e/lib.sh (fail, $work, summary_field).

# rtcrm-custom-store BINARY JOURNAL first|second: the Bob demo over the journal store.
# The first run deletes the journal and starts empty: 100 generated players and Bob make 101
# profiles, and Bob gets exactly one offer. The second run replays the first one's journal:
# it opens with those 101 profiles, Bob's counters go on from there, and his frequency cap
# (the first run's trigger, same event times) keeps him from a second offer.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/custom_store_check.sh [=[
source tests/e2e/lib.sh
bin=$1
journal=$2
run=$3
if [ "$run" = first ]; then
    rm -f "$journal"
fi
"$bin" "$journal" > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/err.txt"; fail "rtcrm-custom-store exited with $?"; }
cat "$work/err.txt"
grep -v '^{' "$work/out.txt"
bob=$(grep -c '^{"campaign_id":[^,]*,"player_id":4242,' "$work/out.txt" || true)
triggers=$(grep -c '^{"campaign_id"' "$work/out.txt" || true)
[ "$(summary_field processed "$work/err.txt")" -eq 20000 ] || fail "not every event was processed"
[ "$(summary_field store_errors "$work/err.txt")" -eq 0 ] || fail "the store failed"
[ "$triggers" -eq "$(summary_field outputs "$work/err.txt")" ] || fail "$triggers trigger lines, but the runtime counted other outputs"
grep -qx 'store: 101 profiles' "$work/out.txt" || fail "the store does not hold 101 profiles (100 players and Bob)"
if [ "$run" = first ]; then
    grep -qx "journal $journal: 0 profiles at open" "$work/out.txt" || fail "the first run did not start from an empty journal"
    [ "$bob" -eq 1 ] || fail "expected exactly one trigger for Bob, got $bob"
    grep -q '^bob: {"player_id":4242,"attributes":{"logins":1,"level":12,"loss_streak":3},"counters":{"fights_lost":{"total":3,' \
        "$work/out.txt" || fail "Bob's stored attributes or counters are wrong"
    grep -q '^bob: .*"triggers":{"3":{"total":1,' "$work/out.txt" || fail "Bob's stored profile does not hold his one offer"
else
    grep -qx "journal $journal: 101 profiles at open" "$work/out.txt" || fail "the second run does not see the first run's profiles"
    [ "$bob" -eq 0 ] || fail "Bob's frequency cap was forgotten across the restart: $bob more triggers"
    grep -q '^bob: {"player_id":4242,"attributes":{"logins":2,"level":12,"loss_streak":6},"counters":{"fights_lost":{"total":6,' \
        "$work/out.txt" || fail "Bob's counters did not go on from the first run's"
    grep -q '^bob: .*"triggers":{"3":{"total":1,' "$work/out.txt" || fail "Bob's offer history was lost"
fi
echo "PASS: $run run over $journal"
]=])

# rtcrm-custom-sink BINARY N: the Bob demo into the pretend-remote sink, every Nth delivery
# failing (0: none). Checks the sink's counts against its delivery file and the runtime's
# stats: every output acked after delivery or nacked, and nacks visible to the runtime.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/custom_sink_check.sh [=[
source tests/e2e/lib.sh
bin=$1
every=$2
"$bin" --fail-every "$every" --out "$work/deliveries.ndjson" 2> "$work/err.txt" \
    || { cat "$work/err.txt"; fail "rtcrm-custom-sink exited with $?"; }
cat "$work/err.txt"
line=$(grep '^deliveries: ' "$work/err.txt") || fail "no delivery report"
read -r ok acked failed nacked consumers <<< "$(echo "$line" | tr -c '0-9\n' ' ')"
outputs=$(summary_field outputs "$work/err.txt")
runtime_nacked=$(summary_field nacked "$work/err.txt")
in_file=$(awk -F'"count":' 'NF > 1 {n += $2 + 0} END {print n + 0}' "$work/deliveries.ndjson")
bob=$({ grep -o '"player_id":4242,' "$work/deliveries.ndjson" || true; } | wc -l)
[ "$(summary_field processed "$work/err.txt")" -eq 20000 ] || fail "not every event was processed"
[ "$outputs" -gt 0 ] || fail "no triggers at all"
[ "$(wc -l < "$work/deliveries.ndjson")" -eq "$ok" ] || fail "the delivery file does not have one line per delivered batch"
[ "$in_file" -eq "$acked" ] || fail "$acked outputs acked, but $in_file in the delivery file"
[ $((acked + nacked)) -eq "$outputs" ] || fail "acked $acked + nacked $nacked is not the runtime's $outputs outputs"
[ "$consumers" -ge 1 ] || fail "consume() was never called"
if [ "$every" -eq 0 ]; then
    [ "$nacked" -eq 0 ] && [ "$runtime_nacked" -eq 0 ] || fail "nacks without failures"
    [ "$bob" -eq 1 ] || fail "expected exactly one delivered trigger for Bob, got $bob"
else
    [ "$failed" -ge 1 ] && [ "$nacked" -ge 1 ] || fail "failures were asked for, but the sink reports none"
    [ "$(grep -c '^delivery [0-9]* failed: ' "$work/err.txt")" -eq "$failed" ] || fail "not every failed delivery was reported"
    [ "$runtime_nacked" -ge 1 ] && [ "$runtime_nacked" -le "$nacked" ] \
        || fail "the runtime counted $runtime_nacked nacked events for the sink's $nacked nacked outputs"
fi
echo "PASS: $ok deliveries acked, $failed failed and nacked"
]=])

if(TARGET rtcrm_custom_store)
  set(rtcrm_custom_journal ${CMAKE_CURRENT_BINARY_DIR}/custom-store.journal)
  add_test(NAME e2e_custom_store_first_run
           COMMAND bash ${CMAKE_CURRENT_BINARY_DIR}/custom_store_check.sh $<TARGET_FILE:rtcrm_custom_store> ${rtcrm_custom_journal} first
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  add_test(NAME e2e_custom_store_second_run
           COMMAND bash ${CMAKE_CURRENT_BINARY_DIR}/custom_store_check.sh $<TARGET_FILE:rtcrm_custom_store> ${rtcrm_custom_journal} second
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  # The second run needs the first one's journal: ctest runs the first before it, also when
  # only the second is selected.
  set_tests_properties(e2e_custom_store_first_run PROPERTIES LABELS e2e TIMEOUT 60 FIXTURES_SETUP custom_store_journal)
  set_tests_properties(e2e_custom_store_second_run PROPERTIES LABELS e2e TIMEOUT 60 FIXTURES_REQUIRED custom_store_journal)
endif()

if(TARGET rtcrm_custom_sink)
  add_test(NAME e2e_custom_sink
           COMMAND bash ${CMAKE_CURRENT_BINARY_DIR}/custom_sink_check.sh $<TARGET_FILE:rtcrm_custom_sink> 0
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  add_test(NAME e2e_custom_sink_failures
           COMMAND bash ${CMAKE_CURRENT_BINARY_DIR}/custom_sink_check.sh $<TARGET_FILE:rtcrm_custom_sink> 3
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_custom_sink e2e_custom_sink_failures PROPERTIES LABELS e2e TIMEOUT 60)
endif()
