#include "support/cql_table_engine.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <utility>
#include <variant>

namespace rtcrm::test {

namespace cql = rtcrm::detail::cql;

namespace {

using cql::type_id;

// Errors travel as exceptions inside the engine: the parser and planners are deeply nested
// and a test fixture gains nothing from threading results through them. Every public entry
// point catches them and answers with the ERROR response they carry.
struct statement_error {
    cql::error_response response;
};

[[noreturn]] void fail(cql::error_code code, std::string message) {
    cql::error_response e;
    e.code = code;
    e.message = std::move(message);
    throw statement_error{std::move(e)};
}
[[noreturn]] void invalid(std::string message) { fail(cql::error_code::invalid, std::move(message)); }
[[noreturn]] void syntax(std::string message) { fail(cql::error_code::syntax_error, std::move(message)); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_ident_char(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

// --- Lexer --------------------------------------------------------------------------------

enum class tk { ident, quoted, string, integer, floating, hex, uuid, marker, symbol, end };

struct token {
    tk kind = tk::end;
    std::string text;  // identifiers lower-cased; quoted identifiers and strings unescaped
    std::size_t pos = 0;
};

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

// --- Syntax tree ---------------------------------------------------------------------------

enum class term_kind { marker, string, integer, floating, hex, uuid, boolean, null, set_or_map, list, function };

struct term {
    term_kind kind = term_kind::null;
    std::string text;         // the literal, or the function name
    std::size_t marker = 0;   // index of a bind marker
    std::vector<term> items;  // collection elements (map: key, value, key, value, ...)
    bool is_map = false;
};

struct relation {
    std::vector<std::string> columns;  // one column, or token()'s arguments
    bool token = false;
    std::string op;
    term value;
};

struct qualified_name {
    std::string keyspace;  // empty: the connection's keyspace
    std::string table;
};

struct create_keyspace_st {
    std::string name;
    bool if_not_exists = false;
    std::map<std::string, std::string> replication;
    bool durable_writes = true;
};
struct use_st {
    std::string name;
};
struct drop_st {
    bool keyspace = false;
    bool if_exists = false;
    qualified_name name;
};
struct truncate_st {
    qualified_name name;
};
struct column_decl {
    std::string name;
    cql::data_type type;
};
struct create_table_st {
    qualified_name name;
    bool if_not_exists = false;
    std::vector<column_decl> columns;
    std::vector<std::string> partition_key;
    std::vector<std::string> clustering_key;
    std::vector<std::pair<std::string, bool>> clustering_order;  // name, descending
    std::int32_t default_ttl = 0;
};
struct insert_st {
    qualified_name name;
    std::vector<std::string> columns;
    std::vector<term> values;
    std::optional<term> ttl;
    std::optional<term> timestamp;
};
struct update_st {
    qualified_name name;
    std::vector<std::pair<std::string, term>> set;
    std::vector<relation> where;
    std::optional<term> ttl;
    std::optional<term> timestamp;
};
struct delete_st {
    qualified_name name;
    std::vector<std::string> columns;
    std::vector<relation> where;
    std::optional<term> timestamp;
};
struct selector {
    std::string column;
    std::string alias;
};
struct select_st {
    qualified_name name;
    bool star = false;
    bool count = false;
    std::string count_alias = "count";
    std::vector<selector> columns;
    std::vector<relation> where;
    std::vector<std::pair<std::string, bool>> order_by;  // name, descending
    std::optional<term> limit;
    bool allow_filtering = false;
};
using write_st = std::variant<insert_st, update_st, delete_st>;
struct batch_st {
    std::vector<write_st> statements;
    std::optional<term> timestamp;
};

using statement = std::variant<create_keyspace_st, use_st, drop_st, truncate_st, create_table_st, insert_st,
                               update_st, delete_st, select_st, batch_st>;

// --- Types ---------------------------------------------------------------------------------

cql::data_type simple_type(type_id id) {
    cql::data_type t;
    t.id = id;
    return t;
}

std::string type_name(const cql::data_type& t) {
    switch (t.id) {
        case type_id::ascii: return "ascii";
        case type_id::bigint: return "bigint";
        case type_id::blob: return "blob";
        case type_id::boolean: return "boolean";
        case type_id::counter: return "counter";
        case type_id::double_: return "double";
        case type_id::float_: return "float";
        case type_id::int_: return "int";
        case type_id::timestamp: return "timestamp";
        case type_id::uuid: return "uuid";
        case type_id::varchar: return "text";
        case type_id::timeuuid: return "timeuuid";
        case type_id::inet: return "inet";
        case type_id::smallint: return "smallint";
        case type_id::tinyint: return "tinyint";
        case type_id::list: return fmt::format("list<{}>", type_name(t.params.at(0)));
        case type_id::set: return fmt::format("set<{}>", type_name(t.params.at(0)));
        case type_id::map: return fmt::format("map<{}, {}>", type_name(t.params.at(0)), type_name(t.params.at(1)));
        default: return fmt::format("type 0x{:04x}", static_cast<unsigned>(t.id));
    }
}

std::optional<type_id> simple_type_named(std::string_view n) {
    static const std::map<std::string_view, type_id> names{
        {"text", type_id::varchar},         {"varchar", type_id::varchar}, {"ascii", type_id::ascii},
        {"blob", type_id::blob},            {"int", type_id::int_},        {"bigint", type_id::bigint},
        {"timestamp", type_id::timestamp},  {"timeuuid", type_id::timeuuid}, {"uuid", type_id::uuid},
        {"boolean", type_id::boolean},      {"double", type_id::double_},  {"float", type_id::float_},
        {"inet", type_id::inet},            {"smallint", type_id::smallint}, {"tinyint", type_id::tinyint},
    };
    const auto it = names.find(n);
    if (it == names.end()) {
        return std::nullopt;
    }
    return it->second;
}

// The fixed size of a type's values, 0 for variable-size types.
std::size_t fixed_size(type_id id) {
    switch (id) {
        case type_id::int_:
        case type_id::float_: return 4;
        case type_id::bigint:
        case type_id::counter:
        case type_id::timestamp:
        case type_id::double_: return 8;
        case type_id::uuid:
        case type_id::timeuuid: return 16;
        case type_id::boolean:
        case type_id::tinyint: return 1;
        case type_id::smallint: return 2;
        default: return 0;
    }
}

// --- Value bytes ---------------------------------------------------------------------------

std::string be_bytes(std::uint64_t v, std::size_t n) {
    std::string out(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        out[n - 1 - i] = static_cast<char>((v >> (8 * i)) & 0xFFU);
    }
    return out;
}

std::int64_t be_signed(std::string_view b) {
    if (b.empty()) {
        return 0;
    }
    std::uint64_t v = (static_cast<std::uint8_t>(b[0]) & 0x80U) != 0 ? ~std::uint64_t{0} : 0;
    for (const char c : b) {
        v = (v << 8U) | static_cast<std::uint8_t>(c);
    }
    return static_cast<std::int64_t>(v);
}

std::uint64_t uuid_time(std::string_view u) {
    const auto byte = [&](std::size_t i) { return static_cast<std::uint64_t>(static_cast<std::uint8_t>(u[i])); };
    const std::uint64_t low = (byte(0) << 24U) | (byte(1) << 16U) | (byte(2) << 8U) | byte(3);
    const std::uint64_t mid = (byte(4) << 8U) | byte(5);
    const std::uint64_t high = ((byte(6) & 0x0FU) << 8U) | byte(7);
    return (high << 48U) | (mid << 32U) | low;
}

int sign(auto a, auto b) {
    if (a < b) {
        return -1;
    }
    return a > b ? 1 : 0;
}

// Orders two serialized values of one type as Cassandra does.
int compare_values(const cql::data_type& t, std::string_view a, std::string_view b) {
    if (a.empty() || b.empty()) {
        return sign(a.size(), b.size());
    }
    switch (t.id) {
        case type_id::int_:
        case type_id::bigint:
        case type_id::counter:
        case type_id::timestamp:
        case type_id::smallint:
        case type_id::tinyint: return sign(be_signed(a), be_signed(b));
        case type_id::double_:
            if (a.size() == 8 && b.size() == 8) {
                return sign(std::bit_cast<double>(static_cast<std::uint64_t>(be_signed(a))),
                            std::bit_cast<double>(static_cast<std::uint64_t>(be_signed(b))));
            }
            break;
        case type_id::float_:
            if (a.size() == 4 && b.size() == 4) {
                return sign(std::bit_cast<float>(static_cast<std::uint32_t>(be_signed(a))),
                            std::bit_cast<float>(static_cast<std::uint32_t>(be_signed(b))));
            }
            break;
        case type_id::timeuuid:
        case type_id::uuid:
            if (a.size() == 16 && b.size() == 16) {
                const int va = static_cast<std::uint8_t>(a[6]) >> 4U;
                const int vb = static_cast<std::uint8_t>(b[6]) >> 4U;
                if (va != vb) {
                    return sign(va, vb);
                }
                // Version-1 UUIDs order by their time first, as TimeUUIDType does.
                if (va == 1) {
                    const int c = sign(uuid_time(a), uuid_time(b));
                    if (c != 0) {
                        return c;
                    }
                }
            }
            break;
        default: break;
    }
    const int c = a.compare(b);  // char_traits<char> compares as unsigned char: bytewise
    return sign(c, 0);
}

std::string encode_collection(const std::vector<std::string>& elements) {
    std::string out = be_bytes(elements.size(), 4);
    for (const auto& e : elements) {
        out += be_bytes(e.size(), 4);
        out += e;
    }
    return out;
}

std::string encode_set(const cql::data_type& element, std::vector<std::string> elements) {
    std::sort(elements.begin(), elements.end(),
              [&](const std::string& a, const std::string& b) { return compare_values(element, a, b) < 0; });
    elements.erase(std::unique(elements.begin(), elements.end(),
                               [&](const std::string& a, const std::string& b) {
                                   return compare_values(element, a, b) == 0;
                               }),
                   elements.end());
    return encode_collection(elements);
}

std::string parse_uuid_text(std::string_view text) {
    std::string out;
    std::string digits;
    for (const char c : text) {
        if (c != '-') {
            digits += c;
        }
    }
    for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
        out += static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16));
    }
    return out;
}

std::string term_kind_name(term_kind k) {
    switch (k) {
        case term_kind::string: return "STRING";
        case term_kind::integer: return "INTEGER";
        case term_kind::floating: return "FLOAT";
        case term_kind::hex: return "HEX";
        case term_kind::uuid: return "UUID";
        case term_kind::boolean: return "BOOLEAN";
        case term_kind::set_or_map: return "set or map literal";
        case term_kind::list: return "list literal";
        case term_kind::function: return "function call";
        default: return "value";
    }
}

[[noreturn]] void bad_literal(const term& t, const cql::data_type& type, std::string_view column) {
    invalid(fmt::format("Invalid {} constant ({}) for \"{}\" of type {}", term_kind_name(t.kind), t.text, column,
                        type_name(type)));
}

cql::timeuuid_generator& time_uuids() {
    static cql::timeuuid_generator generator;
    return generator;
}

// A literal as the bytes of a value of `type`.
cql::value literal(const term& t, const cql::data_type& type, std::string_view column, std::int64_t now_ms) {
    if (t.kind == term_kind::null) {
        return std::nullopt;
    }
    if (t.kind == term_kind::marker) {
        invalid(fmt::format("bind markers inside collection literals are not supported by the test peer (\"{}\")",
                            column));
    }
    if (t.kind == term_kind::function) {
        if (t.text == "now" && (type.id == type_id::timeuuid || type.id == type_id::uuid)) {
            const auto u = time_uuids().next(now_ms);
            return std::string(reinterpret_cast<const char*>(u.data()), u.size());
        }
        invalid(fmt::format("Unknown function {}() for \"{}\" (the test peer knows now())", t.text, column));
    }
    switch (type.id) {
        case type_id::int_:
        case type_id::bigint:
        case type_id::counter:
        case type_id::timestamp:
        case type_id::smallint:
        case type_id::tinyint: {
            if (t.kind != term_kind::integer) {
                bad_literal(t, type, column);
            }
            std::int64_t v = 0;
            const auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
            const std::size_t n = fixed_size(type.id);
            const std::int64_t max = n == 8 ? std::numeric_limits<std::int64_t>::max()
                                            : (std::int64_t{1} << (8 * n - 1)) - 1;
            if (ec != std::errc{} || v > max || v < -max - 1) {
                invalid(fmt::format("Invalid {} constant ({}) for \"{}\": out of range", type_name(type), t.text,
                                    column));
            }
            return be_bytes(static_cast<std::uint64_t>(v), n);
        }
        case type_id::double_:
        case type_id::float_: {
            if (t.kind != term_kind::integer && t.kind != term_kind::floating) {
                bad_literal(t, type, column);
            }
            const double d = std::strtod(t.text.c_str(), nullptr);
            if (type.id == type_id::double_) {
                return be_bytes(std::bit_cast<std::uint64_t>(d), 8);
            }
            return be_bytes(std::bit_cast<std::uint32_t>(static_cast<float>(d)), 4);
        }
        case type_id::boolean:
            if (t.kind != term_kind::boolean) {
                bad_literal(t, type, column);
            }
            return std::string(1, t.text == "true" ? '\1' : '\0');
        case type_id::varchar:
        case type_id::ascii:
            if (t.kind != term_kind::string) {
                bad_literal(t, type, column);
            }
            return t.text;
        case type_id::blob: {
            if (t.kind != term_kind::hex || t.text.size() % 2 != 0) {
                bad_literal(t, type, column);
            }
            std::string out;
            for (std::size_t i = 0; i < t.text.size(); i += 2) {
                out += static_cast<char>(std::stoi(t.text.substr(i, 2), nullptr, 16));
            }
            return out;
        }
        case type_id::uuid:
        case type_id::timeuuid: {
            if (t.kind != term_kind::uuid) {
                bad_literal(t, type, column);
            }
            auto bytes = parse_uuid_text(t.text);
            if (type.id == type_id::timeuuid && (static_cast<std::uint8_t>(bytes[6]) >> 4U) != 1) {
                invalid(fmt::format("Unsupported UUID for timeuuid \"{}\": {} is not a version 1 UUID", column, t.text));
            }
            return bytes;
        }
        case type_id::inet: {
            if (t.kind != term_kind::string) {
                bad_literal(t, type, column);
            }
            std::array<unsigned char, 16> buf{};
            if (inet_pton(AF_INET, t.text.c_str(), buf.data()) == 1) {
                return std::string(reinterpret_cast<const char*>(buf.data()), 4);
            }
            if (inet_pton(AF_INET6, t.text.c_str(), buf.data()) == 1) {
                return std::string(reinterpret_cast<const char*>(buf.data()), 16);
            }
            invalid(fmt::format("Unable to make inet address from '{}' for \"{}\"", t.text, column));
        }
        case type_id::list:
        case type_id::set: {
            const bool ok = type.id == type_id::list ? t.kind == term_kind::list
                                                     : (t.kind == term_kind::set_or_map && !t.is_map);
            if (!ok) {
                bad_literal(t, type, column);
            }
            std::vector<std::string> elements;
            for (const auto& item : t.items) {
                auto v = literal(item, type.params.at(0), column, now_ms);
                if (!v) {
                    invalid(fmt::format("null is not supported inside collections (\"{}\")", column));
                }
                elements.push_back(std::move(*v));
            }
            if (type.id == type_id::set) {
                return encode_set(type.params.at(0), std::move(elements));
            }
            return encode_collection(elements);
        }
        case type_id::map: {
            if (t.kind != term_kind::set_or_map || (!t.is_map && !t.items.empty())) {
                bad_literal(t, type, column);
            }
            std::vector<std::pair<std::string, std::string>> entries;
            for (std::size_t i = 0; i + 1 < t.items.size(); i += 2) {
                auto k = literal(t.items[i], type.params.at(0), column, now_ms);
                auto v = literal(t.items[i + 1], type.params.at(1), column, now_ms);
                if (!k || !v) {
                    invalid(fmt::format("null is not supported inside collections (\"{}\")", column));
                }
                entries.emplace_back(std::move(*k), std::move(*v));
            }
            const auto& key_type = type.params.at(0);
            std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
                return compare_values(key_type, a.first, b.first) < 0;
            });
            std::string out = be_bytes(entries.size(), 4);
            for (const auto& [k, v] : entries) {
                out += be_bytes(k.size(), 4) + k + be_bytes(v.size(), 4) + v;
            }
            return out;
        }
        default: invalid(fmt::format("the test peer has no literals of type {}", type_name(type)));
    }
}

