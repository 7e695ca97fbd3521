#include "key_scan.hpp"

namespace rtcrm::detail {
namespace {

class scanner {
public:
    explicit scanner(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

    void skip_ws() noexcept {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) {
            ++p_;
        }
    }
    bool eat(char c) noexcept {
        skip_ws();
        if (p_ < end_ && *p_ == c) {
            ++p_;
            return true;
        }
        return false;
    }
    // Reads a string at the cursor; `escaped` tells whether it had escapes (then `out`
    // holds the raw, unescaped-not-applied bytes).
    bool string(std::string_view& out, bool& escaped) noexcept {
        if (!eat('"')) {
            return false;
        }
        const char* start = p_;
        escaped = false;
        while (p_ < end_ && *p_ != '"') {
            if (*p_ == '\\') {
                escaped = true;
                if (++p_ >= end_) {
                    return false;
                }
            }
            ++p_;
        }
        if (p_ >= end_) {
            return false;
        }
        out = {start, static_cast<std::size_t>(p_ - start)};
        ++p_;
        return true;
    }
    // Skips one value of any type.
    bool skip_value() noexcept {
        skip_ws();
        if (p_ >= end_) {
            return false;
        }
        if (*p_ == '"') {
            std::string_view ignored;
            bool escaped = false;
            return string(ignored, escaped);
        }
        if (*p_ == '{' || *p_ == '[') {
            int depth = 0;
            while (p_ < end_) {
                const char c = *p_;
                if (c == '"') {
                    std::string_view ignored;
                    bool escaped = false;
                    if (!string(ignored, escaped)) {
                        return false;
                    }
                    continue;
                }
                if (c == '{' || c == '[') {
                    ++depth;
                } else if (c == '}' || c == ']') {
                    if (--depth == 0) {
                        ++p_;
                        return true;
                    }
                }
                ++p_;
            }
            return false;
        }
        while (p_ < end_ && *p_ != ',' && *p_ != '}' && *p_ != ']' && *p_ != ' ' && *p_ != '\n' && *p_ != '\t' && *p_ != '\r') {
            ++p_;
        }
        return true;
    }
    // A plain integer: -?digits, then a delimiter.
    bool integer(std::string_view& out) noexcept {
        skip_ws();
        const char* start = p_;
        if (p_ < end_ && *p_ == '-') {
            ++p_;
        }
        const char* digits = p_;
        while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
            ++p_;
        }
        if (p_ == digits || p_ - digits > 18 || (*digits == '0' && p_ - digits > 1)) {
            return false;  // not an integer, too long for int64 safely, or a leading zero
        }
        skip_ws();
        if (p_ >= end_ || (*p_ != ',' && *p_ != '}')) {
            return false;  // a fraction, an exponent, or garbage
        }
        out = {start, static_cast<std::size_t>(p_ - start)};
        // Trim trailing whitespace that skip_ws passed.
        while (!out.empty() && (out.back() == ' ' || out.back() == '\t' || out.back() == '\n' || out.back() == '\r')) {
            out.remove_suffix(1);
        }
        return true;
    }
    [[nodiscard]] bool at(char c) noexcept {
        skip_ws();
        return p_ < end_ && *p_ == c;
    }

private:
    const char* p_;
    const char* end_;
};

// True if the JSON string contents `raw` (with escapes) may decode to `field`: they do,
// or an escape is malformed (the parser will judge it). Compares as it decodes, so a
// name that differs early costs nothing more.
bool may_decode_to(std::string_view raw, std::string_view field) noexcept {
    std::size_t j = 0;
    auto match = [&](char c) noexcept {
        if (j < field.size() && field[j] == c) {
            ++j;
            return true;
        }
        return false;
    };
    auto hex4 = [&](std::size_t at, unsigned& value) noexcept {
        if (at + 4 > raw.size()) {
            return false;
        }
        value = 0;
        for (std::size_t k = at; k < at + 4; ++k) {
            const char c = raw[k];
            value <<= 4;
            if (c >= '0' && c <= '9') {
                value |= static_cast<unsigned>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                value |= static_cast<unsigned>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                value |= static_cast<unsigned>(c - 'A' + 10);
            } else {
                return false;
            }
        }
        return true;
    };
    std::size_t i = 0;
    while (i < raw.size()) {
        if (raw[i] != '\\') {
            if (!match(raw[i])) {
                return false;
            }
            ++i;
            continue;
        }
        if (i + 1 >= raw.size()) {
            return true;
        }
        char simple = 0;
        switch (raw[i + 1]) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: return true;
        }
        if (simple != 0) {
            if (!match(simple)) {
                return false;
            }
            i += 2;
            continue;
        }
        unsigned cp = 0;
        if (!hex4(i + 2, cp)) {
            return true;
        }
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned low = 0;
            if (i + 1 >= raw.size() || raw[i] != '\\' || raw[i + 1] != 'u' || !hex4(i + 2, low) || low < 0xDC00 ||
                low > 0xDFFF) {
                return true;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return true;
        }
        char utf8[4];
        std::size_t n = 0;
        if (cp < 0x80) {
            utf8[n++] = static_cast<char>(cp);
        } else if (cp < 0x800) {
            utf8[n++] = static_cast<char>(0xC0 | (cp >> 6));
            utf8[n++] = static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            utf8[n++] = static_cast<char>(0xE0 | (cp >> 12));
            utf8[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            utf8[n++] = static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            utf8[n++] = static_cast<char>(0xF0 | (cp >> 18));
            utf8[n++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            utf8[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            utf8[n++] = static_cast<char>(0x80 | (cp & 0x3F));
        }
        for (std::size_t k = 0; k < n; ++k) {
            if (!match(utf8[k])) {
                return false;
            }
        }
    }
    return j == field.size();
}

}  // namespace

scanned_key scan_key(std::string_view json, std::string_view field) noexcept {
    scanner s{json};
    if (!s.eat('{')) {
        return {};
    }
    if (s.eat('}')) {
        return {};
    }
    // The whole top-level object is read: a second key member further on, or an escaped
    // name that decodes to the key field, makes the key undecidable without the parser.
    // The same holds for "ts".
    scanned_key found;
    bool key_seen = false;
    bool key_known = true;
    int ts_seen = 0;
    bool ts_known = true;
    std::int64_t ts = 0;
    constexpr std::string_view ts_field = "ts";
    for (;;) {
        std::string_view name;
        bool escaped = false;
        if (!s.string(name, escaped) || !s.eat(':')) {
            return {};
        }
        const bool is_key = escaped ? may_decode_to(name, field) : name == field;
        const bool is_ts = !is_key && (escaped ? may_decode_to(name, ts_field) : name == ts_field);
        if (is_key) {
            if (key_seen || escaped) {
                key_known = false;
                if (!s.skip_value()) {
                    return {};
                }
            } else if (s.at('"')) {
                key_seen = true;
                std::string_view value;
                bool value_escaped = false;
                if (!s.string(value, value_escaped)) {
                    return {};
                }
                if (value_escaped || value.empty()) {
                    key_known = false;
                }
                found.what = scanned_key::kind::string;
                found.text = value;
            } else {
                key_seen = true;
                std::string_view digits;
                if (!s.integer(digits) || digits == "-0") {  // -0 parses as 0: let the full parse decide
                    key_known = false;
                    if (!s.skip_value()) {
                        return {};
                    }
                }
                found.what = scanned_key::kind::integer;
                found.text = digits;
            }
        } else if (is_ts) {
            std::string_view digits;
            if (++ts_seen > 1 || escaped || !s.integer(digits)) {
                ts_known = false;
                if (!s.skip_value()) {
                    return {};
                }
            } else {
                ts = 0;
                const bool negative = digits.front() == '-';
                for (const char c : digits.substr(negative ? 1 : 0)) {
                    ts = ts * 10 + (c - '0');  // at most 18 digits (scanner::integer): no overflow
                }
                ts = negative ? -ts : ts;
            }
        } else if (!s.skip_value()) {
            return {};
        }
        if (s.eat(',')) {
            continue;
        }
        if (s.eat('}')) {
            break;
        }
        return {};  // malformed
    }
    scanned_key out;
    if (key_seen && key_known) {
        out = found;  // unknown if the key field is absent
    }
    if (ts_seen == 1 && ts_known) {
        out.ts = ts;
    }
    return out;
}

}  // namespace rtcrm::detail
