#include "json_conversion.hpp"

#include "vm.hpp"

#include "core/bounded_json.hpp"

#include <rtcrm/core/json_text.hpp>

#include <fmt/format.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace rtcrm::detail::lua {
namespace {

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

// JSON text is UTF-8: a string that is not (binary data, a string.sub cut through a
// character) is refused rather than written as bytes no JSON reader takes back.
void check_utf8(std::string_view s, const char* what) {
    if (const auto at = first_invalid_utf8(s); at < s.size()) {
        throw script_error(fmt::format("{} is not valid UTF-8 (ill-formed byte 0x{:02x} at offset {} of {} bytes); "
                                       "JSON text holds Unicode text only",
                                       what, static_cast<unsigned char>(s[at]), at, s.size()));
    }
}

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
        check_utf8({s, len}, "a string");
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
                if (first_invalid_utf8({key, len}) < len) {
                    const std::string name{key, len};
                    lua_pop(L, 3);
                    check_utf8(name, "an object key");
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

}  // namespace

std::string to_json(lua_State* L, int index, std::size_t max) {
    json_output out;
    out.max = max;
    write_value(L, index, out, 0);
    if (out.buf.GetSize() > max) {
        throw json_too_large{out.buf.GetSize()};  // the last value's escapes took it past
    }
    return {out.buf.GetString(), out.buf.GetSize()};
}

std::string to_json_text(lua_State* L, int index, std::size_t max_bytes) {
    try {
        return to_json(L, index, max_bytes);
    } catch (const json_too_large&) {
        throw script_error(fmt::format("larger than {} bytes of JSON", max_bytes));
    }
}

void push_json_text(lua_State* L, std::string_view json) {
    rapidjson::Document d;
    if (parse_bounded_json(d, json, max_nested_json_depth)) {
        lua_pushnil(L);
        return;
    }
    push_dom(L, d);
}

}  // namespace rtcrm::detail::lua
