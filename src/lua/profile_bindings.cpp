// The `profile` object handlers receive: one persistent userdata per Lua state that points
// at the current profile (see vm::bind), with get, set, incr, count, recent, last_trigger,
// player, and the player's timers: set_timer, cancel_timer, timer.
//
// Writes go through the binding's journal (core/profile_journal.hpp): each is checked
// against the profile limits and is all or nothing, and vm::call keeps or undoes a call's
// writes together. A refused write raises an error that names the limit and its value.
#include "bindings.hpp"
#include "json_conversion.hpp"

#include <rtcrm/core/duration.hpp>
#include <rtcrm/core/trigger_id.hpp>

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <string>
#include <string_view>

namespace rtcrm::detail::lua {
namespace {

// Inline, as the next: every profile method starts with them.
inline profile& bound_profile(lua_State* L, binding& b) {
    if (b.prof == nullptr) {
        luaL_error(L, "no profile is being handled");
    }
    return *b.prof;
}

inline profile& current_profile(lua_State* L) { return bound_profile(L, binding_of(L, profile_meta)); }

// What profile:set and profile:incr write to: the binding, its profile and the attribute's
// name (argument 2, a Lua string: `name.data()` ends with '\0').
struct write_target {
    binding& b;
    profile& p;
    std::string_view name;
};

inline write_target write_target_of(lua_State* L) {
    binding& b = binding_of(L, profile_meta);
    profile& p = bound_profile(L, b);
    std::size_t len = 0;
    const char* name = luaL_checklstring(L, 2, &len);
    return {b, p, {name, len}};
}

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
    case write_error::max_timers: what = fmt::format("a new timer would exceed {} ({})", limit, bound); break;
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
    const auto [b, p, key] = write_target_of(L);
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
    default: return luaL_error(L, "profile:set('%s'): cannot store a %s", key.data(), luaL_typename(L, 3));
    }
    return r ? 0 : refuse(L, "set", key, r, limits);
}

// profile:incr(name [, delta [, window]]): adds to an attribute, or with a window to a
// counter kept in buckets of that width. Returns the new value (attribute) or nothing.
int profile_incr(lua_State* L) {
    const auto [b, p, key] = write_target_of(L);
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
        return luaL_error(L, "profile:incr('%s'): windowed counters take whole numbers", key.data());
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

// A timer's name: argument 2, a non-empty string of at most max_timer_name_bytes that does
// not start with a prefix delayed campaigns use for their own timers.
std::string_view timer_name_arg(lua_State* L, std::string_view op) {
    std::size_t len = 0;
    const char* name = luaL_checklstring(L, 2, &len);
    const std::string_view n{name, len};
    if (n.empty()) {
        raise(L, fmt::format("profile:{}: the timer name is empty", op));
    }
    if (n.size() > max_timer_name_bytes) {
        raise(L, fmt::format("profile:{}('{}'): the timer name is {} bytes, over {}", op, shown(n), n.size(),
                             max_timer_name_bytes));
    }
    for (const auto reserved : reserved_timer_prefixes) {
        if (n.starts_with(reserved)) {
            raise(L, fmt::format("profile:{}('{}'): timer names starting with '{}' belong to delayed campaigns", op,
                                 shown(n), reserved));
        }
    }
    return n;
}

// profile:set_timer(name, due_ms [, data]): arms the player's timer `name` (replacing a
// pending one): the event "timer:<name>" comes at event time `due_ms`, with `data` (a
// table, stored as JSON as profile:set stores one) as its data.
int profile_set_timer(lua_State* L) {
    binding& b = binding_of(L, profile_meta);
    profile& p = bound_profile(L, b);
    const auto name = timer_name_arg(L, "set_timer");
    int exact = 0;
    const lua_Integer due = lua_tointegerx(L, 3, &exact);
    if (exact == 0) {
        return raise(L, fmt::format("profile:set_timer('{}'): the due time must be an integer (event time in ms), not {}",
                                    shown(name), luaL_typename(L, 3)));
    }
    if (due < 0 || due > max_event_ts) {
        return raise(L, fmt::format("profile:set_timer('{}'): due time {} is outside [0, {}]", shown(name), due,
                                    max_event_ts));
    }
    const profile_limits& limits = *b.limits;
    std::string data;
    if (!lua_isnoneornil(L, 4)) {
        if (lua_type(L, 4) != LUA_TTABLE) {
            return raise(L, fmt::format("profile:set_timer('{}'): data must be a table, not {}", shown(name),
                                        luaL_typename(L, 4)));
        }
        try {
            data = to_json(L, 4, limits.max_value_bytes != 0 ? limits.max_value_bytes : ~std::size_t{0});
        } catch (const json_too_large& e) {
            return refuse(L, "set_timer", name, {write_error::max_value_bytes, e.size}, limits);
        } catch (const script_error& e) {
            return raise(L, fmt::format("profile:set_timer('{}'): {}", shown(name), e.what()));
        }
    }
    // The arming event names the firing: its id for event.id, its reference for the
    // trigger ids (trigger_id.hpp).
    std::string ref;
    std::string_view event_id;
    if (b.ev != nullptr) {
        event_id = b.ev->id();
        append_event_ref(ref, *b.ev);
    }
    const auto r = journal_of(b).set_timer(p, name, due, event_id, data, ref, limits);
    return r ? 0 : refuse(L, "set_timer", name, r, limits);
}

// profile:cancel_timer(name): removes the pending timer; true if there was one.
int profile_cancel_timer(lua_State* L) {
    binding& b = binding_of(L, profile_meta);
    profile& p = bound_profile(L, b);
    const auto name = timer_name_arg(L, "cancel_timer");
    lua_pushboolean(L, journal_of(b).cancel_timer(p, name) ? 1 : 0);
    return 1;
}

// profile:timer(name): the pending timer's due time, or nil.
int profile_timer(lua_State* L) {
    const profile& p = current_profile(L);
    std::size_t len = 0;
    const char* name = luaL_checklstring(L, 2, &len);
    if (const auto* t = p.timer({name, len})) {
        lua_pushinteger(L, t->due);
    } else {
        lua_pushnil(L);
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

}  // namespace

const luaL_Reg profile_methods[] = {{"get", profile_get},       {"set", profile_set},
                                    {"incr", profile_incr},     {"count", profile_count},
                                    {"recent", profile_recent}, {"last_trigger", profile_last_trigger},
                                    {"player", profile_player}, {"set_timer", profile_set_timer},
                                    {"cancel_timer", profile_cancel_timer}, {"timer", profile_timer},
                                    {nullptr, nullptr}};

}  // namespace rtcrm::detail::lua
