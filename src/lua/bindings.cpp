// The `event` and `profile` objects handlers receive.
//
// Both are single persistent userdata per Lua state that point at the current event and
// profile (see vm::bind), so calling a handler allocates nothing. Nested JSON (event.data)
// is read in place through small proxy userdata that remember the event generation they
// belong to: a proxy kept past its event raises an error instead of reading freed memory.
//
// Profile writes go through the binding's journal (core/profile_journal.hpp): each is
// checked against the profile limits and is all or nothing, and vm::call keeps or undoes
// a call's writes together.
#include "vm.hpp"

#include <rtcrm/core/duration.hpp>

#include <fmt/format.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>

namespace rtcrm::detail::lua {
namespace {

constexpr const char* event_meta = "rtcrm.event";
constexpr const char* json_meta = "rtcrm.json";
constexpr const char* profile_meta = "rtcrm.profile";

struct json_proxy {
    const json_value* value;
    std::uint64_t generation;
    binding* owner;
};

// Every binding function has the binding as upvalue 1.
binding& upvalue_binding(lua_State* L) { return *static_cast<binding*>(lua_touserdata(L, lua_upvalueindex(1))); }

// The binding, after checking that argument 1 is the persistent object `which` (raises a
// Lua error otherwise, e.g. for `profile.get(x)` called with a dot).
binding& binding_of(lua_State* L, const char* meta) {
    binding& b = upvalue_binding(L);
    const void* expected = meta == event_meta ? b.event_object : b.profile_object;
    if (lua_touserdata(L, 1) != expected) {
        luaL_typeerror(L, 1, meta);
    }
    return b;
}

// A JSON proxy: recognised by its metatable, which is upvalue 2 of the proxy functions.
json_proxy* check_proxy(lua_State* L) {
    if (lua_getmetatable(L, 1) == 0 || !lua_rawequal(L, -1, lua_upvalueindex(2))) {
        luaL_typeerror(L, 1, json_meta);
    }
    lua_pop(L, 1);
    return static_cast<json_proxy*>(lua_touserdata(L, 1));
}

// Pushes a JSON scalar as its Lua value; false (nothing pushed) for objects and arrays.
bool push_scalar(lua_State* L, const json_value& v) {
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

// A Lua value's JSON text would pass the size it may take. `size` is the text's length,
// or 0 if writing stopped before the end.
struct json_too_large {
    std::size_t size = 0;
};

// Serialises the Lua value at `index` as JSON of at most `max` bytes: throws
// json_too_large past that (without writing the rest, which for shared subtables can be
// far larger than the Lua memory they take), and script_error as to_json does.
std::string to_json(lua_State* L, int index, std::size_t max);

profile& bound_profile(lua_State* L, binding& b) {
    if (b.prof == nullptr) {
        luaL_error(L, "no profile is being handled");
    }
    return *b.prof;
}

profile& current_profile(lua_State* L) { return bound_profile(L, binding_of(L, profile_meta)); }

// The journal for a write. vm::call ends every call with commit or rollback, so it is
// empty when a new event comes; should a caller have done neither, the earlier event's
// writes stand as made rather than piling up in the log.
profile_journal& journal_of(binding& b) noexcept {
    if (b.journal_generation != b.generation) {
        b.journal.commit();
        b.journal_generation = b.generation;
    }
    return b.journal;
}

// Raises `message` as a Lua error at the handler's position ("file.lua:12: message").
// Lua is built as C++, so the error unwinds this frame's strings like any exception.
int raise(lua_State* L, const std::string& message) {
    luaL_where(L, 1);
    lua_pushlstring(L, message.data(), message.size());
    lua_concat(L, 2);
    return lua_error(L);
}

// A name as error messages show it: a script may use very long ones.
std::string shown(std::string_view name) {
    constexpr std::size_t longest = 64;
    return name.size() <= longest ? std::string{name} : fmt::format("{}...", name.substr(0, longest));
}

// Raises the error for a refused write, naming the limit and its value, e.g.
// "profile:set('bio'): value of 70000 bytes exceeds max_value_bytes (65536)".
int refuse(lua_State* L, std::string_view op, std::string_view name, const write_result& r,
           const profile_limits& limits) {
    const auto limit = limit_name(r.error);
    const auto bound = limit_value(r.error, limits);
    std::string what;
    switch (r.error) {
    case write_error::not_a_number: what = "the attribute is not a number"; break;
    case write_error::max_value_bytes:
        what = r.size != 0 ? fmt::format("value of {} bytes exceeds {} ({})", r.size, limit, bound)
                           : fmt::format("value of more than {} bytes (as JSON) exceeds {} ({})", bound, limit, bound);
        break;
    case write_error::max_attributes: what = fmt::format("a new attribute would exceed {} ({})", limit, bound); break;
    case write_error::max_counters:
        what = fmt::format("a new windowed counter would exceed {} ({})", limit, bound);
        break;
    case write_error::max_encoded_bytes:
        what = fmt::format("the profile would encode to {} bytes, past {} ({})", r.size, limit, bound);
        break;
    case write_error::none: break;
    }
    return raise(L, fmt::format("profile:{}('{}'): {}", op, shown(name), what));
}

void push_attribute(lua_State* L, const attribute& a) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                lua_pushnil(L);
            } else if constexpr (std::is_same_v<T, bool>) {
                lua_pushboolean(L, v ? 1 : 0);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                lua_pushinteger(L, v);
            } else if constexpr (std::is_same_v<T, double>) {
                lua_pushnumber(L, v);
            } else if constexpr (std::is_same_v<T, std::string>) {
                lua_pushlstring(L, v.data(), v.size());
            } else {
                push_json_text(L, v.text);
            }
        },
        a);
}

