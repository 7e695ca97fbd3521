# Embedding examples: the libuv game server (1M events, also under ASan and TSan) and the
# minimal in-process example.
# Labelled `runtime` so the sanitizer phases run it too: 1M events under ASan and TSan.
if(TARGET rtcrm_game_server_uv)
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  add_test(NAME e2e_game_server_uv
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/game_server_uv.py
                   $<TARGET_FILE:rtcrm_game_server_uv>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_game_server_uv PROPERTIES LABELS runtime TIMEOUT 1500)
endif()

# The twenty-line embedding example: Bob's third loss in a row fires the campaign, once.
if(TARGET rtcrm_embed_minimal)
  add_test(NAME e2e_embed_minimal COMMAND $<TARGET_FILE:rtcrm_embed_minimal>)
  set_tests_properties(e2e_embed_minimal PROPERTIES LABELS e2e TIMEOUT 60
                       PASS_REGULAR_EXPRESSION "^trigger: [^\n]*\"player_id\":4242,\"content\":{\"offer\":\"tanks-10\"}[^\n]*\n$")
endif()
