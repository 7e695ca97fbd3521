#include "pattern.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace rtcrm::detail::lua {
namespace {

// The limits of Lua 5.4.4's matcher (LUA_MAXCAPTURES and MAXCCALLS in lstrlib.c). They show
// in error messages ("too many captures", "pattern too complex"), so they are kept equal.
constexpr int max_captures = 32;
constexpr int max_match_depth = 200;

constexpr char escape = '%';
// A capture's length while it is open, and the length that marks a position capture "()".
constexpr std::ptrdiff_t capture_open = -1;
constexpr std::ptrdiff_t capture_position = -2;

// A plain find scans at most this many bytes between two looks at the meter, so a search
// through a huge subject is charged as it goes.
constexpr std::size_t scan_chunk = work_meter::batch * bytes_per_unit;

int byte_of(const char* p) noexcept { return static_cast<unsigned char>(*p); }

// Character classes. Lua asks <ctype.h>, whose functions are calls in C++ and dominate a
// match; for ASCII every locale classifies as the C locale does, so a table answers there,
// and bytes past ASCII still go to the (locale's) functions.
constexpr std::uint16_t class_alpha = 1U << 0U;
constexpr std::uint16_t class_cntrl = 1U << 1U;
constexpr std::uint16_t class_digit = 1U << 2U;
constexpr std::uint16_t class_graph = 1U << 3U;
constexpr std::uint16_t class_lower = 1U << 4U;
constexpr std::uint16_t class_punct = 1U << 5U;
constexpr std::uint16_t class_space = 1U << 6U;
constexpr std::uint16_t class_upper = 1U << 7U;
constexpr std::uint16_t class_alnum = 1U << 8U;
constexpr std::uint16_t class_xdigit = 1U << 9U;

constexpr std::array<std::uint16_t, 128> ascii_classes = [] {
    std::array<std::uint16_t, 128> table{};
    for (int c = 0; c < 128; ++c) {
        unsigned bits = 0;
        const bool upper = c >= 'A' && c <= 'Z';
        const bool lower = c >= 'a' && c <= 'z';
        const bool digit = c >= '0' && c <= '9';
        const bool graph = c > ' ' && c < 127;
        bits |= (upper || lower) ? class_alpha : 0U;
        bits |= (c < ' ' || c == 127) ? class_cntrl : 0U;
        bits |= digit ? class_digit : 0U;
        bits |= graph ? class_graph : 0U;
        bits |= lower ? class_lower : 0U;
        bits |= (graph && !upper && !lower && !digit) ? class_punct : 0U;
        bits |= (c == ' ' || (c >= '\t' && c <= '\r')) ? class_space : 0U;
        bits |= upper ? class_upper : 0U;
        bits |= (upper || lower || digit) ? class_alnum : 0U;
        bits |= (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) ? class_xdigit : 0U;
        table[static_cast<std::size_t>(c)] = static_cast<std::uint16_t>(bits);
    }
    return table;
}();

int lower_case(int c) noexcept {
    if (c < 0x80) {
        return (ascii_classes[static_cast<std::size_t>(c)] & class_upper) != 0 ? c + ('a' - 'A') : c;
    }
    return std::tolower(c);
}

bool is_lower_case(int c) noexcept {
    return c < 0x80 ? (ascii_classes[static_cast<std::size_t>(c)] & class_lower) != 0 : std::islower(c) != 0;
}

// Whether `c` (0..255) has the class bit `bit`, which `test` answers past ASCII.
bool has_class(int c, std::uint16_t bit, int (*test)(int)) noexcept {
    return c < 0x80 ? (ascii_classes[static_cast<std::size_t>(c)] & bit) != 0 : test(c) != 0;
}

// Whether `c` is in the class named by `cl` (the letter after '%'); an upper-case letter is
// the complement, any other character stands for itself.
bool in_class(int c, int cl) noexcept {
    bool in = false;
    switch (lower_case(cl)) {
    case 'a': in = has_class(c, class_alpha, &isalpha); break;
    case 'c': in = has_class(c, class_cntrl, &iscntrl); break;
    case 'd': in = has_class(c, class_digit, &isdigit); break;
    case 'g': in = has_class(c, class_graph, &isgraph); break;
    case 'l': in = has_class(c, class_lower, &islower); break;
    case 'p': in = has_class(c, class_punct, &ispunct); break;
    case 's': in = has_class(c, class_space, &isspace); break;
    case 'u': in = has_class(c, class_upper, &isupper); break;
    case 'w': in = has_class(c, class_alnum, &isalnum); break;
    case 'x': in = has_class(c, class_xdigit, &isxdigit); break;
    case 'z': in = c == 0; break;
    default: return cl == c;
    }
    return is_lower_case(cl) ? in : !in;
}

// Whether `c` is in the set that starts at `p` ('[') and whose closing ']' is at `close`.
bool in_set(int c, const char* p, const char* close) noexcept {
    bool complement = false;
    if (p[1] == '^') {
        complement = true;
        ++p;
    }
    while (++p < close) {
        if (*p == escape) {
            ++p;
            if (in_class(c, byte_of(p))) {
                return !complement;
            }
        } else if (p[1] == '-' && p + 2 < close) {
            if (byte_of(p) <= c && c <= byte_of(p + 2)) {
                return !complement;
            }
            p += 2;
        } else if (byte_of(p) == c) {
            return !complement;
        }
    }
    return complement;
}

// One match of a pattern against a subject. The pointers point into Lua strings, which end
// with a '\0' one past their length: where the grammar looks one character ahead (a '('
// followed by ')', a '%f' frontier at the end of the subject) that '\0' is what is read, as
// in Lua's own matcher.
class matcher {
public:
    matcher(lua_State* L, const char* subject, std::size_t subject_size, const char* pattern, std::size_t pattern_size,
            work_meter& meter) noexcept
        : L_{L},
          subject_{subject},
          subject_end_{subject + subject_size},
          pattern_end_{pattern + pattern_size},
          meter_{meter} {}