// --- Parser --------------------------------------------------------------------------------

class parser {
public:
    explicit parser(std::string_view text) : text_(text), tokens_(lex(text)) {}

    statement parse() {
        statement st = parse_statement();
        accept_symbol(";");
        if (peek().kind != tk::end) {
            unexpected("end of statement");
        }
        return st;
    }
    [[nodiscard]] std::size_t markers() const { return markers_; }

private:
    [[nodiscard]] const token& peek(std::size_t ahead = 0) const {
        return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
    }
    token next() {
        token t = peek();
        if (pos_ < tokens_.size() - 1) {
            ++pos_;
        }
        return t;
    }
    [[nodiscard]] bool at_keyword(std::string_view kw, std::size_t ahead = 0) const {
        return peek(ahead).kind == tk::ident && peek(ahead).text == kw;
    }
    bool accept_keyword(std::string_view kw) {
        if (at_keyword(kw)) {
            next();
            return true;
        }
        return false;
    }
    void expect_keyword(std::string_view kw) {
        if (!accept_keyword(kw)) {
            unexpected(fmt::format("'{}'", lower(kw)));
        }
    }
    [[nodiscard]] bool at_symbol(std::string_view s) const { return peek().kind == tk::symbol && peek().text == s; }
    bool accept_symbol(std::string_view s) {
        if (at_symbol(s)) {
            next();
            return true;
        }
        return false;
    }
    void expect_symbol(std::string_view s) {
        if (!accept_symbol(s)) {
            unexpected(fmt::format("'{}'", s));
        }
    }
    [[noreturn]] void unexpected(std::string_view expecting) const {
        const token& t = peek();
        const std::string got = t.kind == tk::end ? std::string("<EOF>") : std::string(text_.substr(t.pos, std::max<std::size_t>(t.text.size(), 1)));
        syntax(fmt::format("line 1:{} mismatched input '{}' expecting {} (in \"{}\")", t.pos, got, expecting, text_));
    }
    [[noreturn]] void unsupported(std::string_view what) const {
        invalid(fmt::format("{} is not supported by the rtcrm CQL test peer (in \"{}\")", what, text_));
    }

    std::string name() {
        if (peek().kind == tk::ident || peek().kind == tk::quoted) {
            return next().text;
        }
        unexpected("an identifier");
    }
    qualified_name qualified() {
        qualified_name q;
        q.table = name();
        if (accept_symbol(".")) {
            q.keyspace = std::move(q.table);
            q.table = name();
        }
        return q;
    }

    term parse_term() {
        const token& t = peek();
        term out;
        switch (t.kind) {
            case tk::marker:
                out.kind = term_kind::marker;
                out.text = t.text;
                out.marker = markers_++;
                next();
                return out;
            case tk::string: out.kind = term_kind::string; break;
            case tk::integer: out.kind = term_kind::integer; break;
            case tk::floating: out.kind = term_kind::floating; break;
            case tk::hex: out.kind = term_kind::hex; break;
            case tk::uuid: out.kind = term_kind::uuid; break;
            case tk::ident:
                if (t.text == "true" || t.text == "false") {
                    out.kind = term_kind::boolean;
                    break;
                }
                if (t.text == "null") {
                    out.kind = term_kind::null;
                    break;
                }
                if (peek(1).kind == tk::symbol && peek(1).text == "(") {
                    out.kind = term_kind::function;
                    out.text = next().text;
                    next();
                    if (!accept_symbol(")")) {
                        unsupported(fmt::format("the function call {}(...) with arguments", out.text));
                    }
                    return out;
                }
                unexpected("a value");
            case tk::symbol:
                if (t.text == "{" || t.text == "[") {
                    return parse_collection();
                }
                unexpected("a value");
            default: unexpected("a value");
        }
        out.text = next().text;
        return out;
    }

    term parse_collection() {
        term out;
        const bool list = next().text == "[";
        out.kind = list ? term_kind::list : term_kind::set_or_map;
        const std::string_view close = list ? "]" : "}";
        if (accept_symbol(close)) {
            return out;
        }
        for (;;) {
            out.items.push_back(parse_term());
            if (!list && (out.items.size() == 1 ? at_symbol(":") : out.is_map)) {
                out.is_map = true;
                expect_symbol(":");
                out.items.push_back(parse_term());
            }
            if (accept_symbol(close)) {
                return out;
            }
            expect_symbol(",");
        }
    }

    cql::data_type parse_type() {
        const std::string n = name();
        if (n == "frozen") {
            expect_symbol("<");
            auto inner = parse_type();
            expect_symbol(">");
            return inner;
        }
        if (n == "list" || n == "set" || n == "map") {
            cql::data_type t = simple_type(n == "list" ? type_id::list : n == "set" ? type_id::set : type_id::map);
            expect_symbol("<");
            t.params.push_back(parse_type());
            if (n == "map") {
                expect_symbol(",");
                t.params.push_back(parse_type());
            }
            expect_symbol(">");
            return t;
        }
        if (n == "counter") {
            unsupported("the counter type");
        }
        const auto id = simple_type_named(n);
        if (!id) {
            invalid(fmt::format("Unknown type {} (the test peer knows text, varchar, ascii, blob, int, bigint, "
                                "smallint, tinyint, timestamp, timeuuid, uuid, boolean, double, float, inet, list, "
                                "set, map)", n));
        }
        return simple_type(*id);
    }

    relation parse_relation() {
        relation r;
        if (at_keyword("token") && peek(1).kind == tk::symbol && peek(1).text == "(") {
            next();
            next();
            r.token = true;
            do {
                r.columns.push_back(name());
            } while (accept_symbol(","));
            expect_symbol(")");
        } else if (at_symbol("(")) {
            unsupported("a multi-column relation");
        } else {
            r.columns.push_back(name());
        }
        if (at_keyword("in")) {
            unsupported("an IN relation");
        }
        if (at_keyword("contains") || at_keyword("like")) {
            unsupported(fmt::format("a {} relation", peek().text));
        }
        const token& op = peek();
        if (op.kind != tk::symbol || (op.text != "=" && op.text != "<" && op.text != ">" && op.text != "<=" &&
                                      op.text != ">=" && op.text != "!=")) {
            unexpected("a relation operator");
        }
        r.op = next().text;
        r.value = parse_term();
        return r;
    }

