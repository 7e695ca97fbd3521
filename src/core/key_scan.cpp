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
                ++p_;
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

}  // namespace

scanned_key scan_key(std::string_view json, std::string_view field) noexcept {
    scanner s{json};
    if (!s.eat('{')) {
        return {};
    }
    if (s.eat('}')) {
        return {};
    }
    for (;;) {
        std::string_view name;
        bool escaped = false;
        if (!s.string(name, escaped) || !s.eat(':')) {
            return {};
        }
        if (!escaped && name == field) {
            if (s.at('"')) {
                std::string_view value;
                if (!s.string(value, escaped) || escaped || value.empty()) {
                    return {};
                }
                return {scanned_key::kind::string, value};
            }
            std::string_view digits;
            if (s.integer(digits) && digits != "-0") {  // -0 parses as 0: let the full parse decide
                return {scanned_key::kind::integer, digits};
            }
            return {};
        }
        if (!s.skip_value()) {
            return {};
        }
        if (s.eat(',')) {
            continue;
        }
        return {};  // '}' (field absent) or malformed
    }
}

}  // namespace rtcrm::detail
