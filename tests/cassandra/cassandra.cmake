# Tests of rtcrm::cassandra on a machine without Cassandra (Debian has no Cassandra, no
# ScyllaDB and no C++ driver):
# frames checked byte for byte against Debian's python3-cassandra (the DataStax Python
# driver), a CQL test peer that the same driver connects to, and the session and
# cassandra_store against that peer, faults included.

# Debian's Python packages are seen by /usr/bin/python3, not by a python3 first on PATH.
set(RTCRM_DEBIAN_PYTHON /usr/bin/python3)

# The CQL test peer (rtcrm_cql_peer, rtcrm-cql-peer) is defined in tests/support/cql_peer.cmake.

# The codec's two halves: the client's (rtcrm::cql) and the test peer's (its server codec).
rtcrm_add_test(NAME cql_protocol_test
               SOURCES cassandra/cql_protocol_test.cpp cassandra/cql_values_test.cpp cassandra/cql_frames_driver.cpp
                       cassandra/cql_samples.cpp
               LIBS rtcrm_cql_peer)
target_compile_definitions(cql_protocol_test PRIVATE
  RTCRM_SOURCE_DIR="${PROJECT_SOURCE_DIR}" RTCRM_DEBIAN_PYTHON="${RTCRM_DEBIAN_PYTHON}")
rtcrm_add_test(NAME cql_peer_test SOURCES cassandra/cql_peer_test.cpp LIBS rtcrm_cql_peer)
rtcrm_add_test(NAME cql_session_test
               SOURCES cassandra/cql_session_test.cpp cassandra/cql_session_faults_test.cpp
               LIBS rtcrm_cql_peer LABEL runtime)
rtcrm_add_test(NAME cassandra_store_test SOURCES cassandra/cassandra_store_test.cpp LIBS rtcrm::cassandra rtcrm_cql_peer LABEL runtime)

# The DataStax Python driver (an outside client) against the test peer.
add_test(NAME cql_peer_python_driver
         COMMAND ${RTCRM_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cassandra/cql_driver_test.py
                 $<TARGET_FILE:rtcrm-cql-peer>)
set_tests_properties(cql_peer_python_driver PROPERTIES LABELS integration TIMEOUT 300)

# The conformance suite against a real cluster: RTCRM_CASSANDRA_HOSTS=h1,h2[:port] ctest -L integration-cassandra
# (skipped, not passed, when the variable is not set).
add_test(NAME cassandra_cluster_conformance
         COMMAND profile_store_conformance_test --gtest_filter=cluster/*:cassandra_cluster.*)
set_tests_properties(cassandra_cluster_conformance PROPERTIES LABELS integration-cassandra TIMEOUT 600
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\] 1 test")
