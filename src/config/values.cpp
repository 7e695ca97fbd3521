#include "config/values.hpp"

#include <rtcrm/archive/archive_layout.hpp>
#include <rtcrm/cassandra/cassandra_store.hpp>
#include <rtcrm/core/duration.hpp>
#include <rtcrm/core/error.hpp>
#include <rtcrm/kafka/kafka_source.hpp>
#include <rtcrm/kafka/kafka_topic.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace rtcrm::detail {

namespace {

constexpr std::string_view duration_expected =
    R"(expected a duration like "1w", "30d", "12h", "15m", "10s" or "250ms")";

// "WHAT, got VALUE": the usual shape of a message.
std::string expected(std::string_view what, std::string_view value) {
    return fmt::format("{}, got {}", what, render(value));
}

bool is_port(std::string_view s) {
    std::uint16_t port = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
    return !s.empty() && ec == std::errc{} && end == s.data() + s.size();
}

bool is_listen(std::string_view s) {
    const auto colon = s.rfind(':');
    return colon != std::string_view::npos && colon != 0 && is_port(s.substr(colon + 1));
}

}  // namespace

std::string render(const json_value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    std::string text{buf.GetString(), buf.GetSize()};
    constexpr std::size_t limit = 60;
    if (text.size() > limit) {
        std::size_t cut = limit - 3;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) {
            --cut;
        }
        text.resize(cut);
        text += "...";
    }
    return text;
}

std::string render(std::string_view s) {
    return render(json_value(rapidjson::StringRef(s.data(), static_cast<rapidjson::SizeType>(s.size()))));
}

std::string alternatives(std::span<const std::string_view> names) { return fmt::format("{}", fmt::join(names, " | ")); }

std::string member_path(const std::string& path, std::string_view name) {
    const bool plain = !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) != 0 || name[0] == '_') &&
                       std::all_of(name.begin(), name.end(), [](char ch) {
                           return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_';
                       });
    return plain ? fmt::format("{}.{}", path, name) : fmt::format("{}[{}]", path, render(name));
}

void config_error(const std::string& path, std::string_view what) {
    throw error(errc::invalid_config, fmt::format("topology_config: {}: {}", path, what));
}

