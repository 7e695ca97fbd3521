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

# Scale-out: rtcrm-topology instances in one consumer group sharing the CQL test peer as
# their profile store. The rebalance test moves partitions A -> B -> A; the chaos test kills
# instances with SIGKILL at random (seeded) moments (label chaos; about 3 minutes on 2 cores).
if(TARGET rtcrm_topology AND TARGET rtcrm_kafka_dev AND TARGET rtcrm_gen AND TARGET rtcrm_profiles
   AND TARGET rtcrm-cql-peer)
  set(scale_out_env "TOPOLOGY=$<TARGET_FILE:rtcrm_topology>;KAFKA_DEV=$<TARGET_FILE:rtcrm_kafka_dev>"
      "GEN=$<TARGET_FILE:rtcrm_gen>;CQL_PEER=$<TARGET_FILE:rtcrm-cql-peer>;PROFILES=$<TARGET_FILE:rtcrm_profiles>")
  add_test(NAME e2e_kafka_scale_out_rebalance
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/kafka_scale_out_rebalance.sh WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_kafka_scale_out_rebalance PROPERTIES LABELS integration TIMEOUT 300
                       ENVIRONMENT "${scale_out_env}")
  add_test(NAME e2e_kafka_scale_out_chaos
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/kafka_scale_out_chaos.sh WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_kafka_scale_out_chaos PROPERTIES LABELS chaos TIMEOUT 420 ENVIRONMENT "${scale_out_env}")
endif()