    // Forgets the captures of a failed attempt before the next one.
    void restart() noexcept { level_ = 0; }

    // Matches the pattern from `p` against the subject from `s`; the end of the match, or
    // nullptr.
    const char* match(const char* s, const char* p);

    // Pushes the captures of a match of [s, e) (the whole match when the pattern has none
    // and `s` is not null); returns how many.
    int push_captures(const char* s, const char* e) {
        const int count = (level_ == 0 && s != nullptr) ? 1 : level_;
        luaL_checkstack(L_, count, "too many captures");
        for (int i = 0; i < count; ++i) {
            push_capture(i, s, e);
        }
        return count;
    }

    void push_capture(int i, const char* s, const char* e) {
        const char* text = nullptr;
        const std::ptrdiff_t len = capture(i, s, e, &text);
        if (len != capture_position) {
            lua_pushlstring(L_, text, static_cast<std::size_t>(len));
        }
    }

    // Capture `i` of a match of [s, e): its length, with its text in `text`. A position
    // capture is pushed as an integer and returns capture_position.
    std::ptrdiff_t capture(int i, const char* s, const char* e, const char** text) {
        if (i >= level_) {
            if (i != 0) {
                luaL_error(L_, "invalid capture index %%%d", i + 1);
            }
            *text = s;
            return e - s;
        }
        const std::ptrdiff_t len = captures_[i].len;
        *text = captures_[i].init;
        if (len == capture_open) {
            luaL_error(L_, "unfinished capture");
        } else if (len == capture_position) {
            lua_pushinteger(L_, static_cast<lua_Integer>(captures_[i].init - subject_) + 1);
        }
        return len;
    }

    [[nodiscard]] const char* subject_end() const noexcept { return subject_end_; }
    [[nodiscard]] work_meter& meter() noexcept { return meter_; }

