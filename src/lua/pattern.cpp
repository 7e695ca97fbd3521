// string.find, string.match, string.gmatch and string.gsub over the budgeted matcher
// (pattern_matcher.hpp), with Lua 5.4.4's argument handling, results and errors.
#include "pattern_matcher.hpp"

#include <algorithm>
#include <cstring>

namespace rtcrm::detail::lua {
namespace {

// A plain find scans at most this many bytes between two looks at the meter, so a search
// through a huge subject is charged as it goes.
constexpr std::size_t scan_chunk = work_meter::batch * bytes_per_unit;

// Whether the pattern has none of the characters that make it more than a literal.
bool is_literal(const char* p, std::size_t len) noexcept {
    static constexpr char specials[] = "^$*+?.([%-";
    for (std::size_t i = 0; i < len; ++i) {
        if (std::memchr(specials, p[i], sizeof specials - 1) != nullptr) {
            return false;
        }
    }
    return true;
}

// The first occurrence of `needle` in `haystack`, or nullptr; charged by the bytes it
// looks at.
const char* find_literal(const char* haystack, std::size_t haystack_size, const char* needle, std::size_t needle_size,
                         work_meter& meter) {
    if (needle_size == 0) {
        return haystack;
    }
    if (needle_size > haystack_size) {
        return nullptr;
    }
    const char* pos = haystack;
    const char* const last = haystack + (haystack_size - needle_size);  // the last possible start
    while (pos <= last) {
        const auto window = std::min(static_cast<std::size_t>(last - pos) + 1, scan_chunk);
        const auto* hit = static_cast<const char*>(std::memchr(pos, *needle, window));
        if (hit == nullptr) {
            meter.bytes(window);
            pos += window;
            continue;
        }
        meter.bytes(static_cast<std::size_t>(hit - pos) + needle_size);
        if (std::memcmp(hit + 1, needle + 1, needle_size - 1) == 0) {
            return hit;
        }
        pos = hit + 1;
    }
    return nullptr;
}

int find_or_match(lua_State* L, bool find) {
    std::size_t subject_size = 0;
    std::size_t pattern_size = 0;
    const char* subject = luaL_checklstring(L, 1, &subject_size);
    const char* pattern = luaL_checklstring(L, 2, &pattern_size);
    const std::size_t init = start_position(luaL_optinteger(L, 3, 1), subject_size) - 1;
    if (init > subject_size) {
        luaL_pushfail(L);
        return 1;
    }
    work_meter meter{L};
    if (find && (lua_toboolean(L, 4) != 0 || is_literal(pattern, pattern_size))) {
        meter.bytes(pattern_size);
        const char* at = find_literal(subject + init, subject_size - init, pattern, pattern_size, meter);
        meter.settle();
        if (at != nullptr) {
            lua_pushinteger(L, static_cast<lua_Integer>(at - subject) + 1);
            lua_pushinteger(L, static_cast<lua_Integer>(at - subject) + static_cast<lua_Integer>(pattern_size));
            return 2;
        }
        luaL_pushfail(L);
        return 1;
    }
    const bool anchored = pattern_size > 0 && *pattern == '^';
    if (anchored) {
        ++pattern;
        --pattern_size;
    }
    matcher m{L, subject, subject_size, pattern, pattern_size, meter};
    const char* s = subject + init;
    do {
        m.restart();
        if (const char* end = m.match(s, pattern)) {
            m.settle();
            if (find) {
                lua_pushinteger(L, static_cast<lua_Integer>(s - subject) + 1);
                lua_pushinteger(L, static_cast<lua_Integer>(end - subject));
                return m.push_captures(nullptr, nullptr) + 2;
            }
            return m.push_captures(s, end);
        }
    } while (s++ < m.subject_end() && !anchored);
    m.settle();
    luaL_pushfail(L);
    return 1;
}

// Where a gmatch iteration goes on, kept in a userdata upvalue of the iterator; offsets, not
// pointers, so it holds nothing that could dangle.
struct gmatch_state {
    static constexpr std::size_t none = static_cast<std::size_t>(-1);
    std::size_t next = 0;         // where the next search starts
    std::size_t last_end = none;  // end of the last match: an empty match there is skipped
};

int gmatch_step(lua_State* L) {
    std::size_t subject_size = 0;
    std::size_t pattern_size = 0;
    const char* subject = lua_tolstring(L, lua_upvalueindex(1), &subject_size);
    const char* pattern = lua_tolstring(L, lua_upvalueindex(2), &pattern_size);
    auto* state = static_cast<gmatch_state*>(lua_touserdata(L, lua_upvalueindex(3)));
    work_meter meter{L};
    matcher m{L, subject, subject_size, pattern, pattern_size, meter};
    for (std::size_t at = state->next; at <= subject_size; ++at) {
        m.restart();
        const char* end = m.match(subject + at, pattern);
        if (end != nullptr && static_cast<std::size_t>(end - subject) != state->last_end) {
            state->next = state->last_end = static_cast<std::size_t>(end - subject);
            m.settle();
            return m.push_captures(subject + at, end);
        }
    }
    m.settle();
    return 0;
}

// gsub's replacement string: '%0'..'%9' are captures, '%%' a '%'.
void add_replacement_string(lua_State* L, matcher& m, luaL_Buffer& b, const char* s, const char* e) {
    std::size_t len = 0;
    const char* text = lua_tolstring(L, 3, &len);
    work_meter& meter = m.meter();
    const char* esc = nullptr;
    while ((esc = static_cast<const char*>(std::memchr(text, pattern_escape, len))) != nullptr) {
        meter.bytes(static_cast<std::size_t>(esc - text));
        luaL_addlstring(&b, text, static_cast<std::size_t>(esc - text));
        ++esc;  // the character after '%': the string's terminating '\0' if it ends with '%'
        if (*esc == pattern_escape) {
            luaL_addchar(&b, pattern_escape);
        } else if (*esc == '0') {
            meter.bytes(static_cast<std::size_t>(e - s));
            luaL_addlstring(&b, s, static_cast<std::size_t>(e - s));
        } else if (*esc >= '1' && *esc <= '9') {
            const char* capture = nullptr;
            const std::ptrdiff_t capture_len = m.capture(*esc - '1', s, e, &capture);
            if (capture_len == capture_position) {
                luaL_addvalue(&b);
            } else {
                meter.bytes(static_cast<std::size_t>(capture_len));
                luaL_addlstring(&b, capture, static_cast<std::size_t>(capture_len));
            }
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", pattern_escape);
        }
        len -= static_cast<std::size_t>(esc + 1 - text);
        text = esc + 1;
    }
    meter.bytes(len);
    luaL_addlstring(&b, text, len);
}

// Adds the replacement of the match [s, e) to `b`; false when a function or table gave
// nil or false, which keeps the match as it was.
bool add_replacement(lua_State* L, matcher& m, luaL_Buffer& b, const char* s, const char* e, int kind) {
    if (kind == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        const int n = m.push_captures(s, e);
        lua_call(L, n, 1);
    } else if (kind == LUA_TTABLE) {
        m.push_capture(0, s, e);
        lua_gettable(L, 3);
    } else {
        add_replacement_string(L, m, b, s, e);
        return true;
    }
    if (lua_toboolean(L, -1) == 0) {
        lua_pop(L, 1);
        m.meter().bytes(static_cast<std::size_t>(e - s));
        luaL_addlstring(&b, s, static_cast<std::size_t>(e - s));
        return false;
    }
    if (lua_isstring(L, -1) == 0) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    }
    m.meter().bytes(lua_rawlen(L, -1));
    luaL_addvalue(&b);
    return true;
}

}  // namespace