    std::vector<relation> parse_where() {
        std::vector<relation> out;
        if (!accept_keyword("where")) {
            return out;
        }
        do {
            out.push_back(parse_relation());
        } while (accept_keyword("and"));
        return out;
    }

    void parse_using(std::optional<term>* ttl, std::optional<term>& timestamp) {
        if (!accept_keyword("using")) {
            return;
        }
        do {
            if (ttl != nullptr && accept_keyword("ttl")) {
                *ttl = parse_term();
            } else if (accept_keyword("timestamp")) {
                timestamp = parse_term();
            } else {
                unexpected(ttl != nullptr ? "TTL or TIMESTAMP" : "TIMESTAMP");
            }
        } while (accept_keyword("and"));
    }

    void refuse_conditions() {
        if (at_keyword("if")) {
            unsupported("a lightweight transaction (IF ...)");
        }
    }

    statement parse_statement() {
        if (accept_keyword("select")) {
            return parse_select();
        }
        if (accept_keyword("insert")) {
            return parse_insert();
        }
        if (accept_keyword("update")) {
            return parse_update();
        }
        if (accept_keyword("delete")) {
            return parse_delete();
        }
        if (accept_keyword("begin")) {
            return parse_batch();
        }
        if (accept_keyword("use")) {
            return use_st{name()};
        }
        if (accept_keyword("create")) {
            return parse_create();
        }
        if (accept_keyword("drop")) {
            return parse_drop();
        }
        if (accept_keyword("truncate")) {
            accept_keyword("table");
            return truncate_st{qualified()};
        }
        static const std::set<std::string, std::less<>> other_statements{"alter", "grant", "revoke", "list"};
        if (peek().kind == tk::ident && other_statements.count(peek().text) != 0) {
            unsupported(fmt::format("the statement {}", lower(peek().text)));
        }
        unexpected("a statement");
    }

    select_st parse_select() {
        select_st st;
        if (at_keyword("json") || at_keyword("distinct")) {
            unsupported(fmt::format("SELECT {}", peek().text));
        }
        if (accept_symbol("*")) {
            st.star = true;
        } else if (at_keyword("count") && peek(1).kind == tk::symbol && peek(1).text == "(") {
            next();
            next();
            if (!accept_symbol("*") && !(peek().kind == tk::integer && peek().text == "1" && (next(), true))) {
                unexpected("'*' or 1");
            }
            expect_symbol(")");
            st.count = true;
            if (accept_keyword("as")) {
                st.count_alias = name();
            }
        } else {
            do {
                if (peek(1).kind == tk::symbol && peek(1).text == "(") {
                    unsupported(fmt::format("the selector {}(...)", peek().text));
                }
                selector s;
                s.column = name();
                s.alias = accept_keyword("as") ? name() : s.column;
                st.columns.push_back(std::move(s));
            } while (accept_symbol(","));
        }
        expect_keyword("from");
        st.name = qualified();
        st.where = parse_where();
        if (accept_keyword("group")) {
            unsupported("GROUP BY");
        }
        if (accept_keyword("order")) {
            expect_keyword("by");
            do {
                std::string col = name();
                bool desc = false;
                if (accept_keyword("desc")) {
                    desc = true;
                } else {
                    accept_keyword("asc");
                }
                st.order_by.emplace_back(std::move(col), desc);
            } while (accept_symbol(","));
        }
        if (at_keyword("per")) {
            unsupported("PER PARTITION LIMIT");
        }
        if (accept_keyword("limit")) {
            st.limit = parse_term();
        }
        if (accept_keyword("allow")) {
            expect_keyword("filtering");
            st.allow_filtering = true;
        }
        return st;
    }

    insert_st parse_insert() {
        insert_st st;
        expect_keyword("into");
        st.name = qualified();
        if (at_keyword("json")) {
            unsupported("INSERT JSON");
        }
        expect_symbol("(");
        do {
            st.columns.push_back(name());
        } while (accept_symbol(","));
        expect_symbol(")");
        expect_keyword("values");
        expect_symbol("(");
        do {
            st.values.push_back(parse_term());
        } while (accept_symbol(","));
        expect_symbol(")");
        refuse_conditions();
        parse_using(&st.ttl, st.timestamp);
        refuse_conditions();
        return st;
    }

    update_st parse_update() {
        update_st st;
        st.name = qualified();
        parse_using(&st.ttl, st.timestamp);
        expect_keyword("set");
        do {
            std::string col = name();
            if (at_symbol("[") || at_symbol(".")) {
                unsupported("an element or field assignment");
            }
            expect_symbol("=");
            term value = parse_term();
            if (at_symbol("+") || at_symbol("-") || value.kind == term_kind::function) {
                unsupported("a counter or collection update (only \"column = value\" is)");
            }
            st.set.emplace_back(std::move(col), std::move(value));
        } while (accept_symbol(","));
        st.where = parse_where();
        refuse_conditions();
        return st;
    }

    delete_st parse_delete() {
        delete_st st;
        if (!at_keyword("from")) {
            do {
                st.columns.push_back(name());
                if (at_symbol("[") || at_symbol(".")) {
                    unsupported("deleting a collection element or field");
                }
            } while (accept_symbol(","));
        }
        expect_keyword("from");
        st.name = qualified();
        parse_using(nullptr, st.timestamp);
        st.where = parse_where();
        refuse_conditions();
        return st;
    }

    batch_st parse_batch() {
        batch_st st;
        if (accept_keyword("counter")) {
            unsupported("a counter batch");
        }
        if (!accept_keyword("unlogged")) {
            accept_keyword("logged");
        }
        expect_keyword("batch");
        parse_using(nullptr, st.timestamp);
        while (!accept_keyword("apply")) {
            if (accept_keyword("insert")) {
                st.statements.emplace_back(parse_insert());
            } else if (accept_keyword("update")) {
                st.statements.emplace_back(parse_update());
            } else if (accept_keyword("delete")) {
                st.statements.emplace_back(parse_delete());
            } else {
                unexpected("INSERT, UPDATE, DELETE or APPLY BATCH");
            }
            accept_symbol(";");
        }
        expect_keyword("batch");
        return st;
    }

    statement parse_create() {
        if (accept_keyword("keyspace") || accept_keyword("schema")) {
            create_keyspace_st st;
            st.if_not_exists = parse_if_not_exists();
            st.name = name();
            expect_keyword("with");
            do {
                const std::string prop = name();
                expect_symbol("=");
                const term value = parse_term();
                if (prop == "replication") {
                    if (value.kind != term_kind::set_or_map || !value.is_map) {
                        invalid("replication must be a map, e.g. {'class': 'SimpleStrategy', 'replication_factor': 1}");
                    }
                    for (std::size_t i = 0; i + 1 < value.items.size(); i += 2) {
                        st.replication[value.items[i].text] = value.items[i + 1].text;
                    }
                } else if (prop == "durable_writes") {
                    st.durable_writes = value.text == "true";
                } else {
                    syntax(fmt::format("Unknown property '{}'", prop));
                }
            } while (accept_keyword("and"));
            return st;
        }
        if (accept_keyword("table") || accept_keyword("columnfamily")) {
            return parse_create_table();
        }
        unsupported(fmt::format("CREATE {}", peek().kind == tk::end ? std::string("<EOF>") : lower(peek().text)));
    }

    bool parse_if_not_exists() {
        if (accept_keyword("if")) {
            expect_keyword("not");
            expect_keyword("exists");
            return true;
        }
        return false;
    }

    create_table_st parse_create_table() {
        create_table_st st;
        st.if_not_exists = parse_if_not_exists();
        st.name = qualified();
        expect_symbol("(");
        do {
            if (at_keyword("primary") && at_keyword("key", 1)) {
                next();
                next();
                expect_symbol("(");
                if (accept_symbol("(")) {
                    do {
                        st.partition_key.push_back(name());
                    } while (accept_symbol(","));
                    expect_symbol(")");
                } else {
                    st.partition_key.push_back(name());
                }
                while (accept_symbol(",")) {
                    st.clustering_key.push_back(name());
                }
                expect_symbol(")");
                continue;
            }
            column_decl c;
            c.name = name();
            c.type = parse_type();
            if (accept_keyword("static")) {
                unsupported("a static column");
            }
            if (accept_keyword("primary")) {
                expect_keyword("key");
                st.partition_key.push_back(c.name);
            }
            st.columns.push_back(std::move(c));
        } while (accept_symbol(",") && !at_symbol(")"));
        expect_symbol(")");
        if (accept_keyword("with")) {
            do {
                if (accept_keyword("clustering")) {
                    expect_keyword("order");
                    expect_keyword("by");
                    expect_symbol("(");
                    do {
                        std::string col = name();
                        bool desc = false;
                        if (accept_keyword("desc")) {
                            desc = true;
                        } else {
                            expect_keyword("asc");
                        }
                        st.clustering_order.emplace_back(std::move(col), desc);
                    } while (accept_symbol(","));
                    expect_symbol(")");
                    continue;
                }
                if (accept_keyword("compact")) {
                    expect_keyword("storage");
                    continue;
                }
                const std::string prop = name();
                expect_symbol("=");
                const term value = parse_term();
                static const std::set<std::string, std::less<>> known{
                    "bloom_filter_fp_chance", "caching", "cdc", "comment", "compaction", "compression",
                    "crc_check_chance", "dclocal_read_repair_chance", "default_time_to_live", "gc_grace_seconds",
                    "max_index_interval", "memtable_flush_period_in_ms", "min_index_interval", "read_repair_chance",
                    "speculative_retry", "id"};
                if (known.find(prop) == known.end()) {
                    syntax(fmt::format("Unknown property '{}'", prop));
                }
                if (prop == "default_time_to_live") {
                    std::int64_t v = -1;
                    std::from_chars(value.text.data(), value.text.data() + value.text.size(), v);
                    if (value.kind != term_kind::integer || v < 0 || v > 630720000) {
                        invalid(fmt::format("default_time_to_live must be an integer between 0 and 630720000, not {}",
                                            value.text));
                    }
                    st.default_ttl = static_cast<std::int32_t>(v);
                }
            } while (accept_keyword("and"));
        }
        return st;
    }

    statement parse_drop() {
        drop_st st;
        if (accept_keyword("keyspace") || accept_keyword("schema")) {
            st.keyspace = true;
        } else if (!accept_keyword("table") && !accept_keyword("columnfamily")) {
            unsupported(fmt::format("DROP {}", peek().kind == tk::end ? std::string("<EOF>") : lower(peek().text)));
        }
        if (accept_keyword("if")) {
            expect_keyword("exists");
            st.if_exists = true;
        }
        if (st.keyspace) {
            st.name.keyspace = name();
        } else {
            st.name = qualified();
        }
        return st;
    }

    std::string_view text_;
    std::vector<token> tokens_;
    std::size_t pos_ = 0;
    std::size_t markers_ = 0;
};

