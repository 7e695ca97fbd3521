# Shared build helpers.

# Warnings for rtcrm's own targets (not for consumers).
function(rtcrm_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Woverloaded-virtual
                                           # designated initialisers of option structs are the house style
                                           -Wno-missing-field-initializers)
endfunction()

# rtcrm_add_test(NAME name SOURCES a.cpp ... [LIBS ...] [LABEL unit|runtime])
# `runtime` marks the tests of the threaded runtime (also run under TSan).
# One GoogleTest executable per unit, registered with ctest under its labels.
function(rtcrm_add_test)
  cmake_parse_arguments(T "" "NAME;LABEL" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE rtcrm::core GTest::gtest_main fmt::fmt ${T_LIBS})
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  rtcrm_warnings(${T_NAME})
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  # One label per test: gtest_discover_tests splits list values given in PROPERTIES.
  gtest_discover_tests(${T_NAME} PROPERTIES LABELS ${T_LABEL} DISCOVERY_TIMEOUT 60
                       WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()