std::int64_t window_arg(lua_State* L, int index) {
    std::size_t len = 0;
    const char* text = luaL_checklstring(L, index, &len);
    const auto parsed = parse_duration({text, len});
    const auto ms = parsed ? parsed->count() : -1;
    if (ms <= 0) {
        luaL_error(L, "bad window '%s': use a duration like \"1d\", \"6h\", \"30m\" or \"10s\"", text);
    }
    return ms;
}

// profile:get(name): the attribute, else a windowed counter's total, else nil.
int profile_get(lua_State* L) {
    const profile& p = current_profile(L);
    std::size_t len = 0;
    const char* name = luaL_checklstring(L, 2, &len);
    if (const auto* a = p.get({name, len})) {
        push_attribute(L, *a);
    } else if (const auto total = p.count({name, len}, 0, 0); total != 0) {
        lua_pushinteger(L, total);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

// profile:set(name, value): nil removes; tables are stored as JSON.
int profile_set(lua_State* L) {
    binding& b = binding_of(L, profile_meta);
    profile& p = bound_profile(L, b);
    std::size_t len = 0;
    const char* name = luaL_checklstring(L, 2, &len);
    const std::string_view key{name, len};
    const profile_limits& limits = *b.limits;
    profile_journal& journal = journal_of(b);
    write_result r;
    switch (lua_type(L, 3)) {
    case LUA_TNIL:
    case LUA_TNONE: journal.erase(p, key); break;
    case LUA_TBOOLEAN: r = journal.set(p, key, lua_toboolean(L, 3) != 0, limits); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, 3)) {
            r = journal.set(p, key, static_cast<std::int64_t>(lua_tointeger(L, 3)), limits);
        } else {
            r = journal.set(p, key, static_cast<double>(lua_tonumber(L, 3)), limits);
        }
        break;
    case LUA_TSTRING: {
        std::size_t vlen = 0;
        const char* v = lua_tolstring(L, 3, &vlen);
        // Checked before the copy: the string may be far larger than a profile may hold.
        r = profile_journal::check_value(vlen, limits);
        if (r) {
            r = journal.set(p, key, std::string{v, vlen}, limits);
        }
        break;
    }
    case LUA_TTABLE: {
        std::string json;
        try {
            json = to_json(L, 3, limits.max_value_bytes != 0 ? limits.max_value_bytes : ~std::size_t{0});
        } catch (const json_too_large& e) {
            return refuse(L, "set", key, {write_error::max_value_bytes, e.size}, limits);
        } catch (const script_error& e) {
            return raise(L, fmt::format("profile:set('{}'): {}", shown(key), e.what()));
        }
        r = journal.set(p, key, json_text{std::move(json)}, limits);
        break;
    }
    default: return luaL_error(L, "profile:set('%s'): cannot store a %s", name, luaL_typename(L, 3));
    }
    return r ? 0 : refuse(L, "set", key, r, limits);
}

