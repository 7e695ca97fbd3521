# The fuzz targets: tests/fuzz/<name>_fuzz.cpp each defines LLVMFuzzerTestOneInput, with
# its seed inputs in corpus/<name>/ and the inputs that once failed in regressions/<name>/.
# Included by tests/fuzz/CMakeLists.txt (the libFuzzer executables, clang) and by
# tests/fuzz/replay.cmake (every corpus and regression input replayed in the ordinary test
# suite). Sets RTCRM_FUZZ_TARGETS, and RTCRM_FUZZ_LIBS_<name>: what <name> links besides
# rtcrm::core. A target whose libraries are not built is left out.
set(RTCRM_FUZZ_TARGETS "")
macro(rtcrm_fuzz_target name)
  set(rtcrm_fuzz_available TRUE)
  foreach(lib IN ITEMS ${ARGN})
    if(NOT TARGET ${lib})
      set(rtcrm_fuzz_available FALSE)
    endif()
  endforeach()
  if(rtcrm_fuzz_available)
    list(APPEND RTCRM_FUZZ_TARGETS ${name})
    set(RTCRM_FUZZ_LIBS_${name} ${ARGN})
  endif()
endmacro()

rtcrm_fuzz_target(ndjson)                                        # NDJSON line cutting, ndjson_source
rtcrm_fuzz_target(key_scan)                                      # scan_key against parse_event
rtcrm_fuzz_target(event_lua rtcrm::lua PkgConfig::LUA)           # parse_event and the Lua event view
rtcrm_fuzz_target(validation)                                    # validation_bolt: schemas and events
rtcrm_fuzz_target(profile_codec)                                 # decode_profile, then the profile's API
rtcrm_fuzz_target(cql rtcrm::cql)                                # CQL frame header, responses, values
rtcrm_fuzz_target(duration)                                      # parse_duration
rtcrm_fuzz_target(kafka_start rtcrm::kafka)                      # parse_kafka_start (ms, ISO 8601)
rtcrm_fuzz_target(topology_config rtcrm::config)                 # parse_topology_config, validate
rtcrm_fuzz_target(gateway_body rtcrm::http)                      # POST /events body to records