    // Charges every step counted so far; call before the function returns normally.
    void settle() {
        meter_.steps(work_meter::batch - steps_left_);
        steps_left_ = work_meter::batch;
        meter_.settle();
    }

private:
    struct capture_slot {
        const char* init;
        std::ptrdiff_t len;
    };

    // Steps are counted down here and handed to the meter a batch at a time, so the hot loop
    // touches one member of the matcher.
    void step() {
        if (--steps_left_ == 0) {
            steps_left_ = work_meter::batch;
            meter_.steps(work_meter::batch);
        }
    }

    // The end of the single-character class that starts at `p` (where a suffix would be).
    const char* class_end(const char* p) const {
        const char c = *p++;
        if (c == escape) {
            if (p == pattern_end_) {
                luaL_error(L_, "malformed pattern (ends with '%%')");
            }
            return p + 1;
        }
        if (c == '[') {
            if (*p == '^') {
                ++p;
            }
            // The first character of a set is never its end, so "[]]" is the set of ']'.
            do {
                if (p == pattern_end_) {
                    luaL_error(L_, "malformed pattern (missing ']')");
                }
                if (*p++ == escape && p < pattern_end_) {
                    ++p;
                }
            } while (*p != ']');
            return p + 1;
        }
        return p;
    }

    // Whether the subject character at `s` is in the class [p, ep).
    bool single(const char* s, const char* p, const char* ep) const noexcept {
        if (s >= subject_end_) {
            return false;
        }
        const int c = byte_of(s);
        switch (*p) {
        case '.': return true;
        case escape: return in_class(c, byte_of(p + 1));
        case '[': return in_set(c, p, ep - 1);
        default: return byte_of(p) == c;
        }
    }

    // %bxy at `s`, with `p` at x.
    const char* balance(const char* s, const char* p) {
        if (p >= pattern_end_ - 1) {
            luaL_error(L_, "malformed pattern (missing arguments to '%%b')");
        }
        if (s >= subject_end_ || *s != *p) {
            return nullptr;
        }
        const char open = p[0];
        const char close = p[1];
        int depth = 1;
        while (++s < subject_end_) {
            step();
            if (*s == close) {
                if (--depth == 0) {
                    return s + 1;
                }
            } else if (*s == open) {
                ++depth;
            }
        }
        return nullptr;
    }

    // Greedy repetition: the longest run first, then one shorter at a time.
    const char* max_expand(const char* s, const char* p, const char* ep) {
        std::ptrdiff_t count = 0;
        while (single(s + count, p, ep)) {
            step();
            ++count;
        }
        for (; count >= 0; --count) {
            if (const char* end = match(s + count, ep + 1)) {
                return end;
            }
        }
        return nullptr;
    }

    // Lazy repetition: the shortest run first, then one longer at a time.
    const char* min_expand(const char* s, const char* p, const char* ep) {
        for (;;) {
            if (const char* end = match(s, ep + 1)) {
                return end;
            }
            if (!single(s, p, ep)) {
                return nullptr;
            }
            ++s;
        }
    }

    const char* start_capture(const char* s, const char* p, std::ptrdiff_t what) {
        if (level_ >= max_captures) {
            luaL_error(L_, "too many captures");
        }
        captures_[level_] = {s, what};
        ++level_;
        const char* end = match(s, p);
        if (end == nullptr) {
            --level_;
        }
        return end;
    }

    const char* end_capture(const char* s, const char* p) {
        const int l = capture_to_close();
        captures_[l].len = s - captures_[l].init;
        const char* end = match(s, p);
        if (end == nullptr) {
            captures_[l].len = capture_open;
        }
        return end;
    }

    int capture_to_close() const {
        for (int l = level_ - 1; l >= 0; --l) {
            if (captures_[l].len == capture_open) {
                return l;
            }
        }
        return luaL_error(L_, "invalid pattern capture");
    }