// profile:incr(name [, delta [, window]]): adds to an attribute, or with a window to a
// counter kept in buckets of that width. Returns the new value (attribute) or nothing.
int profile_incr(lua_State* L) {
    binding& b = binding_of(L, profile_meta);
    profile& p = bound_profile(L, b);
    std::size_t len = 0;
    const char* name = luaL_checklstring(L, 2, &len);
    const std::string_view key{name, len};
    const lua_Number delta = luaL_optnumber(L, 3, 1);
    profile_journal& journal = journal_of(b);
    if (lua_isnoneornil(L, 4)) {
        double sum = 0;
        if (const auto r = journal.incr(p, key, delta, *b.limits, sum); !r) {
            return refuse(L, "incr", key, r, *b.limits);
        }
        if (std::trunc(sum) == sum && std::abs(sum) < 9.0e15) {
            lua_pushinteger(L, static_cast<lua_Integer>(sum));
        } else {
            lua_pushnumber(L, sum);
        }
        return 1;
    }
    const auto bucket = window_arg(L, 4);
    if (std::trunc(delta) != delta || std::abs(delta) >= 9.0e15) {
        return luaL_error(L, "profile:incr('%s'): windowed counters take whole numbers", name);
    }
    if (const auto r = journal.incr_windowed(p, key, static_cast<std::int64_t>(delta), b.now_ms, bucket, *b.limits);
        !r) {
        return refuse(L, "incr", key, r, *b.limits);
    }
    return 0;
}

// profile:count(name [, window]): the counter within the window ending at the event, or its total.
int profile_count(lua_State* L) {
    const profile& p = current_profile(L);
    binding& b = binding_of(L, profile_meta);
    std::size_t len = 0;
    const char* name = luaL_checklstring(L, 2, &len);
    const std::int64_t window = lua_isnoneornil(L, 3) ? 0 : window_arg(L, 3);
    lua_pushinteger(L, p.count({name, len}, window, b.now_ms));
    return 1;
}

// profile:recent([type [, n]]): up to n (default all) recent events, newest first.
int profile_recent(lua_State* L) {
    const profile& p = current_profile(L);
    std::size_t tlen = 0;
    const char* type = lua_isnoneornil(L, 2) ? nullptr : luaL_checklstring(L, 2, &tlen);
    const lua_Integer n = luaL_optinteger(L, 3, std::numeric_limits<lua_Integer>::max());
    lua_newtable(L);
    lua_Integer out = 0;
    p.visit_recent_newest_first([&](const recent_event& e) {
        if (out >= n) {
            return false;
        }
        if (type != nullptr && e.type != std::string_view{type, tlen}) {
            return true;
        }
        lua_createtable(L, 0, 3);
        lua_pushlstring(L, e.type.data(), e.type.size());
        lua_setfield(L, -2, "type");
        lua_pushinteger(L, e.ts);
        lua_setfield(L, -2, "ts");
        if (!e.id.empty()) {
            lua_pushlstring(L, e.id.data(), e.id.size());
            lua_setfield(L, -2, "id");
        }
        lua_rawseti(L, -2, ++out);
        return true;
    });
    return 1;
}

// profile:last_trigger(campaign): event time of the campaign's last trigger for this player, or nil.
int profile_last_trigger(lua_State* L) {
    const profile& p = current_profile(L);
    std::size_t len = 0;
    const char* campaign = luaL_tolstring(L, 2, &len);
    const auto* h = p.triggers({campaign, len});
    if (h == nullptr || h->recent.empty()) {
        lua_pushnil(L);
    } else {
        lua_pushinteger(L, h->recent.back());
    }
    return 1;
}

int profile_player(lua_State* L) {
    const profile& p = current_profile(L);
    if (const auto i = p.key().integer()) {
        lua_pushinteger(L, *i);
    } else {
        lua_pushlstring(L, p.key().text().data(), p.key().text().size());
    }
    return 1;
}

// JSON text being written, and the most bytes it may take.
struct json_output {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w{buf};
    std::size_t max = 0;

    // Throws json_too_large if `more` bytes would take the text past `max`.
    void reserve(std::size_t more) const {
        if (more > max || buf.GetSize() > max - more) {
            throw json_too_large{};
        }
    }
};

void write_value(lua_State* L, int index, json_output& out, int depth);

// A table is an array when its keys are exactly 1..#t (and it is not empty).
bool is_array(lua_State* L, int index) {
    const auto n = static_cast<lua_Integer>(lua_rawlen(L, index));
    if (n == 0) {
        return false;
    }
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, index) != 0) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return false;
        }
        if ((++count & 255) == 0) {
            charge(L, 256);  // a huge table is the call's work, not free
        }
    }
    return count == n;
}

