#include "campaign_options.hpp"

#include "json_conversion.hpp"
#include "quiet_hours.hpp"

#include <rtcrm/core/duration.hpp>
#include <rtcrm/core/error.hpp>

#include <fmt/format.h>

#include <cmath>
#include <set>

namespace rtcrm::detail::lua {

// The registry's entries are plain tables the prelude built from what a script passed (so
// that a script's metatables never run here): raw reads only.
int raw_field(lua_State* L, int table, const char* field) {
    table = lua_absindex(L, table);
    lua_pushstring(L, field);
    return lua_rawget(L, table);
}

std::string string_field(lua_State* L, int table, const char* field) {
    std::string out;
    if (raw_field(L, table, field) == LUA_TSTRING) {
        std::size_t len = 0;
        const char* text = lua_tolstring(L, -1, &len);
        out.assign(text, len);
    }
    lua_pop(L, 1);
    return out;
}

// The prelude checked that every entry is a string; a list that is not one is a bug in it.
std::vector<std::string> string_list(lua_State* L, int table, const char* field, const std::string& where) {
    std::vector<std::string> out;
    raw_field(L, table, field);
    const auto n = static_cast<lua_Integer>(lua_rawlen(L, -1));
    for (lua_Integer i = 1; i <= n; ++i) {
        if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
            throw script_error(fmt::format("{}: `{}` must be a list of event type strings", where, field));
        }
        std::size_t len = 0;
        const char* text = lua_tolstring(L, -1, &len);
        out.emplace_back(text, len);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return out;
}

int function_ref(lua_State* L, int table, const char* field) {
    if (raw_field(L, table, field) == LUA_TFUNCTION) {
        return luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_pop(L, 1);
    return LUA_NOREF;
}

namespace {

void read_cap_and_rate(lua_State* L, int spec, campaign_spec& c) {
    const auto fail = [&](const std::string& what) {
        throw script_error(fmt::format("{}: campaign '{}': {}", c.where, c.id, what));
    };
    if (raw_field(L, spec, "cap") == LUA_TTABLE) {
        raw_field(L, -1, "per_player");
        int ok = 0;
        c.cap_per_player = lua_tointegerx(L, -1, &ok);
        if (ok == 0 || c.cap_per_player < 1) {
            fail("cap.per_player must be a positive integer");
        }
        lua_pop(L, 1);
        if (raw_field(L, -1, "every") != LUA_TNIL) {
            const auto every = lua_type(L, -1) == LUA_TSTRING ? parse_duration(lua_tostring(L, -1)) : std::nullopt;
            c.cap_every_ms = every ? every->count() : -1;
            if (c.cap_every_ms <= 0) {
                fail("cap.every must be a duration like \"1d\", \"6h\", \"30m\" or \"10s\"");
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (raw_field(L, spec, "rate") == LUA_TTABLE) {
        raw_field(L, -1, "per_second");
        int ok = 0;
        c.rate_per_second = lua_tonumberx(L, -1, &ok);
        if (ok == 0 || !(c.rate_per_second > 0) || !std::isfinite(c.rate_per_second)) {
            fail("rate.per_second must be a positive number");
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

// A point in event time from `active`: an integer (ms since the epoch) or a text that
// parse_time_point takes (ISO 8601, or ms); the failure's reason otherwise.
result<std::int64_t> time_point_value(lua_State* L, int index) {
    if (lua_isinteger(L, index) != 0) {
        return lua_tointeger(L, index);
    }
    if (lua_type(L, index) == LUA_TSTRING) {
        std::size_t len = 0;
        const char* text = lua_tolstring(L, index, &len);
        return parse_time_point({text, len});
    }
    return {errc::invalid_config, fmt::format("a {} is not a time", luaL_typename(L, index))};
}

// A string field of a plain table at `table`; nullopt when it is not a string.
std::optional<std::string> optional_string(lua_State* L, int table, const char* field) {
    std::optional<std::string> out;
    if (raw_field(L, table, field) == LUA_TSTRING) {
        std::size_t len = 0;
        const char* text = lua_tolstring(L, -1, &len);
        out.emplace(text, len);
    }
    lua_pop(L, 1);
    return out;
}

// `quiet = { from, to, tz, default_tz, defer }` (quiet_hours.hpp).
void read_quiet(lua_State* L, int spec, campaign_spec& c) {
    const auto fail = [&](const std::string& what) {
        throw script_error(fmt::format("{}: campaign '{}': {}", c.where, c.id, what));
    };
    if (raw_field(L, spec, "quiet") != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    const int q = lua_gettop(L);
    quiet_hours quiet;
    int* minutes[] = {&quiet.from_minute, &quiet.to_minute};
    const char* bounds[] = {"from", "to"};
    for (int i = 0; i < 2; ++i) {
        const auto text = optional_string(L, q, bounds[i]);
        if (!text) {
            fail(fmt::format("quiet.{} must be a local time of day like \"22:00\"", bounds[i]));
        }
        const auto minute = parse_time_of_day(*text);
        if (!minute) {
            fail(fmt::format("quiet.{}: {}", bounds[i], minute.error().reason));
        }
        *minutes[i] = minute.value();
    }
    if (raw_field(L, q, "tz") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0) {
            fail("quiet.tz must name the profile attribute that holds the player's time zone (like \"tz\")");
        }
        quiet.tz_attribute = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    quiet.default_tz = "UTC";
    if (raw_field(L, q, "default_tz") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING) {
            fail("quiet.default_tz must be a time zone name like \"Europe/Berlin\" or \"UTC\"");
        }
        quiet.default_tz = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    if (const auto zone = check_time_zone(quiet.default_tz); !zone) {
        fail(fmt::format("quiet.default_tz: {}", zone.error().reason));
    }
    if (raw_field(L, q, "defer") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TBOOLEAN) {
            fail("quiet.defer must be true (send when the quiet hours end) or false (drop)");
        }
        quiet.defer = lua_toboolean(L, -1) != 0;
    }
    lua_pop(L, 1);
    if (quiet.from_minute == quiet.to_minute) {
        fail("quiet.from and quiet.to are equal: the quiet hours would be empty");
    }
    c.quiet = std::move(quiet);
    lua_pop(L, 1);
}

// `after`, `unless` and `active`. The prelude made `unless` a list of strings and refused
// it without `after`; `active` and its bounds are plain values checked here.
void read_timing(lua_State* L, int spec, campaign_spec& c) {
    const auto fail = [&](const std::string& what) {
        throw script_error(fmt::format("{}: campaign '{}': {}", c.where, c.id, what));
    };
    if (raw_field(L, spec, "after") != LUA_TNIL) {
        const auto after = lua_type(L, -1) == LUA_TSTRING ? parse_duration(lua_tostring(L, -1)) : std::nullopt;
        c.after_ms = after ? after->count() : -1;
        if (c.after_ms <= 0) {
            fail("after must be a duration greater than 0, like \"3d\", \"2h\", \"30m\" or \"10s\"");
        }
    }
    lua_pop(L, 1);
    c.unless = string_list(L, spec, "unless", c.where);
    if (raw_field(L, spec, "active") == LUA_TTABLE) {
        const char* bounds[] = {"from", "to"};
        std::int64_t* into[] = {&c.active_from, &c.active_to};
        for (int i = 0; i < 2; ++i) {
            if (raw_field(L, -1, bounds[i]) != LUA_TNIL) {
                const auto at = time_point_value(L, -1);
                if (!at) {
                    fail(fmt::format("active.{} must be a time: ISO 8601 like \"2026-02-10T00:00:00Z\", or "
                                     "milliseconds since the epoch ({})",
                                     bounds[i], at.error().reason));
                }
                *into[i] = at.value();
            }
            lua_pop(L, 1);
        }
        if (c.active_from >= c.active_to) {
            fail(fmt::format("active.from ({}) must be before active.to ({})", c.active_from, c.active_to));
        }
    }
    lua_pop(L, 1);
}


// A duration option (`goal.within`, `crm.fatigue`'s `every`) at the top of the stack, in
// the grammar of cap.every; -1 when it is not one.
std::int64_t duration_value(lua_State* L) {
    const auto d = lua_type(L, -1) == LUA_TSTRING ? parse_duration(lua_tostring(L, -1)) : std::nullopt;
    return d ? d->count() : -1;
}

constexpr const char* duration_grammar = "a duration greater than 0, like \"1d\", \"6h\", \"30m\" or \"10s\"";

// `holdout`, `variants`, `goal`, `priority` and `transactional`.
void read_experiment(lua_State* L, int spec, campaign_spec& c) {
    const auto fail = [&](const std::string& what) {
        throw script_error(fmt::format("{}: campaign '{}': {}", c.where, c.id, what));
    };
    if (raw_field(L, spec, "holdout") != LUA_TNIL) {
        const double h = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
        if (!(h >= 0 && h < 1)) {
            fail("holdout must be a number from 0 up to (not including) 1: the share of players in the control arm");
        }
        c.holdout_buckets = static_cast<std::int64_t>(std::floor(h * 10000 + 0.5));
    }
    lua_pop(L, 1);
    if (raw_field(L, spec, "variants") != LUA_TNIL) {
        const int list = lua_gettop(L);
        const auto n = lua_type(L, list) == LUA_TTABLE ? static_cast<lua_Integer>(lua_rawlen(L, list)) : 0;
        if (n == 0) {
            fail("variants must be a non-empty list like { { name = \"a\", weight = 1, content = {...} }, ... }");
        }
        std::set<std::string, std::less<>> names;
        for (lua_Integer i = 1; i <= n; ++i) {
            if (lua_rawgeti(L, list, i) != LUA_TTABLE) {
                fail(fmt::format("variants[{}] must be a table like {{ name = \"a\", weight = 1, content = {{...}} }}", i));
            }
            const int v = lua_gettop(L);
            campaign_variant variant;
            if (raw_field(L, v, "name") != LUA_TSTRING || lua_rawlen(L, -1) == 0) {
                fail(fmt::format("variants[{}].name must be a non-empty string", i));
            }
            variant.name = string_field(L, v, "name");
            lua_pop(L, 1);
            if (variant.name == "control") {
                fail(fmt::format("variants[{}].name: \"control\" is the holdout's arm; name the variant otherwise", i));
            }
            if (!names.insert(variant.name).second) {
                fail(fmt::format("variants[{}].name: \"{}\" names two variants; names must be unique", i, variant.name));
            }
            if (raw_field(L, v, "weight") != LUA_TNIL) {
                int ok = 0;
                variant.weight = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
                if (ok == 0 || variant.weight < 1 || variant.weight > 1'000'000) {
                    fail(fmt::format("variants[{}].weight must be a positive integer (at most 1000000)", i));
                }
            }
            lua_pop(L, 1);
            if (const int t = raw_field(L, v, "content"); t != LUA_TNIL) {
                if (t != LUA_TTABLE) {
                    fail(fmt::format("variants[{}].content must be a table", i));
                }
                try {
                    variant.content_json = to_json_text(L, -1, max_content_bytes);
                } catch (const script_error& e) {
                    fail(fmt::format("variants[{}].content: {}", i, e.what()));
                }
            }
            lua_pop(L, 2);  // content, the variant
            c.variants.push_back(std::move(variant));
        }
    }
    lua_pop(L, 1);
    if (const int t = raw_field(L, spec, "goal"); t != LUA_TNIL) {
        if (t != LUA_TTABLE) {
            fail("goal must be a table like { on = \"purchase\", within = \"1d\" }");
        }
        const int g = lua_gettop(L);
        campaign_goal goal;
        if (raw_field(L, g, "on") != LUA_TSTRING || lua_rawlen(L, -1) == 0) {
            fail("goal.on must be an event type (a string), like \"purchase\"");
        }
        goal.on = string_field(L, g, "on");
        lua_pop(L, 1);
        if (goal.on == "*" || goal.on.starts_with(timer_event_prefix)) {
            fail(fmt::format("goal.on must be a concrete event type, not \"{}\"", goal.on));
        }
        raw_field(L, g, "within");
        goal.within_ms = duration_value(L);
        lua_pop(L, 1);
        if (goal.within_ms <= 0) {
            fail(fmt::format("goal.within must be {}", duration_grammar));
        }
        if (const int w = raw_field(L, g, "when"); w != LUA_TNIL && w != LUA_TFUNCTION) {
            fail("goal.when must be a function(event, profile)");
        }
        lua_pop(L, 1);
        goal.when = function_ref(L, g, "when");
        c.goal = std::move(goal);
    }
    lua_pop(L, 1);
    if (raw_field(L, spec, "priority") != LUA_TNIL) {
        int ok = 0;
        c.priority = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
        if (ok == 0) {
            fail("priority must be an integer (higher runs first; default 0)");
        }
    }
    lua_pop(L, 1);
    if (const int t = raw_field(L, spec, "transactional"); t != LUA_TNIL) {
        if (t != LUA_TBOOLEAN) {
            fail("transactional must be true (exempt from crm.fatigue) or false");
        }
        c.transactional = lua_toboolean(L, -1) != 0;
    }
    lua_pop(L, 1);
}

}  // namespace

campaign_spec read_campaign(lua_State* L, int spec) {
    campaign_spec c;
    raw_field(L, spec, "id");
    c.numeric_id = lua_isinteger(L, -1) != 0;
    std::size_t len = 0;
    const char* id = lua_tolstring(L, -1, &len);  // the prelude checked: a string or an integer
    c.id.assign(id != nullptr ? id : "", id != nullptr ? len : 0);
    lua_pop(L, 1);
    c.where = string_field(L, spec, "where");
    c.on = string_list(L, spec, "on", c.where);
    c.when = function_ref(L, spec, "when");
    c.segment = function_ref(L, spec, "segment");
    raw_field(L, spec, "dry_run");
    c.dry_run = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    raw_field(L, spec, "content");
    try {
        c.content_json = to_json_text(L, -1, max_content_bytes);
    } catch (const script_error& e) {
        throw script_error(fmt::format("{}: campaign '{}': content: {}", c.where, c.id, e.what()));
    }
    lua_pop(L, 1);
    read_cap_and_rate(L, spec, c);
    read_timing(L, spec, c);
    read_quiet(L, spec, c);
    read_experiment(L, spec, c);
    return c;
}

std::optional<fatigue_rule> read_fatigue(lua_State* L, int registry) {
    std::optional<fatigue_rule> out;
    if (raw_field(L, registry, "fatigue") == LUA_TTABLE) {
        const int f = lua_gettop(L);
        const std::string where = string_field(L, f, "where");
        fatigue_rule rule;
        raw_field(L, f, "per_player");
        int ok = 0;
        rule.per_player = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
        lua_pop(L, 1);
        if (ok == 0 || rule.per_player < 1) {
            throw script_error(fmt::format("{}: crm.fatigue: per_player must be a positive integer", where));
        }
        raw_field(L, f, "every");
        rule.every_ms = duration_value(L);
        lua_pop(L, 1);
        if (rule.every_ms <= 0) {
            throw script_error(fmt::format("{}: crm.fatigue: every must be {}", where, duration_grammar));
        }
        out = rule;
    }
    lua_pop(L, 1);
    return out;
}

}  // namespace rtcrm::detail::lua
