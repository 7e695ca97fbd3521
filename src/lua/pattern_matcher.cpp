#include "pattern_matcher.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace rtcrm::detail::lua {
namespace {

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
        if (*p == pattern_escape) {
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

}  // namespace

// Steps are counted down here and handed to the meter a batch at a time, so the hot loop
// touches one member of the matcher.
inline void matcher::step() {
    if (--steps_left_ == 0) {
        steps_left_ = work_meter::batch;
        meter_.steps(work_meter::batch);
    }
}

// The end of the single-character class that starts at `p` (where a suffix would be).
inline const char* matcher::class_end(const char* p) const {
    const char c = *p++;
    if (c == pattern_escape) {
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
            if (*p++ == pattern_escape && p < pattern_end_) {
                ++p;
            }
        } while (*p != ']');
        return p + 1;
    }
    return p;
}

// Whether the subject character at `s` is in the class [p, ep).
inline bool matcher::single(const char* s, const char* p, const char* ep) const noexcept {
    if (s >= subject_end_) {
        return false;
    }
    const int c = byte_of(s);
    switch (*p) {
    case '.': return true;
    case pattern_escape: return in_class(c, byte_of(p + 1));
    case '[': return in_set(c, p, ep - 1);
    default: return byte_of(p) == c;
    }
}

// %bxy at `s`, with `p` at x.
inline const char* matcher::balance(const char* s, const char* p) {
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
inline const char* matcher::max_expand(const char* s, const char* p, const char* ep) {
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
inline const char* matcher::min_expand(const char* s, const char* p, const char* ep) {
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

inline const char* matcher::start_capture(const char* s, const char* p, std::ptrdiff_t what) {
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

inline const char* matcher::end_capture(const char* s, const char* p) {
    const int l = capture_to_close();
    captures_[l].len = s - captures_[l].init;
    const char* end = match(s, p);
    if (end == nullptr) {
        captures_[l].len = capture_open;
    }
    return end;
}

inline int matcher::capture_to_close() const {
    for (int l = level_ - 1; l >= 0; --l) {
        if (captures_[l].len == capture_open) {
            return l;
        }
    }
    return luaL_error(L_, "invalid pattern capture");
}

// %1..%9 at `s`; `digit` is the character after '%'.
inline const char* matcher::back_reference(const char* s, int digit) {
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
        if (*p == pattern_escape) {
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

}  // namespace rtcrm::detail::lua