void write_value(lua_State* L, int index, json_output& out, int depth) {
    index = lua_absindex(L, index);
    if (depth > 32) {
        throw script_error("nested deeper than 32 levels (a cycle?)");
    }
    out.reserve(0);
    auto& w = out.w;
    switch (lua_type(L, index)) {
    case LUA_TNIL: w.Null(); break;
    case LUA_TBOOLEAN: w.Bool(lua_toboolean(L, index) != 0); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, index)) {
            w.Int64(lua_tointeger(L, index));
        } else {
            const double d = lua_tonumber(L, index);
            if (!std::isfinite(d)) {
                throw script_error("numbers must be finite in JSON");
            }
            w.Double(d);
        }
        break;
    case LUA_TSTRING: {
        std::size_t len = 0;
        const char* s = lua_tolstring(L, index, &len);
        out.reserve(len);  // before copying a string that may be huge
        w.String(s, static_cast<rapidjson::SizeType>(len));
        break;
    }
    case LUA_TTABLE:
        if (is_array(L, index)) {
            w.StartArray();
            const auto n = static_cast<lua_Integer>(lua_rawlen(L, index));
            for (lua_Integer i = 1; i <= n; ++i) {
                lua_rawgeti(L, index, i);
                write_value(L, -1, out, depth + 1);
                lua_pop(L, 1);
            }
            w.EndArray();
        } else {
            // Members in key order: Lua's table order depends on the state (its hash seed),
            // and the same table must give the same JSON on every shard. The keys wait in a
            // scratch table, by position, while their names are sorted.
            struct member {
                std::string name;
                lua_Integer slot;
            };
            std::vector<member> members;
            lua_newtable(L);
            const int keys = lua_gettop(L);
            lua_pushnil(L);
            while (lua_next(L, index) != 0) {
                lua_pop(L, 1);
                // Copy the key before converting it: tolstring on the key itself would
                // confuse lua_next.
                lua_pushvalue(L, -1);
                std::size_t len = 0;
                const char* key = lua_tolstring(L, -1, &len);
                if (key == nullptr) {
                    lua_pop(L, 3);
                    throw script_error("object keys must be strings or numbers");
                }
                members.push_back({std::string{key, len}, static_cast<lua_Integer>(members.size()) + 1});
                if ((members.size() & 255) == 0) {
                    charge(L, 256 * 8);  // the key, its copy, and its share of the sort
                }
                lua_pop(L, 1);
                lua_pushvalue(L, -1);
                lua_rawseti(L, keys, members.back().slot);
            }
            std::sort(members.begin(), members.end(), [](const member& a, const member& b) { return a.name < b.name; });
            w.StartObject();
            for (const auto& m : members) {
                w.Key(m.name.data(), static_cast<rapidjson::SizeType>(m.name.size()));
                lua_rawgeti(L, keys, m.slot);
                lua_rawget(L, index);
                write_value(L, -1, out, depth + 1);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);  // keys
            w.EndObject();
        }
        break;
    default: throw script_error(std::string{"cannot convert a "} + luaL_typename(L, index) + " to JSON");
    }
}

void push_dom(lua_State* L, const json_value& v) {
    if (push_scalar(L, v)) {
        return;
    }
    switch (v.GetType()) {
    case rapidjson::kArrayType: {
        lua_createtable(L, static_cast<int>(v.Size()), 0);
        lua_Integer i = 0;
        for (const auto& item : v.GetArray()) {
            push_dom(L, item);
            lua_rawseti(L, -2, ++i);
        }
        break;
    }
    case rapidjson::kObjectType:
        lua_createtable(L, 0, static_cast<int>(v.MemberCount()));
        for (const auto& m : v.GetObject()) {
            lua_pushlstring(L, m.name.GetString(), m.name.GetStringLength());
            push_dom(L, m.value);
            lua_rawset(L, -3);
        }
        break;
    default: break;  // scalars were pushed above
    }
}

std::string to_json(lua_State* L, int index, std::size_t max) {
    json_output out;
    out.max = max;
    write_value(L, index, out, 0);
    if (out.buf.GetSize() > max) {
        throw json_too_large{out.buf.GetSize()};  // the last value's escapes took it past
    }
    return {out.buf.GetString(), out.buf.GetSize()};
}

}  // namespace

std::string to_json_text(lua_State* L, int index, std::size_t max_bytes) {
    try {
        return to_json(L, index, max_bytes);
    } catch (const json_too_large&) {
        throw script_error(fmt::format("larger than {} bytes of JSON", max_bytes));
    }
}

void push_json_text(lua_State* L, std::string_view json) {
    rapidjson::Document d;
    d.Parse(json.data(), json.size());
    if (d.HasParseError()) {
        lua_pushnil(L);
        return;
    }
    push_dom(L, d);
}

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

    static const luaL_Reg profile_methods[] = {{"get", profile_get},     {"set", profile_set},
                                               {"incr", profile_incr},   {"count", profile_count},
                                               {"recent", profile_recent}, {"last_trigger", profile_last_trigger},
                                               {"player", profile_player}, {nullptr, nullptr}};
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
