#include "support/cql_engine_syntax.hpp"

#include <fmt/format.h>

namespace rtcrm::test::engine {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_ident_char(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool looks_like_uuid(std::string_view s, std::size_t i) {
    if (s.size() - i < 36) {
        return false;
    }
    for (std::size_t k = 0; k < 36; ++k) {
        const char c = s[i + k];
        if (k == 8 || k == 13 || k == 18 || k == 23) {
            if (c != '-') {
                return false;
            }
        } else if (!is_hex(c)) {
            return false;
        }
    }
    return i + 36 == s.size() || !is_ident_char(s[i + 36]);
}

std::string quoted_text(std::string_view s, std::size_t& i, char quote) {
    std::string text;
    const std::size_t start = i;
    ++i;
    for (;;) {
        if (i >= s.size()) {
            syntax(fmt::format("line 1:{} unterminated {} starting here", start,
                               quote == '\'' ? "string literal" : "quoted identifier"));
        }
        if (s[i] == quote) {
            if (i + 1 < s.size() && s[i + 1] == quote) {
                text += quote;
                i += 2;
                continue;
            }
            ++i;
            return text;
        }
        text += s[i++];
    }
}


}  // namespace

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

std::vector<token> lex(std::string_view s) {
    std::vector<token> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        const char n = i + 1 < s.size() ? s[i + 1] : '\0';
        if (is_space(c)) {
            ++i;
            continue;
        }
        if ((c == '-' && n == '-') || (c == '/' && n == '/')) {
            while (i < s.size() && s[i] != '\n') {
                ++i;
            }
            continue;
        }
        if (c == '/' && n == '*') {
            const auto end = s.find("*/", i + 2);
            if (end == std::string_view::npos) {
                syntax(fmt::format("line 1:{} unterminated comment", i));
            }
            i = end + 2;
            continue;
        }
        const std::size_t start = i;
        if (c == '\'') {
            out.push_back({tk::string, quoted_text(s, i, '\''), start});
            continue;
        }
        if (c == '"') {
            out.push_back({tk::quoted, quoted_text(s, i, '"'), start});
            continue;
        }
        if (looks_like_uuid(s, i)) {
            out.push_back({tk::uuid, lower(s.substr(i, 36)), start});
            i += 36;
            continue;
        }
        if (c == '0' && (n == 'x' || n == 'X')) {
            i += 2;
            while (i < s.size() && is_hex(s[i])) {
                ++i;
            }
            out.push_back({tk::hex, std::string(s.substr(start + 2, i - start - 2)), start});
            continue;
        }
        if (is_digit(c) || (c == '-' && is_digit(n))) {
            ++i;
            bool floating = false;
            while (i < s.size() && is_digit(s[i])) {
                ++i;
            }
            if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
                floating = true;
                ++i;
                while (i < s.size() && is_digit(s[i])) {
                    ++i;
                }
            }
            if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
                floating = true;
                ++i;
                if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
                    ++i;
                }
                while (i < s.size() && is_digit(s[i])) {
                    ++i;
                }
            }
            out.push_back({floating ? tk::floating : tk::integer, std::string(s.substr(start, i - start)), start});
            continue;
        }
        if (is_alpha(c) || c == '_') {
            while (i < s.size() && is_ident_char(s[i])) {
                ++i;
            }
            out.push_back({tk::ident, lower(s.substr(start, i - start)), start});
            continue;
        }
        if (c == '?') {
            out.push_back({tk::marker, "?", start});
            ++i;
            continue;
        }
        if (c == ':' && (is_alpha(n) || n == '_')) {
            ++i;
            while (i < s.size() && is_ident_char(s[i])) {
                ++i;
            }
            out.push_back({tk::marker, lower(s.substr(start + 1, i - start - 1)), start});
            continue;
        }
        if ((c == '<' || c == '>' || c == '!') && n == '=') {
            out.push_back({tk::symbol, std::string(s.substr(i, 2)), start});
            i += 2;
            continue;
        }
        if (std::string_view("(),;=<>.*{}[]:+-").find(c) != std::string_view::npos) {
            out.push_back({tk::symbol, std::string(1, c), start});
            ++i;
            continue;
        }
        syntax(fmt::format("line 1:{} unexpected character '{}'", i, c));
    }
    out.push_back({tk::end, "", s.size()});
    return out;
}

}  // namespace rtcrm::test::engine