// --- Tables --------------------------------------------------------------------------------

enum class column_kind { partition_key, clustering, regular };

struct column_def {
    std::string name;
    cql::data_type type;
    column_kind kind = column_kind::regular;
    bool desc = false;      // clustering order
    std::size_t position = 0;  // within the partition or clustering key
};

struct cell {
    cql::value v;
    std::int64_t expires_ms = 0;  // 0: never
    std::int64_t ts = std::numeric_limits<std::int64_t>::min();
};

struct row {
    bool marker = false;  // INSERT writes a row marker, so the row lives on with all cells null
    std::int64_t marker_expires_ms = 0;
    std::int64_t marker_ts = std::numeric_limits<std::int64_t>::min();
    std::map<std::size_t, cell> cells;  // by column index
};

struct clustering_spec {
    cql::data_type type;
    bool desc = false;
};

struct clustering_less {
    std::shared_ptr<const std::vector<clustering_spec>> specs;
    bool operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const {
        for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
            int c = compare_values((*specs)[i].type, a[i], b[i]);
            if ((*specs)[i].desc) {
                c = -c;
            }
            if (c != 0) {
                return c < 0;
            }
        }
        return a.size() < b.size();
    }
};

using row_map = std::map<std::vector<std::string>, row, clustering_less>;

struct partition {
    std::vector<std::string> key;
    row_map rows;
};

using partition_key = std::pair<std::int64_t, std::string>;  // token, routing key

bool cell_live(const cell& c, std::int64_t now) { return c.v.has_value() && (c.expires_ms == 0 || c.expires_ms > now); }

bool row_live(const row& r, std::int64_t now) {
    if (r.marker && (r.marker_expires_ms == 0 || r.marker_expires_ms > now)) {
        return true;
    }
    return std::any_of(r.cells.begin(), r.cells.end(), [&](const auto& c) { return cell_live(c.second, now); });
}

struct table {
    std::string keyspace;
    std::string name;
    std::vector<column_def> columns;
    std::vector<std::size_t> pk;
    std::vector<std::size_t> ck;
    std::shared_ptr<const std::vector<clustering_spec>> ck_specs;
    std::int32_t default_ttl = 0;
    std::map<partition_key, partition> partitions;

    [[nodiscard]] std::optional<std::size_t> find(std::string_view col) const {
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (columns[i].name == col) {
                return i;
            }
        }
        return std::nullopt;
    }
    [[nodiscard]] std::size_t column(std::string_view col) const {
        const auto i = find(col);
        if (!i) {
            invalid(fmt::format("Undefined column name {} in table {}.{}", col, keyspace, name));
        }
        return *i;
    }
    [[nodiscard]] cql::column_spec spec(std::size_t i) const { return {keyspace, name, columns[i].name, columns[i].type}; }
    // SELECT * order: partition key, clustering key, then the other columns by name.
    [[nodiscard]] std::vector<std::size_t> star() const {
        std::vector<std::size_t> out = pk;
        out.insert(out.end(), ck.begin(), ck.end());
        std::vector<std::size_t> rest;
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (columns[i].kind == column_kind::regular) {
                rest.push_back(i);
            }
        }
        std::sort(rest.begin(), rest.end(), [&](auto a, auto b) { return columns[a].name < columns[b].name; });
        out.insert(out.end(), rest.begin(), rest.end());
        return out;
    }
    [[nodiscard]] std::unique_ptr<table> empty_copy() const {
        auto t = std::make_unique<table>();
        t->keyspace = keyspace;
        t->name = name;
        t->columns = columns;
        t->pk = pk;
        t->ck = ck;
        t->ck_specs = ck_specs;
        t->default_ttl = default_ttl;
        return t;
    }
    [[nodiscard]] std::size_t live_rows(std::int64_t now) const {
        std::size_t n = 0;
        for (const auto& [k, p] : partitions) {
            for (const auto& [ck_values, r] : p.rows) {
                n += row_live(r, now) ? 1 : 0;
            }
        }
        return n;
    }
};

struct keyspace_def {
    std::string name;
    std::map<std::string, std::string> replication;
    bool durable_writes = true;
    std::map<std::string, std::unique_ptr<table>> tables;
};

bool is_system_keyspace(std::string_view ks) {
    return ks == "system" || ks == "system_schema" || ks == "system_auth" || ks == "system_distributed" ||
           ks == "system_traces";
}

partition_key key_of(const std::vector<std::string>& pk_values) {
    std::vector<std::string_view> parts(pk_values.begin(), pk_values.end());
    std::string rk = cql::routing_key(parts);
    const std::int64_t token = cql::murmur3_token(rk);
    return {token, std::move(rk)};
}

}  // namespace

struct cql_table_engine::schema {
    std::map<std::string, keyspace_def> keyspaces;
    std::uint64_t version = 1;  // bumped by every DDL; becomes schema_version

    [[nodiscard]] cql::uuid_bytes version_uuid() const {
        cql::uuid_bytes u{0x5c, 0x4e, 0x3a, 0x10, 0x77, 0x21, 0x40, 0x00, 0x80, 0x00};
        for (std::size_t i = 0; i < 6; ++i) {
            u[15 - i] = static_cast<std::uint8_t>((version >> (8 * i)) & 0xFFU);
        }
        return u;
    }
};

/// A statement as PREPARE registered it.
struct cql_statement {
    std::string text;
    std::string keyspace;  // the connection's keyspace at PREPARE time
    statement parsed;
    std::size_t markers = 0;
};

namespace {

using schema_t = cql_table_engine::schema;

std::string uuid_string(const cql::uuid_bytes& u) { return std::string(reinterpret_cast<const char*>(u.data()), u.size()); }

// What a statement runs against: the engine's state for one request.
struct exec_env {
    schema_t& schema;
    const std::vector<cql_node_info>& nodes;
    const cql_engine_options& options;
    std::int64_t now_ms = 0;
    std::int64_t write_ts_us = 0;  // used when neither USING TIMESTAMP nor the request gives one
    std::size_t node = 0;
};

// Evaluates terms; with no values it is describing a statement for PREPARE: it records the
// column each marker binds and returns nulls.
struct eval_ctx {
    const std::vector<cql::value>* values = nullptr;
    std::vector<std::optional<cql::column_spec>> specs;
    std::map<std::size_t, std::size_t> pk_markers;  // partition key position -> marker index
    std::int64_t now_ms = 0;

    [[nodiscard]] bool describing() const { return values == nullptr; }

    cql::value eval(const term& t, const cql::column_spec& target) {
        if (t.kind == term_kind::marker) {
            if (t.marker < specs.size()) {
                specs[t.marker] = target;
            }
            if (describing()) {
                return std::nullopt;
            }
            const cql::value& v = (*values)[t.marker];
            const std::size_t size = fixed_size(target.type.id);
            if (v && !v->empty() && size != 0 && v->size() != size) {
                invalid(fmt::format("Expected {} or 0 byte {} for \"{}\" ({})", size, type_name(target.type),
                                    target.name, v->size()));
            }
            if (v && target.type.id == type_id::inet && v->size() != 4 && v->size() != 16) {
                invalid(fmt::format("Invalid inet address of {} bytes for \"{}\"", v->size(), target.name));
            }
            return v;
        }
        return literal(t, target.type, target.name, now_ms);
    }
    // An integer parameter (TTL, TIMESTAMP, LIMIT); nullopt while describing or when null.
    std::optional<std::int64_t> eval_int(const term& t, const std::string& name, type_id id) {
        const auto v = eval(t, {"", "", name, simple_type(id)});
        if (!v || v->empty()) {
            return std::nullopt;
        }
        return be_signed(*v);
    }
};

keyspace_def& find_keyspace(schema_t& s, const std::string& name) {
    const auto it = s.keyspaces.find(name);
    if (it == s.keyspaces.end()) {
        invalid(fmt::format("Keyspace {} does not exist", name));
    }
    return it->second;
}

std::string keyspace_of(const qualified_name& n, const std::string& current) {
    if (!n.keyspace.empty()) {
        return n.keyspace;
    }
    if (current.empty()) {
        invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename");
    }
    return current;
}

table& find_table(schema_t& s, const qualified_name& n, const std::string& current) {
    const std::string ks = keyspace_of(n, current);
    auto& k = find_keyspace(s, ks);
    const auto it = k.tables.find(n.table);
    if (it == k.tables.end()) {
        invalid(fmt::format("unconfigured table {}", n.table));
    }
    return *it->second;
}

// --- Writes --------------------------------------------------------------------------------

struct filter {
    std::size_t column = 0;
    std::string op;
    cql::value value;
};

bool matches(const cql::data_type& type, const cql::value& have, const std::string& op, const cql::value& want) {
    if (!have || !want) {
        return false;
    }
    const int c = compare_values(type, *have, *want);
    if (op == "=") {
        return c == 0;
    }
    if (op == "<") {
        return c < 0;
    }
    if (op == "<=") {
        return c <= 0;
    }
    if (op == ">") {
        return c > 0;
    }
    if (op == ">=") {
        return c >= 0;
    }
    return false;
}

enum class mutation_kind { upsert, delete_cells, delete_rows };

struct mutation {
    table* target = nullptr;
    mutation_kind kind = mutation_kind::upsert;
    std::vector<std::string> pk;
    std::vector<std::string> ck;        // upsert, delete_cells: the row
    std::vector<filter> ck_filters;     // delete_rows: rows matching all; none: the whole partition
    bool marker = false;
    std::vector<std::pair<std::size_t, cql::value>> cells;
    std::int64_t ttl_s = 0;
    std::int64_t ts = 0;
};

// The WHERE clause of a statement, taken apart.
struct where_plan {
    std::vector<std::optional<std::string>> pk_eq;  // per partition key position
    std::size_t pk_restricted = 0;
    std::vector<filter> ck_filters;
    std::vector<filter> regular_filters;
    bool has_token = false;
    std::optional<std::int64_t> token_lo;  // exclusive unless lo_inclusive
    bool lo_inclusive = false;
    std::optional<std::int64_t> token_hi;  // inclusive unless !hi_inclusive
    bool hi_inclusive = true;

