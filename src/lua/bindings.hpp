// Internal: what the binding functions share (bindings.cpp for the event and its JSON
// proxies, profile_bindings.cpp for the profile). Each function gets the binding as
// upvalue 1 and the JSON proxy metatable as upvalue 2 (open_bindings).
#pragma once

#include "vm.hpp"

#include <lua.hpp>

namespace rtcrm::detail::lua {

// Metatable names, which also name the types in argument errors. Arrays, so that each is
// one object: binding_of tells them apart by address.
inline constexpr char event_meta[] = "rtcrm.event";
inline constexpr char json_meta[] = "rtcrm.json";
inline constexpr char profile_meta[] = "rtcrm.profile";

// Every binding function has the binding as upvalue 1.
inline binding& upvalue_binding(lua_State* L) { return *static_cast<binding*>(lua_touserdata(L, lua_upvalueindex(1))); }

// The binding, after checking that argument 1 is the persistent object of `meta` (raises a
// Lua error otherwise, e.g. for `profile.get(x)` called with a dot).
inline binding& binding_of(lua_State* L, const char* meta) {
    binding& b = upvalue_binding(L);
    const void* expected = meta == event_meta ? b.event_object : b.profile_object;
    if (lua_touserdata(L, 1) != expected) {
        luaL_typeerror(L, 1, meta);
    }
    return b;
}

// The profile object's methods (profile_bindings.cpp), ended by {nullptr, nullptr}.
extern const luaL_Reg profile_methods[];

}  // namespace rtcrm::detail::lua