int pattern_find(lua_State* L) { return find_or_match(L, true); }

int pattern_match(lua_State* L) { return find_or_match(L, false); }

int pattern_gmatch(lua_State* L) {
    std::size_t subject_size = 0;
    std::size_t pattern_size = 0;
    luaL_checklstring(L, 1, &subject_size);
    luaL_checklstring(L, 2, &pattern_size);
    std::size_t init = start_position(luaL_optinteger(L, 3, 1), subject_size) - 1;
    // The iterator keeps the subject and the pattern (as strings, numbers converted) alive.
    lua_settop(L, 2);
    auto* state = static_cast<gmatch_state*>(lua_newuserdatauv(L, sizeof(gmatch_state), 0));
    if (init > subject_size) {
        init = subject_size + 1;  // past the end: the iterator finds nothing
    }
    state->next = init;
    state->last_end = gmatch_state::none;
    lua_pushcclosure(L, &gmatch_step, 3);
    return 1;
}

int pattern_gsub(lua_State* L) {
    std::size_t subject_size = 0;
    std::size_t pattern_size = 0;
    const char* subject = luaL_checklstring(L, 1, &subject_size);
    const char* pattern = luaL_checklstring(L, 2, &pattern_size);
    const int kind = lua_type(L, 3);
    const lua_Integer max_replacements = luaL_optinteger(L, 4, static_cast<lua_Integer>(subject_size) + 1);
    luaL_argexpected(L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION || kind == LUA_TTABLE, 3,
                     "string/function/table");
    const bool anchored = pattern_size > 0 && *pattern == '^';
    if (anchored) {
        ++pattern;
        --pattern_size;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    work_meter meter{L};
    matcher m{L, subject, subject_size, pattern, pattern_size, meter};
    const char* s = subject;
    const char* last_end = nullptr;
    lua_Integer count = 0;
    bool changed = false;
    while (count < max_replacements) {
        m.restart();
        const char* end = m.match(s, pattern);
        if (end != nullptr && end != last_end) {
            ++count;
            changed = add_replacement(L, m, b, s, end, kind) || changed;
            s = last_end = end;
        } else if (s < m.subject_end()) {
            luaL_addchar(&b, *s++);
        } else {
            break;
        }
        if (anchored) {
            break;
        }
    }
    if (changed) {
        const auto rest = static_cast<std::size_t>(m.subject_end() - s);
        meter.bytes(rest);
        luaL_addlstring(&b, s, rest);
        luaL_pushresult(&b);
    } else {
        lua_pushvalue(L, 1);  // nothing replaced: the subject itself
    }
    m.settle();
    lua_pushinteger(L, count);
    return 2;
}

}  // namespace rtcrm::detail::lua
