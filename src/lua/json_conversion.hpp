// Internal: Lua values to JSON text and back, for what handlers store in profiles
// (profile:set with a table) and read from them, and for a campaign's content at load.
//
// Lua to JSON reads raw (no metamethod runs), writes object members in key order so every
// shard gives the same text, charges large tables to the call's budget, and stops writing
// at a size limit, so a table that shares its subtables cannot make it run long.
#pragma once

#include <rtcrm/core/event.hpp>

#include <lua.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace rtcrm::detail::lua {

// A Lua value's JSON text would pass the size it may take. `size` is the text's length,
// or 0 if writing stopped before the end.
struct json_too_large {
    std::size_t size = 0;
};

// Serialises the Lua value at `index` as JSON of at most `max` bytes: throws
// json_too_large past that (without writing the rest, which for shared subtables can be
// far larger than the Lua memory they take), and script_error as to_json_text does.
std::string to_json(lua_State* L, int index, std::size_t max);
// Serialises the Lua value at `index` as JSON (tables: arrays for 1..n, else objects) of at
// most `max_bytes`. Throws script_error for functions, cycles deeper than 32, non-finite
// numbers, strings or keys that are not valid UTF-8 (named with the offset), or a longer
// text.
std::string to_json_text(lua_State* L, int index, std::size_t max_bytes);
// Pushes a JSON text as a Lua value (objects and arrays become tables); nil if it does not
// parse (iteratively, nested at most 128 levels: bounded_json.hpp).
void push_json_text(lua_State* L, std::string_view json);

// Pushes a JSON scalar as its Lua value; false (nothing pushed) for objects and arrays.
// Inline: reading event fields goes through it.
inline bool push_scalar(lua_State* L, const json_value& v) {
    switch (v.GetType()) {
    case rapidjson::kNullType: lua_pushnil(L); return true;
    case rapidjson::kFalseType: lua_pushboolean(L, 0); return true;
    case rapidjson::kTrueType: lua_pushboolean(L, 1); return true;
    case rapidjson::kStringType: lua_pushlstring(L, v.GetString(), v.GetStringLength()); return true;
    case rapidjson::kNumberType:
        if (v.IsInt64()) {
            lua_pushinteger(L, v.GetInt64());
        } else {
            lua_pushnumber(L, v.GetDouble());
        }
        return true;
    default: return false;
    }
}

}  // namespace rtcrm::detail::lua
