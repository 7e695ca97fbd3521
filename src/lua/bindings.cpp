// The `event` object handlers receive, its JSON proxies, and the registration of the
// event and profile objects (the profile's methods are profile_bindings.cpp).
//
// Both objects are single persistent userdata per Lua state that point at the current event
// and profile (see vm::bind), so calling a handler allocates nothing. Nested JSON
// (event.data) is read in place through small proxy userdata that remember the event
// generation they belong to: a proxy kept past its event raises an error instead of reading
// freed memory.
#include "bindings.hpp"
#include "json_conversion.hpp"

#include <string_view>

namespace rtcrm::detail::lua {
namespace {

struct json_proxy {
    const json_value* value;
    std::uint64_t generation;
    binding* owner;
};

// A JSON proxy: recognised by its metatable, which is upvalue 2 of the proxy functions.
json_proxy* check_proxy(lua_State* L) {
    if (lua_getmetatable(L, 1) == 0 || !lua_rawequal(L, -1, lua_upvalueindex(2))) {
        luaL_typeerror(L, 1, json_meta);
    }
    lua_pop(L, 1);
    return static_cast<json_proxy*>(lua_touserdata(L, 1));
}

void push_json(lua_State* L, const json_value& v, binding& b);

int json_index(lua_State* L) {
    auto* proxy = check_proxy(L);
    if (proxy->generation != proxy->owner->generation) {
        return luaL_error(L, "event data used after its handler returned (copy the values you need)");
    }
    const json_value& v = *proxy->value;
    if (v.IsObject()) {
        std::size_t len = 0;
        const char* key = lua_tolstring(L, 2, &len);
        if (key == nullptr) {
            lua_pushnil(L);
            return 1;
        }
        const auto it = v.FindMember(json_value(rapidjson::StringRef(key, len)));
        if (it == v.MemberEnd()) {
            lua_pushnil(L);
        } else {
            push_json(L, it->value, *proxy->owner);
        }
        return 1;
    }
    if (v.IsArray() && lua_isinteger(L, 2)) {
        const auto i = lua_tointeger(L, 2);  // Lua arrays count from 1
        if (i >= 1 && static_cast<rapidjson::SizeType>(i) <= v.Size()) {
            push_json(L, v[static_cast<rapidjson::SizeType>(i - 1)], *proxy->owner);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

int json_len(lua_State* L) {
    auto* proxy = check_proxy(L);
    if (proxy->generation != proxy->owner->generation) {
        return luaL_error(L, "event data used after its handler returned");
    }
    const json_value& v = *proxy->value;
    lua_pushinteger(L, v.IsArray() ? static_cast<lua_Integer>(v.Size()) : v.IsObject() ? static_cast<lua_Integer>(v.MemberCount()) : 0);
    return 1;
}

void push_json(lua_State* L, const json_value& v, binding& b) {
    if (push_scalar(L, v)) {
        return;
    }
    // Objects and arrays are read in place through a proxy.
    auto* proxy = static_cast<json_proxy*>(lua_newuserdatauv(L, sizeof(json_proxy), 0));
    *proxy = json_proxy{&v, b.generation, &b};
    lua_pushvalue(L, lua_upvalueindex(2));  // the proxy metatable (all callers are binding functions)
    lua_setmetatable(L, -2);
}

int event_index(lua_State* L) {
    binding& b = binding_of(L, event_meta);
    if (b.ev == nullptr) {
        return luaL_error(L, "no event is being handled");
    }
    const event& ev = *b.ev;
    std::size_t len = 0;
    const char* key = luaL_checklstring(L, 2, &len);
    const std::string_view k{key, len};
    if (k == "type") {
        lua_pushlstring(L, ev.type().data(), ev.type().size());
    } else if (k == "player") {
        if (const auto i = ev.player().integer()) {
            lua_pushinteger(L, *i);
        } else {
            lua_pushlstring(L, ev.player().text().data(), ev.player().text().size());
        }
    } else if (k == "ts") {
        lua_pushinteger(L, ev.ts());
    } else if (k == "id") {
        if (ev.id().empty()) {
            lua_pushnil(L);
        } else {
            lua_pushlstring(L, ev.id().data(), ev.id().size());
        }
    } else if (const auto* field = ev.field(k)) {
        push_json(L, *field, b);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

int event_newindex(lua_State* L) { return luaL_error(L, "event is read-only"); }

}  // namespace

void open_bindings(lua_State* L, binding* b, int& event_ref, int& profile_ref) {
    // Every function gets two upvalues: the binding, and the JSON proxy metatable.
    luaL_newmetatable(L, json_meta);
    const int json_mt = lua_gettop(L);
    auto set_closures = [&](int table, const luaL_Reg* fns) {
        for (; fns->name != nullptr; ++fns) {
            lua_pushlightuserdata(L, b);
            lua_pushvalue(L, json_mt);
            lua_pushcclosure(L, fns->func, 2);
            lua_setfield(L, table, fns->name);
        }
    };
    static const luaL_Reg json_methods[] = {{"__index", json_index}, {"__len", json_len}, {nullptr, nullptr}};
    set_closures(json_mt, json_methods);
    lua_pushboolean(L, 0);
    lua_setfield(L, json_mt, "__metatable");

    static const luaL_Reg event_methods[] = {{"__index", event_index}, {"__newindex", event_newindex}, {nullptr, nullptr}};
    luaL_newmetatable(L, event_meta);
    set_closures(lua_gettop(L), event_methods);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    luaL_newmetatable(L, profile_meta);
    lua_newtable(L);
    set_closures(lua_gettop(L), profile_methods);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);  // profile and json metatables

    b->event_object = lua_newuserdatauv(L, 0, 0);
    luaL_setmetatable(L, event_meta);
    event_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    b->profile_object = lua_newuserdatauv(L, 0, 0);
    luaL_setmetatable(L, profile_meta);
    profile_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

}  // namespace rtcrm::detail::lua
