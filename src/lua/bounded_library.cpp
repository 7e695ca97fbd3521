#include "bounded_library.hpp"

#include "budget.hpp"
#include "pattern.hpp"

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdint>
#include <cstring>

namespace rtcrm::detail::lua {
namespace {

constexpr const char* installed_key = "rtcrm.bounded_library";

// A function that charges the work its original is about to do. It leaves the stack as it
// found it (it may convert a number argument to a string in place, as the original would),
// and raises exactly the argument errors the original would raise first.
using cost_function = void (*)(lua_State*);

lua_CFunction original_of(lua_State* L) { return lua_tocfunction(L, lua_upvalueindex(1)); }

// Charges, then runs the original in this frame (not through lua_call), so its errors name
// the function and position the script used, and it sees the arguments unchanged.
template <cost_function Cost>
int charged(lua_State* L) {
    Cost(L);
    return original_of(L)(L);
}

// --- helpers ---------------------------------------------------------------------------

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) noexcept {
    return a != 0 && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

// utf8's reading of a position: negative counts from the end; before the start is 0.
lua_Integer utf8_position(lua_Integer pos, std::size_t len) noexcept {
    if (pos >= 0) {
        return pos;
    }
    if (0U - static_cast<std::size_t>(pos) > len) {
        return 0;
    }
    return static_cast<lua_Integer>(len) + pos + 1;
}

// Case mapping, reversal and UTF-8 decoding run a loop per byte, which costs about a quarter
// of a VM instruction per byte, not the 1/64 of a block copy that units_for_bytes counts.
constexpr std::size_t looped_bytes_per_unit = 4;

constexpr std::uint64_t units_for_looped_bytes(std::size_t bytes) noexcept { return 1 + bytes / looped_bytes_per_unit; }

// A byte walked by a loop, in the bytes of block copy a work_meter counts.
constexpr std::size_t looped_byte = bytes_per_unit / looped_bytes_per_unit;

bool is_continuation(const char* p) noexcept { return (static_cast<unsigned char>(*p) & 0xC0U) == 0x80U; }

// What a table argument must support (table.* accepts objects whose metatable provides
// these).
constexpr int table_read = 1;
constexpr int table_write = 2;
constexpr int table_length = 4;

bool has_field(lua_State* L, const char* key, int metatable_index) {
    lua_pushstring(L, key);
    return lua_rawget(L, metatable_index) != LUA_TNIL;
}

// Raises the type error table.* raises for an argument that is neither a table nor an
// object with the metamethods `needs` asks for.
void check_table_like(lua_State* L, int arg, int needs) {
    if (lua_type(L, arg) == LUA_TTABLE) {
        return;
    }
    const int top = lua_gettop(L);
    bool ok = lua_getmetatable(L, arg) != 0;
    const int metatable = lua_gettop(L);
    ok = ok && ((needs & table_read) == 0 || has_field(L, "__index", metatable));
    ok = ok && ((needs & table_write) == 0 || has_field(L, "__newindex", metatable));
    ok = ok && ((needs & table_length) == 0 || has_field(L, "__len", metatable));
    lua_settop(L, top);
    if (!ok) {
        luaL_checktype(L, arg, LUA_TTABLE);
    }
}

// string.pack's format up to its first '\0' (where pack stops reading it): its length, an
// upper bound on the bytes its fixed-size options produce or read (at most 16 per option,
// plus the sizes of 'c' options, which may be large), and whether it has options of
// variable size ('s', 'z').
struct pack_format {
    std::size_t length = 0;
    std::uint64_t fixed_bytes = 0;
    bool variable = false;
};

pack_format scan_pack_format(lua_State* L, int arg) {
    pack_format f;
    if (lua_type(L, arg) != LUA_TSTRING) {
        return f;
    }
    const char* fmt = lua_tostring(L, arg);
    f.length = std::strlen(fmt);
    f.fixed_bytes = saturating_mul(16, f.length);
    for (std::size_t i = 0; i < f.length; ++i) {
        if (fmt[i] == 's' || fmt[i] == 'z') {
            f.variable = true;
        } else if (fmt[i] == 'c') {
            std::uint64_t size = 0;
            while (i + 1 < f.length && fmt[i + 1] >= '0' && fmt[i + 1] <= '9' && size <= INT_MAX) {
                size = size * 10 + static_cast<std::uint64_t>(fmt[++i] - '0');
            }
            f.fixed_bytes = saturating_add(f.fixed_bytes, size);
        }
    }
    return f;
}

std::uint64_t string_argument_bytes(lua_State* L, int first) {
    std::uint64_t bytes = 0;
    for (int i = first, top = lua_gettop(L); i <= top; ++i) {
        if (lua_type(L, i) == LUA_TSTRING) {
            bytes = saturating_add(bytes, lua_rawlen(L, i));
        }
    }
    return bytes;
}

// --- string ----------------------------------------------------------------------------

// upper, lower, reverse: a loop over the string.
void whole_string_cost(lua_State* L) {
    std::size_t len = 0;
    luaL_checklstring(L, 1, &len);
    charge(L, units_for_looped_bytes(len));
}

// string.char, utf8.char, table.pack: one unit per argument.
void argument_count_cost(lua_State* L) { charge(L, static_cast<std::uint64_t>(lua_gettop(L))); }

// string.byte: one unit per value it pushes.
void byte_cost(lua_State* L) {
    std::size_t len = 0;
    luaL_checklstring(L, 1, &len);
    const lua_Integer first = luaL_optinteger(L, 2, 1);
    const std::size_t start = start_position(first, len);
    const std::size_t end = end_position(luaL_optinteger(L, 3, first), len);
    if (start <= end && end - start < static_cast<std::size_t>(INT_MAX)) {
        charge(L, end - start + 1);
    }
}

// string.sub: the bytes it copies.
void sub_cost(lua_State* L) {
    std::size_t len = 0;
    luaL_checklstring(L, 1, &len);
    const std::size_t start = start_position(luaL_checkinteger(L, 2), len);
    const std::size_t end = end_position(luaL_optinteger(L, 3, -1), len);
    if (start <= end) {
        charge(L, units_for_bytes(end - start + 1));
    }
}

// string.rep: the bytes of the result, plus one unit per copy (a copy of a short string costs
// about an instruction whatever its length; an empty one still loops).
void rep_cost(lua_State* L) {
    std::size_t len = 0;
    std::size_t sep_len = 0;
    luaL_checklstring(L, 1, &len);
    const lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &sep_len);
    if (n <= 0) {
        return;
    }
    // The original's own limit; past it, it raises "resulting string too large" itself.
    constexpr auto max_size = static_cast<std::size_t>(LUA_MAXINTEGER);
    const auto count = static_cast<std::size_t>(n);
    if (len + sep_len < len || len + sep_len > max_size / count) {
        return;
    }
    const std::size_t total = count * len + (count - 1) * sep_len;
    charge(L, saturating_add(units_for_bytes(total), count));
}

// string.format, before: one unit per argument and the bytes of the format and of the string
// arguments (%s and %q read them); after: the bytes of the result.
int format_charged(lua_State* L) {
    std::uint64_t bytes = string_argument_bytes(L, 1);
    charge(L, saturating_add(units_for_bytes(bytes), static_cast<std::uint64_t>(lua_gettop(L))));
    const int results = original_of(L)(L);
    charge(L, units_for_bytes(lua_rawlen(L, -1)));
    return results;
}

// string.pack: one unit per format byte, plus the bytes of string arguments and of what the
// format itself produces (padding of 'c' options).
void pack_cost(lua_State* L) {
    const pack_format f = scan_pack_format(L, 1);
    const std::uint64_t bytes = saturating_add(string_argument_bytes(L, 2), f.fixed_bytes);
    charge(L, saturating_add(f.length, units_for_bytes(bytes)));
}

// string.unpack: one unit per format byte (one value each at most), plus the bytes it can
// read from the data.
void unpack_cost(lua_State* L) {
    const pack_format f = scan_pack_format(L, 1);
    std::uint64_t readable = 0;
    if (lua_type(L, 2) == LUA_TSTRING) {
        const std::size_t len = lua_rawlen(L, 2);
        const std::size_t start = lua_isinteger(L, 3) != 0 ? start_position(lua_tointeger(L, 3), len) - 1 : 0;
        readable = start <= len ? len - start : 0;
        if (!f.variable) {
            readable = std::min(readable, f.fixed_bytes);
        }
    }
    charge(L, saturating_add(f.length, units_for_bytes(readable)));
}

// string.packsize: one unit per format byte.
void packsize_cost(lua_State* L) { charge(L, scan_pack_format(L, 1).length); }

// --- table -----------------------------------------------------------------------------

// table.move: one unit per element moved. The checks before the loop are the original's, in
// its order, so a bad call fails with its error rather than with a charge.
void move_cost(lua_State* L) {
    const lua_Integer first = luaL_checkinteger(L, 2);
    const lua_Integer last = luaL_checkinteger(L, 3);
    const lua_Integer to = luaL_checkinteger(L, 4);
    const int destination = lua_isnoneornil(L, 5) ? 1 : 5;
    check_table_like(L, 1, table_read);
    check_table_like(L, destination, table_write);
    if (last < first) {
        return;
    }
    luaL_argcheck(L, first > 0 || last < LUA_MAXINTEGER + first, 3, "too many elements to move");
    const lua_Integer count = last - first + 1;
    luaL_argcheck(L, to <= LUA_MAXINTEGER - count + 1, 4, "destination wrap around");
    charge(L, static_cast<std::uint64_t>(count));
}

// table.sort: n*ceil(log2 n) comparisons, charged before sorting. (A __len metamethod is
// called here and again by the original.)
void sort_cost(lua_State* L) {
    check_table_like(L, 1, table_read | table_write | table_length);
    const lua_Integer n = luaL_len(L, 1);
    if (n > 1 && n < INT_MAX) {
        const auto count = static_cast<std::uint64_t>(n);
        charge(L, count * static_cast<std::uint64_t>(std::bit_width(count - 1)));
    }
}

void add_concat_field(lua_State* L, luaL_Buffer& b, lua_Integer i, work_meter& meter) {
    meter.step();
    lua_geti(L, 1, i);
    if (lua_isstring(L, -1) == 0) {
        luaL_error(L, "invalid value (%s) at index %I in table for 'concat'", luaL_typename(L, -1),
                   static_cast<LUAI_UACINT>(i));
    }
    meter.bytes(lua_rawlen(L, -1));
    luaL_addvalue(&b);
}

// table.concat: one unit per element plus the bytes copied, charged as it goes (an element's
// length is known only once it is read, and may come from __index).
int table_concat(lua_State* L) {
    check_table_like(L, 1, table_read | table_length);
    lua_Integer last = luaL_len(L, 1);
    std::size_t sep_len = 0;
    const char* sep = luaL_optlstring(L, 2, "", &sep_len);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    last = luaL_optinteger(L, 4, last);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    work_meter meter{L};
    for (; i < last; ++i) {
        add_concat_field(L, b, i, meter);
        meter.bytes(sep_len);
        luaL_addlstring(&b, sep, sep_len);
    }
    if (i == last) {
        add_concat_field(L, b, i, meter);
    }
    meter.settle();
    luaL_pushresult(&b);
    return 1;
}

// table.insert: one unit per element shifted up.
int table_insert(lua_State* L) {
    check_table_like(L, 1, table_read | table_write | table_length);
    // The first empty slot; wraps like the original's luaL_intop.
    const auto end = static_cast<lua_Integer>(static_cast<lua_Unsigned>(luaL_len(L, 1)) + 1U);
    lua_Integer pos = end;
    switch (lua_gettop(L)) {
    case 2: {
        break;
    }
    case 3: {
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, static_cast<lua_Unsigned>(pos) - 1U < static_cast<lua_Unsigned>(end), 2,
                      "position out of bounds");
        if (end > pos) {
            charge(L, static_cast<lua_Unsigned>(end) - static_cast<lua_Unsigned>(pos));
        }
        for (lua_Integer i = end; i > pos; --i) {
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i);
        }
        break;
    }
    default: {
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    }
    lua_seti(L, 1, pos);
    return 0;
}

