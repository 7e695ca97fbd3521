# Installs an rtcrm build into a scratch prefix, then configures, builds and runs the
# consumer project in this directory against that prefix. Driven by the package_consumer
# tests (package.cmake); every path comes in absolute, so ctest's working directory does
# not matter. Usage:
#   cmake -DRTCRM_BUILD_DIR=<build> -DWORK_DIR=<scratch> [-DCONFIG=<cfg>] [-DGENERATOR=<gen>]
#         [-DMAKE_PROGRAM=<ninja>] [-DCXX_COMPILER=<c++>] [-DSANITIZE=<list>]
#         [-DCORE_ONLY_SOURCE=<rtcrm source dir>] [-DLAUNCHER=<ccache>] -P run.cmake
# With CORE_ONLY_SOURCE, RTCRM_BUILD_DIR is first configured from that source with every
# optional component off and every package but fmt and RapidJSON hidden from CMake, and
# built: the core needs nothing else, and its install exports the core alone.
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

# The generator, make program and compiler this build was given, for every configure below.
# Appends -D<name>=<value> to the list `out` when `value` is not empty.
function(append_definition out name value)
  if(value)
    set(${out} ${${out}} "-D${name}=${value}" PARENT_SCOPE)
  endif()
endfunction()

set(toolchain_args "")
if(GENERATOR)
  list(APPEND toolchain_args -G "${GENERATOR}")
endif()
append_definition(toolchain_args CMAKE_MAKE_PROGRAM "${MAKE_PROGRAM}")
append_definition(toolchain_args CMAKE_CXX_COMPILER "${CXX_COMPILER}")

if(CORE_ONLY_SOURCE)
  set(core_args -S "${CORE_ONLY_SOURCE}" -B "${RTCRM_BUILD_DIR}" "-DCMAKE_BUILD_TYPE=${CONFIG}"
      -DRTCRM_BUILD_TESTS=OFF -DRTCRM_BUILD_APPS=OFF -DRTCRM_BUILD_EXAMPLES=OFF
      -DRTCRM_BUILD_BENCHMARKS=OFF -DRTCRM_BUILD_GAME_SERVER=OFF -DRTCRM_INSTALL=ON
      -DRTCRM_WITH_LUA=OFF -DRTCRM_WITH_LMDB=OFF -DRTCRM_WITH_KAFKA=OFF -DRTCRM_WITH_HTTP=OFF
      -DRTCRM_WITH_UV=OFF -DRTCRM_WITH_ASIO=OFF -DRTCRM_WITH_CQL=OFF -DRTCRM_WITH_CASSANDRA=OFF
      -DRTCRM_WITH_ARCHIVE=OFF -DRTCRM_WITH_CONFIG=OFF
      # What the core must not need: configuring fails if anything still looks for these.
      -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON
      -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON
      ${toolchain_args})
  append_definition(core_args CMAKE_CXX_COMPILER_LAUNCHER "${LAUNCHER}")
  append_definition(core_args RTCRM_SANITIZE "${SANITIZE}")
  step("configure a core-only rtcrm in ${RTCRM_BUILD_DIR}" "${CMAKE_COMMAND}" ${core_args})
  step("build the core-only rtcrm" "${CMAKE_COMMAND}" --build "${RTCRM_BUILD_DIR}" --config "${CONFIG}")
endif()

step("install ${RTCRM_BUILD_DIR} to ${prefix}"
     "${CMAKE_COMMAND}" --install "${RTCRM_BUILD_DIR}" --prefix "${prefix}" --config "${CONFIG}")

set(configure_args
  -S "${CMAKE_CURRENT_LIST_DIR}" -B "${consumer_build}"
  "-DCMAKE_BUILD_TYPE=${CONFIG}"
  "-DCMAKE_PREFIX_PATH=${prefix}"
  "-DRTCRM_EXPECTED_PREFIX=${prefix}"
  # Only the scratch prefix may provide rtcrm: no package registries.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
  ${toolchain_args})
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