    [[nodiscard]] bool full_pk() const { return pk_restricted == pk_eq.size(); }
};

where_plan plan_where(const table& t, const std::vector<relation>& where, eval_ctx& ctx) {
    where_plan w;
    w.pk_eq.resize(t.pk.size());
    for (const auto& r : where) {
        if (r.token) {
            std::vector<std::string> pk_names;
            for (const auto i : t.pk) {
                pk_names.push_back(t.columns[i].name);
            }
            if (r.columns != pk_names) {
                invalid(fmt::format("The token function arguments must be in the partition key order: {}",
                                    fmt::join(pk_names, ", ")));
            }
            if (r.op == "!=") {
                invalid("Unsupported \"!=\" relation on token()");
            }
            w.has_token = true;
            const auto v = ctx.eval_int(r.value, "partition key token", type_id::bigint);
            if (ctx.describing()) {
                if (r.value.kind == term_kind::marker) {
                    ctx.specs[r.value.marker].value().keyspace = t.keyspace;
                    ctx.specs[r.value.marker].value().table = t.name;
                }
                continue;
            }
            if (!v) {
                invalid("Invalid null value for the partition key token");
            }
            if (r.op == ">" || r.op == ">=" || r.op == "=") {
                w.token_lo = *v;
                w.lo_inclusive = r.op != ">";
            }
            if (r.op == "<" || r.op == "<=" || r.op == "=") {
                w.token_hi = *v;
                w.hi_inclusive = r.op != "<";
            }
            continue;
        }
        const std::size_t idx = t.column(r.columns.at(0));
        const auto& col = t.columns[idx];
        if (r.op == "!=") {
            invalid(fmt::format("Unsupported \"!=\" relation: {} != ...", col.name));
        }
        if (col.kind == column_kind::partition_key) {
            if (r.op != "=") {
                invalid("Only EQ and IN relation are supported on the partition key (unless you use the token() "
                        "function)");
            }
            if (r.value.kind == term_kind::marker) {
                ctx.pk_markers[col.position] = r.value.marker;
            }
            auto v = ctx.eval(r.value, t.spec(idx));
            if (!ctx.describing() && !v) {
                invalid(fmt::format("Invalid null value in condition for column {}", col.name));
            }
            if (!w.pk_eq[col.position]) {
                ++w.pk_restricted;
            }
            w.pk_eq[col.position] = v ? std::move(*v) : std::string();
            continue;
        }
        filter f{idx, r.op, ctx.eval(r.value, t.spec(idx))};
        if (!ctx.describing() && !f.value) {
            invalid(fmt::format("Invalid null value in condition for column {}", col.name));
        }
        (col.kind == column_kind::clustering ? w.ck_filters : w.regular_filters).push_back(std::move(f));
    }
    if (w.pk_restricted != 0 && !w.full_pk()) {
        std::vector<std::string> missing;
        for (std::size_t i = 0; i < t.pk.size(); ++i) {
            if (!w.pk_eq[i]) {
                missing.push_back(t.columns[t.pk[i]].name);
            }
        }
        invalid(fmt::format("Partition key parts: {} must be restricted as other parts are", fmt::join(missing, ", ")));
    }
    return w;
}

std::vector<std::string> pk_values(const table& t, const where_plan& w, std::string_view verb) {
    if (!w.full_pk()) {
        std::vector<std::string> missing;
        for (std::size_t i = 0; i < t.pk.size(); ++i) {
            if (!w.pk_eq[i]) {
                missing.push_back(t.columns[t.pk[i]].name);
            }
        }
        invalid(fmt::format("Some partition key parts are missing: {} ({} needs the whole partition key)",
                            fmt::join(missing, ", "), verb));
    }
    std::vector<std::string> out;
    for (const auto& v : w.pk_eq) {
        out.push_back(*v);
    }
    return out;
}

// The clustering key of one row from equality filters, or nullopt when they do not name one.
std::optional<std::vector<std::string>> exact_ck(const table& t, const where_plan& w) {
    std::vector<std::optional<std::string>> ck(t.ck.size());
    for (const auto& f : w.ck_filters) {
        if (f.op != "=") {
            return std::nullopt;
        }
        ck[t.columns[f.column].position] = f.value.value_or(std::string());
    }
    std::vector<std::string> out;
    for (auto& v : ck) {
        if (!v) {
            return std::nullopt;
        }
        out.push_back(std::move(*v));
    }
    return out;
}

std::int64_t write_ts(const std::optional<term>& using_ts, eval_ctx& ctx, const exec_env& env,
                      std::optional<std::int64_t> request_ts) {
    if (using_ts) {
        if (const auto v = ctx.eval_int(*using_ts, "[timestamp]", type_id::bigint)) {
            return *v;
        }
    }
    return request_ts.value_or(env.write_ts_us);
}

std::int64_t write_ttl(const std::optional<term>& using_ttl, eval_ctx& ctx, const table& t) {
    if (using_ttl) {
        if (const auto v = ctx.eval_int(*using_ttl, "[ttl]", type_id::int_)) {
            if (*v < 0) {
                invalid(fmt::format("A TTL must be greater or equal to 0, but was {}", *v));
            }
            if (*v > 630720000) {
                invalid(fmt::format("ttl is too large. requested ({}) maximum (630720000)", *v));
            }
            return *v;
        }
        return t.default_ttl;
    }
    return t.default_ttl;
}

mutation plan_write(const write_st& w, const std::string& current_ks, schema_t& s, eval_ctx& ctx,
                    const exec_env& env, std::optional<std::int64_t> request_ts) {
    mutation m;
    if (const auto* ins = std::get_if<insert_st>(&w)) {
        table& t = find_table(s, ins->name, current_ks);
        if (is_system_keyspace(t.keyspace) && !ctx.describing()) {
            fail(cql::error_code::unauthorized, fmt::format("{} keyspace is not user-modifiable.", t.keyspace));
        }
        m.target = &t;
        if (ins->columns.size() != ins->values.size()) {
            invalid(fmt::format("Unmatched column names/values: {} names for {} values", ins->columns.size(),
                                ins->values.size()));
        }
        std::vector<std::optional<std::string>> pk(t.pk.size());
        std::vector<std::optional<std::string>> ck(t.ck.size());
        std::set<std::size_t> seen;
        for (std::size_t i = 0; i < ins->columns.size(); ++i) {
            const std::size_t idx = t.column(ins->columns[i]);
            if (!seen.insert(idx).second) {
                invalid(fmt::format("Multiple definitions found for column {}", ins->columns[i]));
            }
            const auto& col = t.columns[idx];
            if (col.kind == column_kind::partition_key && ins->values[i].kind == term_kind::marker) {
                ctx.pk_markers[col.position] = ins->values[i].marker;
            }
            auto v = ctx.eval(ins->values[i], t.spec(idx));
            if (col.kind == column_kind::regular) {
                m.cells.emplace_back(idx, std::move(v));
                continue;
            }
            if (!ctx.describing() && !v) {
                invalid(fmt::format("Invalid null value in condition for column {}", col.name));
            }
            (col.kind == column_kind::partition_key ? pk : ck)[col.position] = v.value_or(std::string());
        }
        for (std::size_t i = 0; i < t.pk.size(); ++i) {
            if (!pk[i]) {
                invalid(fmt::format("Some partition key parts are missing: {}", t.columns[t.pk[i]].name));
            }
            m.pk.push_back(*pk[i]);
        }
        for (std::size_t i = 0; i < t.ck.size(); ++i) {
            if (!ck[i]) {
                invalid(fmt::format("Some clustering keys are missing: {}", t.columns[t.ck[i]].name));
            }
            m.ck.push_back(*ck[i]);
        }
        m.marker = true;
        m.ttl_s = write_ttl(ins->ttl, ctx, t);
        m.ts = write_ts(ins->timestamp, ctx, env, request_ts);
        return m;
    }
    if (const auto* up = std::get_if<update_st>(&w)) {
        table& t = find_table(s, up->name, current_ks);
        if (is_system_keyspace(t.keyspace) && !ctx.describing()) {
            fail(cql::error_code::unauthorized, fmt::format("{} keyspace is not user-modifiable.", t.keyspace));
        }
        m.target = &t;
        // Cassandra numbers markers left to right: USING, then SET, then WHERE; evaluate in that order.
        m.ttl_s = write_ttl(up->ttl, ctx, t);
        m.ts = write_ts(up->timestamp, ctx, env, request_ts);
        for (const auto& [name, value] : up->set) {
            const std::size_t idx = t.column(name);
            if (t.columns[idx].kind != column_kind::regular) {
                invalid(fmt::format("PRIMARY KEY part {} found in SET part", name));
            }
            m.cells.emplace_back(idx, ctx.eval(value, t.spec(idx)));
        }
        const where_plan wp = plan_where(t, up->where, ctx);
        if (!wp.regular_filters.empty() || wp.has_token) {
            invalid("UPDATE's WHERE clause may only restrict primary key columns by equality");
        }
        m.pk = pk_values(t, wp, "UPDATE");
        const auto ck = exact_ck(t, wp);
        if (!ck) {
            invalid(fmt::format("Some clustering keys are missing or not restricted by equality (UPDATE of {}.{})",
                                t.keyspace, t.name));
        }
        m.ck = *ck;
        return m;
    }
    const auto& del = std::get<delete_st>(w);
    table& t = find_table(s, del.name, current_ks);
    if (is_system_keyspace(t.keyspace) && !ctx.describing()) {
        fail(cql::error_code::unauthorized, fmt::format("{} keyspace is not user-modifiable.", t.keyspace));
    }
    m.target = &t;
    m.ts = write_ts(del.timestamp, ctx, env, request_ts);
    const where_plan wp = plan_where(t, del.where, ctx);
    if (!wp.regular_filters.empty() || wp.has_token) {
        invalid("DELETE's WHERE clause may only restrict primary key columns");
    }
    m.pk = pk_values(t, wp, "DELETE");
    if (!del.columns.empty()) {
        const auto ck = exact_ck(t, wp);
        if (!ck) {
            invalid("Deleting columns needs the whole primary key restricted by equality");
        }
        m.kind = mutation_kind::delete_cells;
        m.ck = *ck;
        for (const auto& name : del.columns) {
            const std::size_t idx = t.column(name);
            if (t.columns[idx].kind != column_kind::regular) {
                invalid(fmt::format("Invalid identifier {} for deletion (should not be a PRIMARY KEY part)", name));
            }
            m.cells.emplace_back(idx, std::nullopt);
        }
        return m;
    }
    m.kind = mutation_kind::delete_rows;
    m.ck_filters = wp.ck_filters;
    return m;
}

void apply(const mutation& m, std::int64_t now_ms) {
    table& t = *m.target;
    const auto key = key_of(m.pk);
    if (m.kind == mutation_kind::upsert) {
        auto [it, created] = t.partitions.try_emplace(key, partition{m.pk, row_map(clustering_less{t.ck_specs})});
        row& r = it->second.rows[m.ck];
        const std::int64_t expires = m.ttl_s > 0 ? now_ms + m.ttl_s * 1000 : 0;
        if (m.marker && m.ts >= r.marker_ts) {
            r.marker = true;
            r.marker_ts = m.ts;
            r.marker_expires_ms = expires;
        }
        for (const auto& [idx, v] : m.cells) {
            cell& c = r.cells[idx];
            if (m.ts >= c.ts) {
                c.v = v;
                c.ts = m.ts;
                c.expires_ms = v ? expires : 0;
            }
        }
        return;
    }
    const auto pit = t.partitions.find(key);
    if (pit == t.partitions.end()) {
        return;
    }
    auto& rows = pit->second.rows;
    if (m.kind == mutation_kind::delete_cells) {
        const auto rit = rows.find(m.ck);
        if (rit == rows.end()) {
            return;
        }
        for (const auto& [idx, v] : m.cells) {
            cell& c = rit->second.cells[idx];
            if (m.ts >= c.ts) {
                c.v.reset();
                c.ts = m.ts;
            }
        }
        return;
    }
    if (m.ck_filters.empty()) {
        t.partitions.erase(pit);
        return;
    }
    for (auto rit = rows.begin(); rit != rows.end();) {
        const bool hit = std::all_of(m.ck_filters.begin(), m.ck_filters.end(), [&](const filter& f) {
            const auto& col = t.columns[f.column];
            return matches(col.type, rit->first[col.position], f.op, f.value);
        });
        rit = hit ? rows.erase(rit) : std::next(rit);
    }
    if (rows.empty()) {
        t.partitions.erase(pit);
    }
}

// --- System tables -------------------------------------------------------------------------

void put_row(table& t, const std::vector<std::pair<std::string, cql::value>>& values) {
    mutation m;
    m.target = &t;
    m.marker = true;
    std::vector<std::string> pk(t.pk.size());
    std::vector<std::string> ck(t.ck.size());
    for (const auto& [name, v] : values) {
        const std::size_t idx = t.column(name);
        const auto& col = t.columns[idx];
        if (col.kind == column_kind::partition_key) {
            pk[col.position] = v.value_or(std::string());
        } else if (col.kind == column_kind::clustering) {
            ck[col.position] = v.value_or(std::string());
        } else {
            m.cells.emplace_back(idx, v);
        }
    }
    m.pk = std::move(pk);
    m.ck = std::move(ck);
    apply(m, 0);
}

std::string inet_bytes(const std::string& address) {
    std::array<unsigned char, 16> buf{};
    if (inet_pton(AF_INET, address.c_str(), buf.data()) == 1) {
        return std::string(reinterpret_cast<const char*>(buf.data()), 4);
    }
    if (inet_pton(AF_INET6, address.c_str(), buf.data()) == 1) {
        return std::string(reinterpret_cast<const char*>(buf.data()), 16);
    }
    return std::string(4, '\0');
}

std::string token_set(const cql_node_info& n) {
    std::vector<std::string> tokens;
    for (const auto t : n.tokens) {
        tokens.push_back(std::to_string(t));
    }
    return encode_set(simple_type(type_id::varchar), std::move(tokens));
}

std::string text_map(const std::map<std::string, std::string>& m) {
    std::string out = be_bytes(m.size(), 4);
    for (const auto& [k, v] : m) {
        out += be_bytes(k.size(), 4) + k + be_bytes(v.size(), 4) + v;
    }
    return out;
}

// system.local, system.peers and system_schema.* are computed at each read: they depend on
// the node asked and on the current schema.
std::unique_ptr<table> virtual_table(const table& def, const exec_env& env) {
    const auto ks = def.keyspace;
    const auto name = def.name;
    const bool known = (ks == "system" && (name == "local" || name == "peers")) ||
                       (ks == "system_schema" && (name == "keyspaces" || name == "tables" || name == "columns"));
    if (!known) {
        return nullptr;
    }
    auto t = def.empty_copy();
    const std::string schema_version = uuid_string(env.schema.version_uuid());
    if (ks == "system" && name == "local") {
        const auto& n = env.nodes.at(env.node);
        put_row(*t, {{"key", std::string("local")},
                     {"bootstrapped", std::string("COMPLETED")},
                     {"broadcast_address", inet_bytes(n.address)},
                     {"cluster_name", env.options.cluster_name},
                     {"cql_version", std::string("3.4.5")},
                     {"data_center", env.options.datacenter},
                     {"host_id", uuid_string(n.host_id)},
                     {"listen_address", inet_bytes(n.address)},
                     {"native_protocol_version", std::string("4")},
                     {"partitioner", std::string("org.apache.cassandra.dht.Murmur3Partitioner")},
                     {"rack", std::string("rack1")},
                     {"release_version", std::string("3.11.16")},
                     {"rpc_address", inet_bytes(n.address)},
                     {"schema_version", schema_version},
                     {"tokens", token_set(n)}});
    } else if (ks == "system" && name == "peers") {
        for (std::size_t i = 0; i < env.nodes.size(); ++i) {
            if (i == env.node) {
                continue;
            }
            const auto& n = env.nodes[i];
            put_row(*t, {{"peer", inet_bytes(n.address)},
                         {"data_center", env.options.datacenter},
                         {"host_id", uuid_string(n.host_id)},
                         {"rack", std::string("rack1")},
                         {"release_version", std::string("3.11.16")},
                         {"rpc_address", inet_bytes(n.address)},
                         {"schema_version", schema_version},
                         {"tokens", token_set(n)}});
        }
    } else {
        for (const auto& [ks_name, k] : env.schema.keyspaces) {
            if (name == "keyspaces") {
                put_row(*t, {{"keyspace_name", ks_name},
                             {"durable_writes", std::string(1, k.durable_writes ? '\1' : '\0')},
                             {"replication", text_map(k.replication)}});
                continue;
            }
            for (const auto& [table_name, tbl] : k.tables) {
                if (name == "tables") {
                    put_row(*t, {{"keyspace_name", ks_name},
                                 {"table_name", table_name},
                                 {"default_time_to_live", be_bytes(static_cast<std::uint32_t>(tbl->default_ttl), 4)},
                                 {"gc_grace_seconds", be_bytes(864000, 4)},
                                 {"comment", std::string()}});
                    continue;
                }
                for (const auto& col : tbl->columns) {
                    const bool regular = col.kind == column_kind::regular;
                    put_row(*t, {{"keyspace_name", ks_name},
                                 {"table_name", table_name},
                                 {"column_name", col.name},
                                 {"clustering_order", std::string(col.kind != column_kind::clustering ? "none"
                                                                  : col.desc ? "desc" : "asc")},
                                 {"kind", std::string(col.kind == column_kind::partition_key ? "partition_key"
                                                      : regular ? "regular" : "clustering")},
                                 {"position", be_bytes(regular ? 0xFFFFFFFFU : col.position, 4)},
                                 {"type", type_name(col.type)}});
                }
            }
        }
    }
    return t;
}

constexpr std::string_view system_ddl[] = {
    "CREATE KEYSPACE system WITH replication = {'class': 'LocalStrategy'}",
    "CREATE KEYSPACE system_schema WITH replication = {'class': 'LocalStrategy'}",
    "CREATE TABLE system.local (key text PRIMARY KEY, bootstrapped text, broadcast_address inet, cluster_name text, "
    "cql_version text, data_center text, host_id uuid, listen_address inet, native_protocol_version text, "
    "partitioner text, rack text, release_version text, rpc_address inet, schema_version uuid, tokens set<text>)",
    "CREATE TABLE system.peers (peer inet PRIMARY KEY, data_center text, host_id uuid, preferred_ip inet, rack text, "
    "release_version text, rpc_address inet, schema_version uuid, tokens set<text>)",
    "CREATE TABLE system_schema.keyspaces (keyspace_name text PRIMARY KEY, durable_writes boolean, "
    "replication frozen<map<text, text>>)",
    "CREATE TABLE system_schema.tables (keyspace_name text, table_name text, comment text, "
    "default_time_to_live int, gc_grace_seconds int, PRIMARY KEY (keyspace_name, table_name))",
    "CREATE TABLE system_schema.columns (keyspace_name text, table_name text, column_name text, "
    "clustering_order text, kind text, position int, type text, PRIMARY KEY (keyspace_name, table_name, column_name))",
    "CREATE TABLE system_schema.views (keyspace_name text, view_name text, base_table_name text, "
    "PRIMARY KEY (keyspace_name, view_name))",
    "CREATE TABLE system_schema.types (keyspace_name text, type_name text, field_names frozen<list<text>>, "
    "field_types frozen<list<text>>, PRIMARY KEY (keyspace_name, type_name))",
    "CREATE TABLE system_schema.indexes (keyspace_name text, table_name text, index_name text, kind text, "
    "options frozen<map<text, text>>, PRIMARY KEY (keyspace_name, table_name, index_name))",
    "CREATE TABLE system_schema.functions (keyspace_name text, function_name text, PRIMARY KEY (keyspace_name, "
    "function_name))",
    "CREATE TABLE system_schema.aggregates (keyspace_name text, aggregate_name text, PRIMARY KEY (keyspace_name, "
    "aggregate_name))",
    "CREATE TABLE system_schema.triggers (keyspace_name text, table_name text, trigger_name text, "
    "PRIMARY KEY (keyspace_name, table_name, trigger_name))",
};

// --- DDL -----------------------------------------------------------------------------------

cql::schema_change_result schema_change(std::string change, std::string target, std::string ks, std::string name) {
    cql::schema_change_result r;
    r.change_type = std::move(change);
    r.target = std::move(target);
    r.keyspace = std::move(ks);
    r.name = std::move(name);
    return r;
}

void refuse_system(const std::string& ks, bool bootstrapping) {
    if (!bootstrapping && is_system_keyspace(ks)) {
        fail(cql::error_code::unauthorized, fmt::format("{} keyspace is not user-modifiable.", ks));
    }
}

cql::result_body create_keyspace(schema_t& s, const create_keyspace_st& st, bool bootstrapping) {
    refuse_system(st.name, bootstrapping);
    if (s.keyspaces.count(st.name) != 0) {
        if (st.if_not_exists) {
            return cql::void_result{};
        }
        cql::error_response e;
        e.code = cql::error_code::already_exists;
        e.message = fmt::format("Cannot add existing keyspace \"{}\"", st.name);
        e.keyspace = st.name;
        throw statement_error{std::move(e)};
    }
    if (st.replication.count("class") == 0) {
        fail(cql::error_code::config_error, "Missing mandatory replication strategy class");
    }
    auto& k = s.keyspaces[st.name];
    k.name = st.name;
    k.replication = st.replication;
    k.durable_writes = st.durable_writes;
    ++s.version;
    return schema_change("CREATED", "KEYSPACE", st.name, "");
}

cql::result_body create_table(schema_t& s, const create_table_st& st, const std::string& current, bool bootstrapping) {
    const std::string ks = keyspace_of(st.name, current);
    refuse_system(ks, bootstrapping);
    auto& k = find_keyspace(s, ks);
    if (k.tables.count(st.name.table) != 0) {
        if (st.if_not_exists) {
            return cql::void_result{};
        }
        cql::error_response e;
        e.code = cql::error_code::already_exists;
        e.message = fmt::format("Cannot add already existing table \"{}\" to keyspace \"{}\"", st.name.table, ks);
        e.keyspace = ks;
        e.table = st.name.table;
        throw statement_error{std::move(e)};
    }
    auto t = std::make_unique<table>();
    t->keyspace = ks;
    t->name = st.name.table;
    t->default_ttl = st.default_ttl;
    for (const auto& c : st.columns) {
        if (t->find(c.name)) {
            invalid(fmt::format("Multiple definition of identifier {}", c.name));
        }
        t->columns.push_back({c.name, c.type, column_kind::regular, false, 0});
    }
    if (st.partition_key.empty()) {
        invalid(fmt::format("No PRIMARY KEY specifed for table {} (exactly one required)", st.name.table));
    }
    const auto key_column = [&](const std::string& name, column_kind kind, std::size_t position) {
        const auto idx = t->find(name);
        if (!idx) {
            invalid(fmt::format("Unknown definition {} referenced in PRIMARY KEY", name));
        }
        auto& col = t->columns[*idx];
        if (col.kind != column_kind::regular) {
            invalid(fmt::format("Duplicate column {} in PRIMARY KEY", name));
        }
        if (col.type.id == type_id::list || col.type.id == type_id::set || col.type.id == type_id::map) {
            invalid(fmt::format("Invalid collection type for PRIMARY KEY component {}", name));
        }
        col.kind = kind;
        col.position = position;
        return *idx;
    };
    for (std::size_t i = 0; i < st.partition_key.size(); ++i) {
        t->pk.push_back(key_column(st.partition_key[i], column_kind::partition_key, i));
    }
    for (std::size_t i = 0; i < st.clustering_key.size(); ++i) {
        t->ck.push_back(key_column(st.clustering_key[i], column_kind::clustering, i));
    }
    if (!st.clustering_order.empty()) {
        if (st.clustering_order.size() > t->ck.size()) {
            invalid("Only clustering key columns can be defined in CLUSTERING ORDER directive");
        }
        for (std::size_t i = 0; i < st.clustering_order.size(); ++i) {
            if (t->columns[t->ck[i]].name != st.clustering_order[i].first) {
                invalid("The order of columns in the CLUSTERING ORDER directive must be the one of the clustering key");
            }
            t->columns[t->ck[i]].desc = st.clustering_order[i].second;
        }
    }
    auto specs = std::make_shared<std::vector<clustering_spec>>();
    for (const auto i : t->ck) {
        specs->push_back({t->columns[i].type, t->columns[i].desc});
    }
    t->ck_specs = std::move(specs);
    k.tables[st.name.table] = std::move(t);
    ++s.version;
    return schema_change("CREATED", "TABLE", ks, st.name.table);
}

cql::result_body drop(schema_t& s, const drop_st& st, const std::string& current) {
    if (st.keyspace) {
        refuse_system(st.name.keyspace, false);
        if (s.keyspaces.erase(st.name.keyspace) == 0) {
            if (st.if_exists) {
                return cql::void_result{};
            }
            fail(cql::error_code::config_error, fmt::format("Cannot drop non existing keyspace '{}'.", st.name.keyspace));
        }
        ++s.version;
        return schema_change("DROPPED", "KEYSPACE", st.name.keyspace, "");
    }
    const std::string ks = keyspace_of(st.name, current);
    refuse_system(ks, false);
    const auto kit = s.keyspaces.find(ks);
    if (kit == s.keyspaces.end() || kit->second.tables.erase(st.name.table) == 0) {
        if (st.if_exists) {
            return cql::void_result{};
        }
        fail(cql::error_code::config_error,
             fmt::format("Cannot drop non existing table '{}' in keyspace '{}'.", st.name.table, ks));
    }
    ++s.version;
    return schema_change("DROPPED", "TABLE", ks, st.name.table);
}

// --- SELECT --------------------------------------------------------------------------------

struct select_plan {
    table* target = nullptr;
    std::unique_ptr<table> owned;  // a system table computed for this read
    std::vector<std::size_t> columns;
    std::vector<cql::column_spec> result_columns;
    where_plan where;
    bool reverse = false;
    std::optional<std::int64_t> limit;
};

select_plan plan_select(const select_st& st, const std::string& current_ks, const exec_env& env, eval_ctx& ctx) {
    select_plan p;
    const std::string ks = keyspace_of(st.name, current_ks);
    table& def = find_table(env.schema, st.name, current_ks);
    p.owned = virtual_table(def, env);
    p.target = p.owned ? p.owned.get() : &def;
    const table& t = *p.target;
    if (st.count) {
        p.result_columns.push_back({t.keyspace, t.name, st.count_alias, simple_type(type_id::bigint)});
    } else if (st.star) {
        p.columns = t.star();
        for (const auto i : p.columns) {
            p.result_columns.push_back(t.spec(i));
        }
    } else {
        for (const auto& s : st.columns) {
            const auto i = t.column(s.column);
            p.columns.push_back(i);
            auto spec = t.spec(i);
            spec.name = s.alias;
            p.result_columns.push_back(std::move(spec));
        }
    }
    p.where = plan_where(t, st.where, ctx);
    const bool needs_filtering =
        !p.where.regular_filters.empty() || (!p.where.ck_filters.empty() && !p.where.full_pk());
    if (needs_filtering && !st.allow_filtering) {
        invalid("Cannot execute this query as it might involve data filtering and thus may have unpredictable "
                "performance. If you want to execute this query despite the performance unpredictability, use "
                "ALLOW FILTERING");
    }
    if (!st.order_by.empty()) {
        if (!p.where.full_pk()) {
            invalid("ORDER BY is only supported when the partition key is restricted by an EQ or an IN.");
        }
        for (std::size_t i = 0; i < st.order_by.size(); ++i) {
            const auto idx = t.column(st.order_by[i].first);
            if (i >= t.ck.size() || t.ck[i] != idx) {
                invalid(fmt::format("Order by currently only supports the ordering of columns following their "
                                    "declared order in the PRIMARY KEY ({} is not clustering column {})",
                                    st.order_by[i].first, i));
            }
            const bool rev = st.order_by[i].second != t.columns[idx].desc;
            if (i == 0) {
                p.reverse = rev;
            } else if (rev != p.reverse) {
                invalid("Unsupported order by relation");
            }
        }
    }
    if (st.limit) {
        p.limit = ctx.eval_int(*st.limit, "[limit]", type_id::int_);
        if (p.limit && *p.limit <= 0) {
            invalid(fmt::format("LIMIT must be strictly positive, not {}", *p.limit));
        }
    }
    (void)ks;
    return p;
}

std::vector<std::vector<cql::value>> run_select(const select_plan& p, std::int64_t now) {
    const table& t = *p.target;
    std::vector<std::vector<cql::value>> out;
    const auto full_row = [&](const partition& part, const std::vector<std::string>& ck, const row& r) {
        std::vector<cql::value> v(t.columns.size());
        for (std::size_t i = 0; i < t.pk.size(); ++i) {
            v[t.pk[i]] = part.key[i];
        }
        for (std::size_t i = 0; i < t.ck.size(); ++i) {
            v[t.ck[i]] = ck[i];
        }
        for (const auto& [idx, c] : r.cells) {
            if (cell_live(c, now)) {
                v[idx] = c.v;
            }
        }
        return v;
    };
    const auto limit_reached = [&] { return p.limit && out.size() >= static_cast<std::size_t>(*p.limit); };
    const auto emit = [&](const partition& part) {
        const auto visit = [&](const auto& entry) {
            const auto& [ck, r] = entry;
            if (!row_live(r, now)) {
                return;
            }
            auto v = full_row(part, ck, r);
            for (const auto* filters : {&p.where.ck_filters, &p.where.regular_filters}) {
                for (const auto& f : *filters) {
                    if (!matches(t.columns[f.column].type, v[f.column], f.op, f.value)) {
                        return;
                    }
                }
            }
            out.push_back(std::move(v));
        };
        if (p.reverse) {
            for (auto it = part.rows.rbegin(); it != part.rows.rend() && !limit_reached(); ++it) {
                visit(*it);
            }
        } else {
            for (auto it = part.rows.begin(); it != part.rows.end() && !limit_reached(); ++it) {
                visit(*it);
            }
        }
    };
    if (p.where.full_pk()) {
        std::vector<std::string> pk;
        for (const auto& v : p.where.pk_eq) {
            pk.push_back(v.value_or(std::string()));
        }
        const auto it = t.partitions.find(key_of(pk));
        if (it != t.partitions.end()) {
            emit(it->second);
        }
    } else {
        for (const auto& [key, part] : t.partitions) {
            if (limit_reached()) {
                break;
            }
            const std::int64_t token = key.first;
            if (p.where.token_lo && (p.where.lo_inclusive ? token < *p.where.token_lo : token <= *p.where.token_lo)) {
                continue;
            }
            if (p.where.token_hi && (p.where.hi_inclusive ? token > *p.where.token_hi : token >= *p.where.token_hi)) {
                continue;
            }
            emit(part);
        }
    }
    return out;
}

cql::rows_metadata rows_metadata_of(const std::vector<cql::column_spec>& columns, bool skip) {
    cql::rows_metadata m;
    m.column_count = static_cast<std::int32_t>(columns.size());
    if (skip) {
        m.no_metadata_flag = true;
    } else {
        m.columns = columns;
    }
    return m;
}

cql::rows_result select_rows(const select_st& st, const select_plan& p, const cql::query_parameters& params,
                        std::int64_t now) {
    auto rows = run_select(p, now);
    cql::rows_result r;
    r.metadata = rows_metadata_of(p.result_columns, params.skip_metadata);
    if (st.count) {
        r.rows.push_back({be_bytes(rows.size(), 8)});
        return r;
    }
    std::size_t offset = 0;
    if (params.paging_state) {
        if (params.paging_state->size() != 8) {
            fail(cql::error_code::protocol_error, "Invalid paging state (not one from the rtcrm CQL test peer)");
        }
        offset = static_cast<std::size_t>(be_signed(*params.paging_state));
    }
    std::size_t end = rows.size();
    if (params.page_size && *params.page_size > 0) {
        end = std::min(rows.size(), offset + static_cast<std::size_t>(*params.page_size));
        if (end < rows.size()) {
            r.metadata.paging_state = be_bytes(end, 8);
        }
    }
    for (std::size_t i = offset; i < end; ++i) {
        std::vector<cql::value> projected;
        for (const auto c : p.columns) {
            projected.push_back(std::move(rows[i][c]));
        }
        r.rows.push_back(std::move(projected));
    }
    return r;
}

// --- Running statements ---------------------------------------------------------------------

cql::result_body run(const statement& st, std::size_t markers, const std::vector<cql::value>& values,
                     const std::string& statement_ks, const cql::query_parameters& params, cql_connection_state& conn,
                     exec_env& env) {
    if (values.size() != markers) {
        invalid(fmt::format("There were {} markers(?) in CQL but {} bound variables", markers, values.size()));
    }
    eval_ctx ctx;
    ctx.values = &values;
    ctx.specs.resize(markers);
    ctx.now_ms = env.now_ms;
    return std::visit(
        [&](const auto& s) -> cql::result_body {
            using T = std::decay_t<decltype(s)>;
            if constexpr (std::is_same_v<T, create_keyspace_st>) {
                return create_keyspace(env.schema, s, false);
            } else if constexpr (std::is_same_v<T, create_table_st>) {
                return create_table(env.schema, s, statement_ks, false);
            } else if constexpr (std::is_same_v<T, drop_st>) {
                return drop(env.schema, s, statement_ks);
            } else if constexpr (std::is_same_v<T, use_st>) {
                find_keyspace(env.schema, s.name);
                conn.keyspace = s.name;
                return cql::set_keyspace_result{s.name};
            } else if constexpr (std::is_same_v<T, truncate_st>) {
                table& t = find_table(env.schema, s.name, statement_ks);
                refuse_system(t.keyspace, false);
                t.partitions.clear();
                return cql::void_result{};
            } else if constexpr (std::is_same_v<T, select_st>) {
                const auto plan = plan_select(s, statement_ks, env, ctx);
                return select_rows(s, plan, params, env.now_ms);
            } else if constexpr (std::is_same_v<T, batch_st>) {
                std::optional<std::int64_t> ts = params.default_timestamp;
                if (s.timestamp) {
                    ts = ctx.eval_int(*s.timestamp, "[timestamp]", type_id::bigint);
                }
                std::vector<mutation> ms;
                for (const auto& w : s.statements) {
                    ms.push_back(plan_write(w, statement_ks, env.schema, ctx, env, ts));
                }
                for (const auto& m : ms) {
                    apply(m, env.now_ms);
                }
                return cql::void_result{};
            } else {
                apply(plan_write(write_st{s}, statement_ks, env.schema, ctx, env, params.default_timestamp), env.now_ms);
                return cql::void_result{};
            }
        },
        st);
}

std::string prepared_id(std::string_view keyspace, std::string_view text) {
    // Two FNV-1a passes with different offsets give 16 stable bytes, enough to tell
    // statements apart in tests (Cassandra uses MD5 of the same inputs).
    const auto fnv = [&](std::uint64_t h) {
        for (const auto part : {keyspace, std::string_view("\0", 1), text}) {
            for (const char c : part) {
                h ^= static_cast<std::uint8_t>(c);
                h *= 0x100000001b3ULL;
            }
        }
        return h;
    };
    return be_bytes(fnv(0xcbf29ce484222325ULL), 8) + be_bytes(fnv(0x84222325cbf29ce4ULL), 8);
}

cql::error_response error_of(const std::exception& e) {
    cql::error_response r;
    r.code = cql::error_code::server_error;
    r.message = fmt::format("rtcrm CQL test peer: {}", e.what());
    return r;
}

}  // namespace

