#include <rtcrm/core/json_text.hpp>

#include <cstdint>

namespace rtcrm {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// The length of the well-formed UTF-8 sequence at `p` (1..4), or 0 with `bad` set to the
// length of its maximal ill-formed subpart (at least 1). The table of well-formed
// sequences is the Unicode Standard's (Table 3-7): the second byte's range depends on
// the lead byte, which is how overlong forms, surrogates and values past U+10FFFF are
// excluded.
std::size_t sequence_at(const unsigned char* p, const unsigned char* end, std::size_t& bad) noexcept {
    const unsigned char c = p[0];
    if (c < 0x80) {
        return 1;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        bad = 1;  // a continuation byte, C0, C1 or F5..FF: never in UTF-8
        return 0;
    }
    std::size_t i = 1;
    for (; i < len; ++i) {
        if (p + i >= end) {
            break;
        }
        const unsigned char b = p[i];
        const unsigned char min = i == 1 ? lo : 0x80;
        const unsigned char max = i == 1 ? hi : 0xBF;
        if (b < min || b > max) {
            break;
        }
    }
    if (i == len) {
        return len;
    }
    bad = i;
    return 0;
}

template <typename Valid, typename Invalid>
bool walk(std::string_view text, Valid&& on_valid, Invalid&& on_invalid) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    bool replaced = false;
    while (p < end) {
        std::size_t bad = 0;
        const std::size_t len = sequence_at(p, end, bad);
        if (len > 0) {
            on_valid(p, len);
            p += len;
        } else {
            on_invalid();
            replaced = true;
            p += bad;
        }
    }
    return replaced;
}

}  // namespace

std::size_t first_invalid_utf8(std::string_view text) noexcept {
    const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = begin + text.size();
    for (const auto* p = begin; p < end;) {
        std::size_t bad = 0;
        const std::size_t len = sequence_at(p, end, bad);
        if (len == 0) {
            return static_cast<std::size_t>(p - begin);
        }
        p += len;
    }
    return text.size();
}

bool is_valid_utf8(std::string_view text) noexcept { return first_invalid_utf8(text) == text.size(); }

bool append_json_string_contents(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    return walk(
        text,
        [&](const unsigned char* p, std::size_t len) {
            if (len > 1) {
                out.append(reinterpret_cast<const char*>(p), len);
                return;
            }
            const unsigned char c = *p;
            switch (c) {
            case '"': out += "\\\""; return;
            case '\\': out += "\\\\"; return;
            case '\n': out += "\\n"; return;
            case '\r': out += "\\r"; return;
            case '\t': out += "\\t"; return;
            case '\b': out += "\\b"; return;
            case '\f': out += "\\f"; return;
            default: break;
            }
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xF];
            } else {
                out += static_cast<char>(c);
            }
        },
        [&] { out += replacement; });
}

bool append_json_string(std::string& out, std::string_view text) {
    out += '"';
    const bool replaced = append_json_string_contents(out, text);
    out += '"';
    return replaced;
}

std::string to_valid_utf8(std::string_view text) {
    if (is_valid_utf8(text)) {
        return std::string{text};
    }
    std::string out;
    out.reserve(text.size() + 8);
    walk(
        text, [&](const unsigned char* p, std::size_t len) { out.append(reinterpret_cast<const char*>(p), len); },
        [&] { out += replacement; });
    return out;
}

}  // namespace rtcrm
