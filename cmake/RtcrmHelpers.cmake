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

# rtcrm_add_component(NAME name SOURCES a.cpp ... [DEPS component ...]
#                     [PUBLIC_LIBS target ...] [PRIVATE_LIBS target ...])
# One component: the folder src/<name>/ (public headers in include/rtcrm/<name>/) built
# as the static library rtcrm_<name>, alias rtcrm::<name>, exported as rtcrm::<name>.
# DEPS are other rtcrm components, linked publicly; each must be built already (the
# top-level CMakeLists.txt adds components in dependency order), so turning off a
# component that another needs fails here, naming both, instead of at link time.
# Every component but the core links the core; every one may use the private headers
# of the others (src/), which are never installed.
function(rtcrm_add_component)
  cmake_parse_arguments(C "" "NAME" "SOURCES;DEPS;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  set(deps ${C_DEPS})
  if(NOT C_NAME STREQUAL "core")
    list(PREPEND deps core)
  endif()
  foreach(dep IN LISTS deps)
    if(NOT TARGET rtcrm_${dep})
      string(TOUPPER "${C_NAME}" upper)
      string(TOUPPER "${dep}" dep_upper)
      message(FATAL_ERROR "rtcrm: the component ${C_NAME} needs the component ${dep}: "
                          "set RTCRM_WITH_${dep_upper}=ON or RTCRM_WITH_${upper}=OFF")
    endif()
  endforeach()
  set(target rtcrm_${C_NAME})
  add_library(${target} ${C_SOURCES})
  add_library(rtcrm::${C_NAME} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${C_NAME} OUTPUT_NAME ${target})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  list(TRANSFORM deps PREPEND rtcrm_)
  target_link_libraries(${target} PUBLIC ${deps} ${C_PUBLIC_LIBS} PRIVATE fmt::fmt ${C_PRIVATE_LIBS})
  target_compile_features(${target} PUBLIC cxx_std_20)
  rtcrm_warnings(${target})
  set_property(GLOBAL APPEND PROPERTY RTCRM_BUILT_COMPONENTS ${C_NAME})
endfunction()