// --- cql_table_engine ------------------------------------------------------------------------

cql_table_engine::cql_table_engine(cql_engine_options options)
    : options_(std::move(options)), schema_(std::make_unique<schema>()) {
    std::mt19937_64 rng(options_.token_seed);
    for (std::size_t i = 0; i < options_.addresses.size(); ++i) {
        cql_node_info n;
        n.address = options_.addresses[i];
        for (std::size_t k = 0; k < options_.tokens_per_node; ++k) {
            auto t = static_cast<std::int64_t>(rng());
            if (t == std::numeric_limits<std::int64_t>::min()) {
                t = 0;
            }
            n.tokens.push_back(t);
        }
        std::sort(n.tokens.begin(), n.tokens.end());
        n.host_id = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0x42, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f};
        n.host_id[15] = static_cast<std::uint8_t>(i);
        n.host_id[14] = static_cast<std::uint8_t>(i >> 8U);
        nodes_.push_back(std::move(n));
    }
    for (const auto ddl : system_ddl) {
        parser p(ddl);
        const auto st = p.parse();
        if (const auto* ks = std::get_if<create_keyspace_st>(&st)) {
            create_keyspace(*schema_, *ks, true);
        } else {
            create_table(*schema_, std::get<create_table_st>(st), "", true);
        }
    }
}