// table.remove: one unit per element shifted down.
int table_remove(lua_State* L) {
    check_table_like(L, 1, table_read | table_write | table_length);
    const lua_Integer size = luaL_len(L, 1);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    if (pos != size) {
        // Lua 5.4.4 names argument #1 in this error (the position is #2); scripts see the same.
        luaL_argcheck(L, static_cast<lua_Unsigned>(pos) - 1U <= static_cast<lua_Unsigned>(size), 1,
                      "position out of bounds");
    }
    if (pos < size) {
        charge(L, static_cast<lua_Unsigned>(size) - static_cast<lua_Unsigned>(pos));
    }
    lua_geti(L, 1, pos);
    for (; pos < size; ++pos) {
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

// table.unpack: one unit per value pushed, charged before the stack grows for them.
int table_unpack(lua_State* L) {
    lua_Integer i = luaL_optinteger(L, 2, 1);
    const lua_Integer last = luaL_opt(L, luaL_checkinteger, 3, luaL_len(L, 1));
    if (i > last) {
        return 0;
    }
    auto count = static_cast<lua_Unsigned>(last) - static_cast<lua_Unsigned>(i);  // minus one
    // Past the stack's limit the original fails without growing it; keep its error there.
    if (count < static_cast<lua_Unsigned>(LUAI_MAXSTACK)) {
        charge(L, count + 1);
    }
    if (count >= static_cast<lua_Unsigned>(INT_MAX) || lua_checkstack(L, static_cast<int>(++count)) == 0) {
        return luaL_error(L, "too many results to unpack");
    }
    for (; i < last; ++i) {
        lua_geti(L, 1, i);
    }
    lua_geti(L, 1, last);
    return static_cast<int>(count);
}

// --- utf8 ------------------------------------------------------------------------------

// utf8.codepoint: one unit per byte of the range (each may start a value to push).
void codepoint_cost(lua_State* L) {
    std::size_t len = 0;
    luaL_checklstring(L, 1, &len);
    const lua_Integer first = utf8_position(luaL_optinteger(L, 2, 1), len);
    const lua_Integer last = utf8_position(luaL_optinteger(L, 3, first), len);
    if (first >= 1 && last <= static_cast<lua_Integer>(len) && first <= last && last - first < INT_MAX) {
        charge(L, static_cast<std::uint64_t>(last - first) + 1);
    }
}

// utf8.len: the bytes of the range it decodes.
void utf8_len_cost(lua_State* L) {
    std::size_t len = 0;
    luaL_checklstring(L, 1, &len);
    const lua_Integer first = utf8_position(luaL_optinteger(L, 2, 1), len);
    const lua_Integer last = utf8_position(luaL_optinteger(L, 3, -1), len);
    if (first >= 1 && first - 1 <= static_cast<lua_Integer>(len) && last - 1 < static_cast<lua_Integer>(len) &&
        first <= last) {
        charge(L, units_for_looped_bytes(static_cast<std::size_t>(last - first) + 1));
    }
}

// utf8.offset: the bytes it walks over, charged as it walks (how far depends on the text).
int utf8_offset(lua_State* L) {
    std::size_t len = 0;
    const char* s = luaL_checklstring(L, 1, &len);
    lua_Integer n = luaL_checkinteger(L, 2);
    const lua_Integer default_start = n >= 0 ? 1 : static_cast<lua_Integer>(len) + 1;
    lua_Integer pos = utf8_position(luaL_optinteger(L, 3, default_start), len);
    luaL_argcheck(L, 1 <= pos && --pos <= static_cast<lua_Integer>(len), 3, "position out of bounds");
    work_meter meter{L};
    // Positions index a Lua string, whose '\0' terminator ends every forward walk.
    if (n == 0) {
        while (pos > 0 && is_continuation(s + pos)) {
            meter.bytes(looped_byte);
            --pos;
        }
    } else {
        if (is_continuation(s + pos)) {
            return luaL_error(L, "initial position is a continuation byte");
        }
        if (n < 0) {
            for (; n < 0 && pos > 0; ++n) {
                do {
                    meter.bytes(looped_byte);
                    --pos;
                } while (pos > 0 && is_continuation(s + pos));
            }
        } else {
            for (--n; n > 0 && pos < static_cast<lua_Integer>(len); --n) {
                do {
                    meter.bytes(looped_byte);
                    ++pos;
                } while (is_continuation(s + pos));
            }
        }
    }
    meter.settle();
    if (n == 0) {
        lua_pushinteger(L, pos + 1);
    } else {
        luaL_pushfail(L);
    }
    return 1;
}

// The iterator of utf8.codes: charges the continuation bytes the original will skip (a
// malformed string can have any number of them), then runs it.
int codes_step(lua_State* L) {
    std::size_t len = 0;
    const char* s = luaL_checklstring(L, 1, &len);
    const auto from = static_cast<lua_Unsigned>(lua_tointeger(L, 2));
    work_meter meter{L};
    meter.step();
    for (lua_Unsigned at = from; at < len && is_continuation(s + at); ++at) {
        meter.bytes(looped_byte);
    }
    meter.settle();
    return original_of(L)(L);
}

// utf8.codes: the original, with its iterator wrapped in codes_step.
int utf8_codes(lua_State* L) {
    const int results = original_of(L)(L);  // iterator, subject, 0
    lua_pushvalue(L, -results);
    lua_pushcclosure(L, &codes_step, 1);
    lua_replace(L, -results - 1);
    return results;
}

// --- installation ----------------------------------------------------------------------

struct replacement {
    const char* name;
    lua_CFunction function;
    bool wraps_original;  // the original is its upvalue 1
};

constexpr replacement string_functions[] = {
    {"byte", &charged<&byte_cost>, true},
    {"char", &charged<&argument_count_cost>, true},
    {"find", &pattern_find, false},
    {"format", &format_charged, true},
    {"gmatch", &pattern_gmatch, false},
    {"gsub", &pattern_gsub, false},
    {"lower", &charged<&whole_string_cost>, true},
    {"match", &pattern_match, false},
    {"rep", &charged<&rep_cost>, true},
    {"reverse", &charged<&whole_string_cost>, true},
    {"sub", &charged<&sub_cost>, true},
    {"upper", &charged<&whole_string_cost>, true},
    {"pack", &charged<&pack_cost>, true},
    {"packsize", &charged<&packsize_cost>, true},
    {"unpack", &charged<&unpack_cost>, true},
};

constexpr replacement table_functions[] = {
    {"concat", &table_concat, false},     {"insert", &table_insert, false},
    {"move", &charged<&move_cost>, true}, {"pack", &charged<&argument_count_cost>, true},
    {"remove", &table_remove, false},     {"sort", &charged<&sort_cost>, true},
    {"unpack", &table_unpack, false},
};

constexpr replacement utf8_functions[] = {
    {"char", &charged<&argument_count_cost>, true},
    {"codepoint", &charged<&codepoint_cost>, true},
    {"codes", &utf8_codes, true},
    {"len", &charged<&utf8_len_cost>, true},
    {"offset", &utf8_offset, false},
};

template <std::size_t N>
void replace_functions(lua_State* L, const char* library, const replacement (&functions)[N]) {
    if (lua_getglobal(L, library) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    for (const replacement& r : functions) {
        if (r.wraps_original) {
            // Only a light C function can run in the wrapper's frame (it must not need
            // upvalues of its own); anything else is not the stock function, so it stays.
            lua_getfield(L, -1, r.name);
            bool light = false;
            if (lua_iscfunction(L, -1) != 0) {
                light = lua_getupvalue(L, -1, 1) == nullptr;
                if (!light) {
                    lua_pop(L, 1);  // the upvalue
                }
            }
            if (!light) {
                lua_pop(L, 1);
                continue;
            }
            lua_pushcclosure(L, r.function, 1);
        } else {
            lua_pushcfunction(L, r.function);
        }
        lua_setfield(L, -2, r.name);
    }
    lua_pop(L, 1);
}

}  // namespace

void open_bounded_library(lua_State* L) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, installed_key) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    replace_functions(L, "string", string_functions);
    replace_functions(L, "table", table_functions);
    replace_functions(L, "utf8", utf8_functions);
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, installed_key);
}

}  // namespace rtcrm::detail::lua
