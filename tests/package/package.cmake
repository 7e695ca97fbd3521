# package_consumer (label integration): installs this build to a scratch prefix and
# builds and runs tests/package/ against it with find_package(rtcrm), proving that the
# installed headers, targets and package config work on their own.
# package_consumer_core: the same against a core-only build of this source tree, made
# with every other component off and their packages hidden from CMake.
# Included at the end of tests/CMakeLists.txt.
if(RTCRM_INSTALL)
  add_test(NAME package_consumer
           COMMAND "${CMAKE_COMMAND}"
                   "-DRTCRM_BUILD_DIR=${PROJECT_BINARY_DIR}"
                   "-DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/package_consumer"
                   "-DCONFIG=$<CONFIG>"
                   "-DGENERATOR=${CMAKE_GENERATOR}"
                   "-DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
                   "-DCXX_COMPILER=${CMAKE_CXX_COMPILER}"
                   "-DSANITIZE=${RTCRM_SANITIZE}"
                   -P "${CMAKE_CURRENT_LIST_DIR}/run.cmake")
  set_tests_properties(package_consumer PROPERTIES LABELS integration TIMEOUT 300)
  add_test(NAME package_consumer_core
           COMMAND "${CMAKE_COMMAND}"
                   "-DRTCRM_BUILD_DIR=${CMAKE_CURRENT_BINARY_DIR}/package_consumer_core/rtcrm"
                   "-DCORE_ONLY_SOURCE=${PROJECT_SOURCE_DIR}"
                   "-DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/package_consumer_core"
                   "-DCONFIG=$<CONFIG>"
                   "-DGENERATOR=${CMAKE_GENERATOR}"
                   "-DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
                   "-DCXX_COMPILER=${CMAKE_CXX_COMPILER}"
                   "-DLAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}"
                   "-DSANITIZE=${RTCRM_SANITIZE}"
                   -P "${CMAKE_CURRENT_LIST_DIR}/run.cmake")
  # Compiles the core once more (about a minute of CPU on two cores).
  set_tests_properties(package_consumer_core PROPERTIES LABELS integration TIMEOUT 600 RUN_SERIAL ON)
endif()