cql_table_engine::~cql_table_engine() = default;

std::int64_t cql_table_engine::now_ms() const {
    const auto now = std::chrono::system_clock::now() + clock_offset_;
    return std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
}

std::int64_t cql_table_engine::next_write_timestamp_us() {
    // Strictly increasing, so two writes in the same microsecond still order as sent.
    const auto now = std::chrono::system_clock::now() + clock_offset_;
    const std::int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    last_write_us_ = std::max(us, last_write_us_ + 1);
    return last_write_us_;
}

cql::response cql_table_engine::query(std::string_view cql_text, const cql::query_parameters& params,
                                      cql_connection_state& conn) {
    const std::lock_guard lock(mutex_);
    try {
        parser p(cql_text);
        const statement st = p.parse();
        exec_env env{*schema_, nodes_, options_, now_ms(), next_write_timestamp_us(), conn.node};
        return cql::result_response{run(st, p.markers(), params.values, conn.keyspace, params, conn, env)};
    } catch (const statement_error& e) {
        return e.response;
    } catch (const std::exception& e) {
        return error_of(e);
    }
}

cql::response cql_table_engine::prepare(std::string_view cql_text, const cql_connection_state& conn) {
    const std::lock_guard lock(mutex_);
    try {
        parser p(cql_text);
        auto stmt = std::make_shared<cql_statement>();
        stmt->text = std::string(cql_text);
        stmt->keyspace = conn.keyspace;
        stmt->parsed = p.parse();
        stmt->markers = p.markers();
        exec_env env{*schema_, nodes_, options_, now_ms(), 0, conn.node};
        eval_ctx ctx;
        ctx.specs.resize(stmt->markers);
        ctx.now_ms = env.now_ms;
        cql::prepared_result r;
        const table* t = nullptr;
        if (const auto* sel = std::get_if<select_st>(&stmt->parsed)) {
            const auto plan = plan_select(*sel, stmt->keyspace, env, ctx);
            r.result_metadata = rows_metadata_of(plan.result_columns, false);
            t = &find_table(*schema_, sel->name, stmt->keyspace);
        } else if (const auto* b = std::get_if<batch_st>(&stmt->parsed)) {
            if (b->timestamp) {
                ctx.eval_int(*b->timestamp, "[timestamp]", type_id::bigint);
            }
            for (const auto& w : b->statements) {
                plan_write(w, stmt->keyspace, *schema_, ctx, env, std::nullopt);
            }
        } else if (std::holds_alternative<insert_st>(stmt->parsed) || std::holds_alternative<update_st>(stmt->parsed) ||
                   std::holds_alternative<delete_st>(stmt->parsed)) {
            const auto m = std::visit(
                [&](const auto& s) -> mutation {
                    using T = std::decay_t<decltype(s)>;
                    if constexpr (std::is_same_v<T, insert_st> || std::is_same_v<T, update_st> ||
                                  std::is_same_v<T, delete_st>) {
                        return plan_write(write_st{s}, stmt->keyspace, *schema_, ctx, env, std::nullopt);
                    } else {
                        return {};
                    }
                },
                stmt->parsed);
            t = m.target;
        }
        for (std::size_t i = 0; i < ctx.specs.size(); ++i) {
            r.metadata.columns.push_back(ctx.specs[i].value_or(cql::column_spec{"", "", "?", simple_type(type_id::blob)}));
        }
        // Partition key indexes only when every component is bound by a marker: that is
        // when a driver can compute the routing key from the bound values.
        if (t != nullptr && ctx.pk_markers.size() == t->pk.size() && !std::holds_alternative<batch_st>(stmt->parsed)) {
            for (std::size_t i = 0; i < t->pk.size(); ++i) {
                r.metadata.pk_indexes.push_back(static_cast<std::uint16_t>(ctx.pk_markers.at(i)));
            }
        }
        r.id = prepared_id(stmt->keyspace, stmt->text);
        prepared_[r.id] = std::move(stmt);
        return cql::result_response{std::move(r)};
    } catch (const statement_error& e) {
        return e.response;
    } catch (const std::exception& e) {
        return error_of(e);
    }
}

