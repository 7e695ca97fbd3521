# Installs an rtcrm build into a scratch prefix, then configures, builds and runs the
# consumer project in this directory against that prefix. Driven by the package_consumer
# test (package.cmake); every path comes in absolute, so ctest's working directory does
# not matter. Usage:
#   cmake -DRTCRM_BUILD_DIR=<build> -DWORK_DIR=<scratch> [-DCONFIG=<cfg>] [-DGENERATOR=<gen>]
#         [-DMAKE_PROGRAM=<ninja>] [-DCXX_COMPILER=<c++>] [-DSANITIZE=<list>] -P run.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var RTCRM_BUILD_DIR WORK_DIR)
  if(NOT IS_ABSOLUTE "${${var}}")
    message(FATAL_ERROR "run.cmake: ${var} must be an absolute path (got '${${var}}')")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG RelWithDebInfo)
endif()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/consumer")
# Start clean: stale headers or configs from an earlier run must not hide a missing file.
file(REMOVE_RECURSE "${prefix}" "${consumer_build}")

function(step what)
  message(STATUS "package_consumer: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package_consumer: ${what} failed (${rc})")
  endif()
endfunction()

step("install ${RTCRM_BUILD_DIR} to ${prefix}"
     "${CMAKE_COMMAND}" --install "${RTCRM_BUILD_DIR}" --prefix "${prefix}" --config "${CONFIG}")

set(configure_args
  -S "${CMAKE_CURRENT_LIST_DIR}" -B "${consumer_build}"
  "-DCMAKE_BUILD_TYPE=${CONFIG}"
  "-DCMAKE_PREFIX_PATH=${prefix}"
  "-DRTCRM_EXPECTED_PREFIX=${prefix}"
  # Only the scratch prefix may provide rtcrm: no package registries.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(GENERATOR)
  list(APPEND configure_args -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(SANITIZE)
  # An instrumented static library needs an instrumented link.
  list(APPEND configure_args "-DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE}"
                             "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE}")
endif()

step("configure the consumer" "${CMAKE_COMMAND}" ${configure_args})
step("build the consumer" "${CMAKE_COMMAND}" --build "${consumer_build}" --config "${CONFIG}")

# Single-config generators put the binary at the top, multi-config ones in <config>/.
set(exe "${consumer_build}/consumer")
if(NOT EXISTS "${exe}")
  set(exe "${consumer_build}/${CONFIG}/consumer")
endif()
step("run the consumer" "${exe}")
