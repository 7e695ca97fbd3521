# The CQL test peer: a CQL v4 server with an in-memory table engine, for the tests and the
# Cassandra store benchmark (included by the top-level CMakeLists.txt before both).
add_library(rtcrm_cql_peer STATIC
  ${PROJECT_SOURCE_DIR}/tests/support/cql_engine_lexer.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/cql_engine_parser.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/cql_engine_schema.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/cql_engine_statements.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/cql_engine_tables.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/cql_engine_values.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/cql_peer.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/cql_server_codec.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/cql_table_engine.cpp)
target_include_directories(rtcrm_cql_peer PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(rtcrm_cql_peer PUBLIC rtcrm::cql rtcrm::core PRIVATE Boost::headers fmt::fmt)
rtcrm_warnings(rtcrm_cql_peer)

add_executable(rtcrm-cql-peer ${PROJECT_SOURCE_DIR}/tests/support/cql_peer_main.cpp)
target_link_libraries(rtcrm-cql-peer PRIVATE rtcrm_cql_peer fmt::fmt)
rtcrm_warnings(rtcrm-cql-peer)