    // %1..%9 at `s`; `digit` is the character after '%'.
    const char* back_reference(const char* s, int digit) {
        const int l = digit - '1';
        if (l < 0 || l >= level_ || captures_[l].len == capture_open) {
            luaL_error(L_, "invalid capture index %%%d", l + 1);
        }
        // A position capture has no text: it never matches (its length reads as huge).
        const auto len = static_cast<std::size_t>(captures_[l].len);
        meter_.bytes(std::min(len, static_cast<std::size_t>(subject_end_ - s)));
        if (static_cast<std::size_t>(subject_end_ - s) >= len && std::memcmp(captures_[l].init, s, len) == 0) {
            return s + len;
        }
        return nullptr;
    }

    lua_State* L_;
    const char* subject_;
    const char* subject_end_;
    const char* pattern_end_;
    work_meter& meter_;
    std::uint64_t steps_left_ = work_meter::batch;
    int depth_left_ = max_match_depth;
    int level_ = 0;
    capture_slot captures_[max_captures];
};

const char* matcher::match(const char* s, const char* p) {
    if (depth_left_-- == 0) {
        luaL_error(L_, "pattern too complex");
    }
    // Items that end the pattern's recursion in tail position loop here instead of
    // recursing, so only real backtracking points use the depth.
    for (;;) {
        step();
        if (p == pattern_end_) {
            break;
        }
        if (*p == '(') {
            s = p[1] == ')' ? start_capture(s, p + 2, capture_position) : start_capture(s, p + 1, capture_open);
            break;
        }
        if (*p == ')') {
            s = end_capture(s, p + 1);
            break;
        }
        if (*p == '$' && p + 1 == pattern_end_) {
            s = s == subject_end_ ? s : nullptr;
            break;
        }
        if (*p == escape) {
            const char next = p[1];
            if (next == 'b') {
                s = balance(s, p + 2);
                if (s == nullptr) {
                    break;
                }
                p += 4;
                continue;
            }
            if (next == 'f') {
                p += 2;
                if (*p != '[') {
                    luaL_error(L_, "missing '[' after '%%f' in pattern");
                }
                const char* ep = class_end(p);
                const int previous = s == subject_ ? 0 : byte_of(s - 1);
                if (!in_set(previous, p, ep - 1) && in_set(byte_of(s), p, ep - 1)) {
                    p = ep;
                    continue;
                }
                s = nullptr;
                break;
            }
            if (next >= '0' && next <= '9') {
                s = back_reference(s, next);
                if (s == nullptr) {
                    break;
                }
                p += 2;
                continue;
            }
            // Any other escape is a single-character class, handled below.
        }
        const char* ep = class_end(p);
        const char suffix = *ep;  // the '\0' past the pattern when the class ends it
        if (!single(s, p, ep)) {
            if (suffix == '*' || suffix == '?' || suffix == '-') {
                p = ep + 1;
                continue;
            }
            s = nullptr;
            break;
        }
        if (suffix == '?') {
            if (const char* end = match(s + 1, ep + 1)) {
                s = end;
                break;
            }
            p = ep + 1;
            continue;
        }
        if (suffix == '+') {
            s = max_expand(s + 1, p, ep);
            break;
        }
        if (suffix == '*') {
            s = max_expand(s, p, ep);
            break;
        }
        if (suffix == '-') {
            s = min_expand(s, p, ep);
            break;
        }
        ++s;
        p = ep;
    }
    ++depth_left_;
    return s;
}

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
    while ((esc = static_cast<const char*>(std::memchr(text, escape, len))) != nullptr) {
        meter.bytes(static_cast<std::size_t>(esc - text));
        luaL_addlstring(&b, text, static_cast<std::size_t>(esc - text));
        ++esc;  // the character after '%': the string's terminating '\0' if it ends with '%'
        if (*esc == escape) {
            luaL_addchar(&b, escape);
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
            luaL_error(L, "invalid use of '%c' in replacement string", escape);
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
