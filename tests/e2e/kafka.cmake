# Kafka end-to-end tests: rtcrm-kafka-dev (librdkafka's mock cluster), rtcrm-gen,
# rtcrm-topology, and kcat as the outside client. Label: integration.
if(TARGET rtcrm_topology AND TARGET rtcrm_kafka_dev AND TARGET rtcrm_gen)
  foreach(script kafka_kcat_interop kafka_kill9_restart)
    add_test(NAME e2e_${script} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${script}.sh
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(e2e_${script} PROPERTIES LABELS integration TIMEOUT 300
      ENVIRONMENT "TOPOLOGY=$<TARGET_FILE:rtcrm_topology>;KAFKA_DEV=$<TARGET_FILE:rtcrm_kafka_dev>;GEN=$<TARGET_FILE:rtcrm_gen>")
  endforeach()
endif()
