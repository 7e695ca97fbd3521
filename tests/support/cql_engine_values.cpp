#include "support/cql_engine_values.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <limits>
#include <map>

namespace rtcrm::test::engine {

namespace {

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

std::string encode_collection(const std::vector<std::string>& elements) {
    std::string out = be_bytes(elements.size(), 4);
    for (const auto& e : elements) {
        out += be_bytes(e.size(), 4);
        out += e;
    }
    return out;
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

}  // namespace

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

}  // namespace rtcrm::test::engine
