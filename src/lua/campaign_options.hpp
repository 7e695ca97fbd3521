// Internal: reading what the prelude registered (lua/prelude.lua) into specs: the plain
// tables of crm.updater, crm.campaign and crm.fatigue, read raw (a script's metatables
// never run here) and checked, every bad value a script_error "file:line: message" naming
// the option.
#pragma once

#include "vm.hpp"

#include <lua.hpp>

#include <optional>
#include <string>
#include <vector>

namespace rtcrm::detail::lua {

// A campaign's content (and a variant's) is copied into every trigger it sends.
inline constexpr std::size_t max_content_bytes = 64 * 1024;

// Pushes table[field] (raw) and returns its type.
int raw_field(lua_State* L, int table, const char* field);
// table[field] as a string; "" when it is not one.
std::string string_field(lua_State* L, int table, const char* field);
// table[field] as a list of strings (the prelude built it); script_error otherwise.
std::vector<std::string> string_list(lua_State* L, int table, const char* field, const std::string& where);
// A registry ref to table[field] if it is a function; LUA_NOREF otherwise.
int function_ref(lua_State* L, int table, const char* field);

// One registered campaign (the plain table at `spec`).
campaign_spec read_campaign(lua_State* L, int spec);
// The registry's `crm.fatigue` rule, if the scripts set one.
std::optional<fatigue_rule> read_fatigue(lua_State* L, int registry);

}  // namespace rtcrm::detail::lua
