# End-to-end tests: the real example binaries, driven by shell scripts.
if(TARGET rtcrm_topology)
  foreach(script topology_bob topology_ndjson_dead_letters topology_stdin topology_sigterm_drains
                 topology_bad_script http_admin http_webhook topology_configs topology_config_reference topology_scheduling
                 topology_stuck_shard topology_source_errors topology_lmdb_full_disk topology_archive
                 topology_report)
    add_test(NAME e2e_${script}
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${script}.sh $<TARGET_FILE:rtcrm_topology>
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(e2e_${script} PROPERTIES LABELS e2e TIMEOUT 120 SKIP_RETURN_CODE 77)
  endforeach()
endif()

if(TARGET rtcrm_topology AND TARGET rtcrm_profiles)
  add_test(NAME e2e_topology_crash_lmdb
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/topology_crash_lmdb.sh
                   $<TARGET_FILE:rtcrm_topology> $<TARGET_FILE:rtcrm_profiles>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_topology_crash_lmdb PROPERTIES LABELS e2e TIMEOUT 300)
  add_test(NAME e2e_topology_archive_crash
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/topology_archive_crash.sh $<TARGET_FILE:rtcrm_topology>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_topology_archive_crash PROPERTIES LABELS e2e TIMEOUT 300 SKIP_RETURN_CODE 77)
  add_test(NAME e2e_topology_crash_lmdb_timers
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/topology_crash_lmdb_timers.sh
                   $<TARGET_FILE:rtcrm_topology> $<TARGET_FILE:rtcrm_profiles>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_topology_crash_lmdb_timers PROPERTIES LABELS e2e TIMEOUT 300)
  add_test(NAME e2e_topology_crash_lmdb_experiments
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/topology_crash_lmdb_experiments.sh
                   $<TARGET_FILE:rtcrm_topology>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_topology_crash_lmdb_experiments PROPERTIES LABELS e2e TIMEOUT 300)
  add_test(NAME e2e_profiles_where
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/profiles_where.sh
                   $<TARGET_FILE:rtcrm_topology> $<TARGET_FILE:rtcrm_profiles>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_profiles_where PROPERTIES LABELS e2e TIMEOUT 120)
endif()

if(TARGET rtcrm_topology AND TARGET rtcrm_profiles AND TARGET rtcrm-cql-peer)
  add_test(NAME e2e_topology_cassandra
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/topology_cassandra.sh
                   $<TARGET_FILE:rtcrm_topology> $<TARGET_FILE:rtcrm-cql-peer> $<TARGET_FILE:rtcrm_profiles>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_topology_cassandra PROPERTIES LABELS e2e TIMEOUT 180)
endif()