std::string format_duration(std::chrono::milliseconds d) {
    const auto ms = d.count();
    if (ms < 0) {
        return fmt::format("-{}", format_duration(-d));
    }
    if (ms == 0) {
        return "0";
    }
    if (ms % 1000 != 0) {
        return fmt::format("{}ms", ms);
    }
    const auto s = ms / 1000;
    if (s % 86'400 == 0) {
        return fmt::format("{}d", s / 86'400);
    }
    if (s % 3'600 == 0) {
        return fmt::format("{}h", s / 3'600);
    }
    return fmt::format("{}s", s);
}

std::string integer_expected(std::uint64_t min, std::uint64_t max) {
    if (min == 0 && max == max_u64) {
        return "expected a non-negative integer";
    }
    if (min == 1 && max == max_u64) {
        return "expected a positive integer";
    }
    return fmt::format("expected an integer from {} to {}", min, max);
}

// --- rules ----------------------------------------------------------------------------

const text_rule any_string{"string", [](std::string_view) { return std::string{}; }};

const text_rule non_empty{"non-empty string", [](std::string_view s) {
                              return s.empty() ? expected("expected a non-empty string", s) : std::string{};
                          }};

const text_rule host_list{"`HOST[:PORT][,...]`", non_empty.problem};

const text_rule listen_address{"`HOST:PORT`", [](std::string_view s) {
                                   return is_listen(s) ? std::string{}
                                                       : expected("expected HOST:PORT (port 0: any free port)", s);
                               }};

const text_rule listen_address_or_none{
    "`HOST:PORT` or `\"\"`", [](std::string_view s) {
        return s.empty() || is_listen(s) ? std::string{}
                                         : expected(R"(expected HOST:PORT (port 0: any free port) or "" for none)", s);
    }};

// As webhook_sink accepts it: http:// (no TLS), a host and a port, then an optional path.
const text_rule http_url{"`http://HOST:PORT[/PATH]`", [](std::string_view s) {
                             constexpr std::string_view scheme = "http://";
                             bool ok = s.starts_with(scheme);
                             if (ok) {
                                 const auto rest = s.substr(scheme.size());
                                 const auto authority = rest.substr(0, rest.find('/'));
                                 const auto colon = authority.rfind(':');
                                 ok = colon != std::string_view::npos && colon > 0 &&
                                      is_port(authority.substr(colon + 1));
                             }
                             return ok ? std::string{} : expected("expected http://HOST:PORT[/PATH] (no https)", s);
                         }};

const text_rule kafka_start_point{
    "`committed` | `earliest` | `latest` | timestamp", [](std::string_view s) {
        try {
            kafka_start start{};
            std::int64_t timestamp_ms = 0;
            parse_kafka_start(s, start, timestamp_ms);
            return std::string{};
        } catch (const error&) {
            return expected("expected committed | earliest | latest | a timestamp (ms, or YYYY-MM-DDTHH:MM:SSZ)", s);
        }
    }};

// Kafka's rule (rtcrm/kafka/kafka_topic.hpp); the message names the topic and the rule.
const text_rule kafka_topic{"Kafka topic name", [](std::string_view s) { return kafka_topic_problem(s); }};

const text_rule kafka_topic_or_none{"Kafka topic name or `\"\"`", [](std::string_view s) {
                                        return s.empty() ? std::string{} : kafka_topic_problem(s);
                                    }};

const text_rule cql_identifier{
    "CQL identifier", [](std::string_view s) {
        return is_cql_identifier(s)
                   ? std::string{}
                   : expected("expected a CQL identifier (a letter, then letters, digits or _; at most 48)", s);
    }};

const text_rule cql_map{
    "CQL map literal", [](std::string_view s) {
        return s.size() >= 2 && s.front() == '{' && s.back() == '}'
                   ? std::string{}
                   : expected("expected a CQL map literal, e.g. {'class': 'SimpleStrategy', 'replication_factor': 1}",
                              s);
    }};

const text_rule consistency_level{
    "`one` | `quorum` | `local_quorum` | ...", [](std::string_view s) {
        return parse_cassandra_consistency(s)
                   ? std::string{}
                   : expected(
                         "expected a consistency level: one | two | three | quorum | all | local_quorum | "
                         "each_quorum | local_one",
                         s);
    }};

const text_rule scenario_name{
    "`\"\"` | `bob`", [](std::string_view s) {
        return s.empty() || s == "bob" ? std::string{} : fmt::format(R"(unknown scenario {} ("" | bob))", render(s));
    }};

const text_rule any_duration{
    "duration", [](std::string_view s) { return parse_duration(s) ? std::string{} : expected(duration_expected, s); }};

const text_rule positive_duration{
    "duration > 0", [](std::string_view s) {
        const auto d = parse_duration(s);
        if (!d) {
            return expected(duration_expected, s);
        }
        return d->count() > 0 ? std::string{} : expected(fmt::format("{} (more than 0)", duration_expected), s);
    }};

const text_rule optional_duration{"duration or `\"\"`", [](std::string_view s) {
                                      return s.empty() || parse_duration(s)
                                                 ? std::string{}
                                                 : expected(fmt::format(R"({} or "")", duration_expected), s);
                                  }};

const text_rule time_bound_or_none{
    "timestamp or `\"\"`", [](std::string_view s) {
        return s.empty() || archive::parse_time_bound(s)
                   ? std::string{}
                   : expected(R"(expected ms since the epoch, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[.mmm]Z or "")", s);
    }};

const text_rule archive_keep{"duration ≥ 1d or `\"\"`", [](std::string_view s) {
                                 if (s.empty()) {
                                     return std::string{};
                                 }
                                 const auto d = parse_duration(s);
                                 return d && d->count() >= archive::day_ms
                                            ? std::string{}
                                            : expected(fmt::format(R"({} of at least 1d (whole day files), or "")",
                                                                   duration_expected),
                                                       s);
                             }};

std::string number_rule::problem(double d) const {
    return std::isfinite(d) && d >= min && d <= max ? std::string{} : fmt::format("{}, got {}", expected, d);
}

// --- reading JSON ---------------------------------------------------------------------

void json_reader::fail(const std::string& path, std::string_view what) const {
    throw error(errc::invalid_config, fmt::format("{}: {}: {}", file_, path, what));
}

void json_reader::fail_got(const std::string& path, std::string_view expected, const json_value& got) const {
    fail(path, fmt::format("{}, got {}", expected, render(got)));
}

void json_reader::check_object(const json_value& v, const std::string& path) const {
    if (!v.IsObject()) {
        fail_got(path, "expected an object", v);
    }
    for (auto i = v.MemberBegin(); i != v.MemberEnd(); ++i) {
        for (auto j = v.MemberBegin(); j != i; ++j) {
            if (i->name == j->name) {
                fail(member_path(path, i->name.GetString()), "duplicate field");
            }
        }
    }
}

std::uint64_t json_reader::integer(const json_value& v, const std::string& path, std::uint64_t min,
                                   std::uint64_t max) const {
    if (!v.IsUint64() || v.GetUint64() < min || v.GetUint64() > max) {
        fail_got(path, integer_expected(min, max), v);
    }
    return v.GetUint64();
}

double json_reader::read(const json_value& v, const std::string& path, const number_rule& rule) const {
    if (!v.IsNumber() || !rule.problem(v.GetDouble()).empty()) {
        fail_got(path, rule.expected, v);
    }
    return v.GetDouble();
}

bool json_reader::boolean(const json_value& v, const std::string& path) const {
    if (!v.IsBool()) {
        fail_got(path, "expected true or false", v);
    }
    return v.GetBool();
}

std::string json_reader::string(const json_value& v, const std::string& path) const {
    if (!v.IsString()) {
        fail_got(path, "expected a string", v);
    }
    return {v.GetString(), v.GetStringLength()};
}

std::string json_reader::read(const json_value& v, const std::string& path, const text_rule& rule) const {
    auto s = string(v, path);
    if (auto what = rule.problem(s); !what.empty()) {
        fail(path, what);
    }
    return s;
}

}  // namespace rtcrm::detail