namespace {
cql::error_response unprepared(const std::string& id) {
    cql::error_response e;
    e.code = cql::error_code::unprepared;
    std::string hex;
    for (const char c : id) {
        hex += fmt::format("{:02x}", static_cast<std::uint8_t>(c));
    }
    e.message = fmt::format("Prepared query with ID {} not found (either the query was not prepared on this host "
                            "(maybe the host has been restarted?) or you have prepared too many queries and it has "
                            "been evicted from the internal cache)",
                            hex);
    e.unprepared_id = id;
    return e;
}
}  // namespace

cql::response cql_table_engine::execute(const cql::execute_request& request, cql_connection_state& conn) {
    const std::lock_guard lock(mutex_);
    const auto it = prepared_.find(request.id);
    if (it == prepared_.end()) {
        return unprepared(request.id);
    }
    const auto& stmt = *it->second;
    try {
        exec_env env{*schema_, nodes_, options_, now_ms(), next_write_timestamp_us(), conn.node};
        return cql::result_response{
            run(stmt.parsed, stmt.markers, request.params.values, stmt.keyspace, request.params, conn, env)};
    } catch (const statement_error& e) {
        return e.response;
    } catch (const std::exception& e) {
        return error_of(e);
    }
}

cql::response cql_table_engine::batch(const cql::batch_request& request, cql_connection_state& conn) {
    const std::lock_guard lock(mutex_);
    try {
        exec_env env{*schema_, nodes_, options_, now_ms(), next_write_timestamp_us(), conn.node};
        // Plan every statement first so that an invalid one leaves the batch unapplied.
        std::vector<mutation> ms;
        for (const auto& bs : request.statements) {
            const statement* st = nullptr;
            std::size_t markers = 0;
            std::string ks = conn.keyspace;
            statement parsed;
            if (bs.prepared) {
                const auto it = prepared_.find(bs.query_or_id);
                if (it == prepared_.end()) {
                    return unprepared(bs.query_or_id);
                }
                st = &it->second->parsed;
                markers = it->second->markers;
                ks = it->second->keyspace;
            } else {
                parser p(bs.query_or_id);
                parsed = p.parse();
                st = &parsed;
                markers = p.markers();
            }
            if (bs.values.size() != markers) {
                invalid(fmt::format("There were {} markers(?) in CQL but {} bound variables", markers, bs.values.size()));
            }
            eval_ctx ctx;
            ctx.values = &bs.values;
            ctx.specs.resize(markers);
            ctx.now_ms = env.now_ms;
            write_st holder;
            if (const auto* i = std::get_if<insert_st>(st)) {
                holder = *i;
            } else if (const auto* u = std::get_if<update_st>(st)) {
                holder = *u;
            } else if (const auto* d = std::get_if<delete_st>(st)) {
                holder = *d;
            } else {
                invalid("Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.");
            }
            ms.push_back(plan_write(holder, ks, *schema_, ctx, env, request.default_timestamp));
        }
        for (const auto& m : ms) {
            apply(m, env.now_ms);
        }
        return cql::result_response{cql::void_result{}};
    } catch (const statement_error& e) {
        return e.response;
    } catch (const std::exception& e) {
        return error_of(e);
    }
}

std::optional<std::string> cql_table_engine::prepared_text(std::string_view id) const {
    const std::lock_guard lock(mutex_);
    const auto it = prepared_.find(std::string(id));
    if (it == prepared_.end()) {
        return std::nullopt;
    }
    return it->second->text;
}

void cql_table_engine::forget_prepared() {
    const std::lock_guard lock(mutex_);
    prepared_.clear();
}

std::size_t cql_table_engine::row_count(std::string_view keyspace, std::string_view table_name) const {
    const std::lock_guard lock(mutex_);
    const auto kit = schema_->keyspaces.find(std::string(keyspace));
    if (kit == schema_->keyspaces.end()) {
        return 0;
    }
    const auto tit = kit->second.tables.find(std::string(table_name));
    if (tit == kit->second.tables.end()) {
        return 0;
    }
    return tit->second->live_rows(now_ms());
}

std::size_t cql_table_engine::owner_of(std::int64_t token) const {
    std::vector<std::pair<std::int64_t, std::size_t>> ring;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        for (const auto t : nodes_[i].tokens) {
            ring.emplace_back(t, i);
        }
    }
    if (ring.empty()) {
        return 0;
    }
    std::sort(ring.begin(), ring.end());
    const auto it = std::lower_bound(ring.begin(), ring.end(), std::make_pair(token, std::size_t{0}));
    return it == ring.end() ? ring.front().second : it->second;
}

void cql_table_engine::advance_clock(std::chrono::milliseconds by) {
    const std::lock_guard lock(mutex_);
    clock_offset_ += by;
}

}  // namespace rtcrm::test
