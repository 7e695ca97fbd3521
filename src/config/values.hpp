// The values of the configuration schema: how they are rendered in messages, read from
// JSON and checked. Shared by the field table (fields.hpp), the loader, validate() and
// the flags, so a value is held to the same rule wherever it comes from.
#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>

namespace rtcrm::detail {

using json_value = rapidjson::Value;

inline constexpr std::uint64_t max_u32 = std::numeric_limits<std::uint32_t>::max();
inline constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint64_t max_size = std::numeric_limits<std::size_t>::max();

// --- messages -------------------------------------------------------------------------

// A value as JSON text, shortened (at a UTF-8 boundary) so a message stays one line.
std::string render(const json_value& v);
std::string render(std::string_view s);

// "a | b | c"
std::string alternatives(std::span<const std::string_view> names);

// The JSON path of member `name` of the object at `path`: $.a.b, or $.a["b.c"] when the
// name is not a plain identifier.
std::string member_path(const std::string& path, std::string_view name);

// What validate() and the flags throw: "topology_config: PATH: WHAT".
[[noreturn]] void config_error(const std::string& path, std::string_view what);

// A duration as the grammar of rtcrm/core/duration.hpp writes it, in the largest of d, h, s
// and ms that holds it whole ("30s", "250ms", "30d"; 0 is "0").
std::string format_duration(std::chrono::milliseconds d);

// "expected an integer from MIN to MAX", or the shorter words for the usual ranges.
std::string integer_expected(std::uint64_t min, std::uint64_t max);

// --- rules ----------------------------------------------------------------------------

// A rule for a string value: what README calls its type, and what is wrong with a value:
// "" when nothing, else the whole message ("expected ..., got \"x\"").
struct text_rule {
    std::string_view type;
    std::string (*problem)(std::string_view value);
};

// The rules (values.cpp).
extern const text_rule any_string, non_empty, listen_address, listen_address_or_none, http_url, kafka_start_point,
    kafka_topic, kafka_topic_or_none, cql_identifier, cql_map, consistency_level, scenario_name, host_list, any_duration, positive_duration,
    optional_duration, time_bound_or_none, archive_keep;

// A rule for a number: its range, and the words of a message and of README.
struct number_rule {
    double min;
    double max;
    std::string_view expected;
    std::string_view type;

    // "" when `d` is within the range (NaN and infinities are not), else the message.
    [[nodiscard]] std::string problem(double d) const;
};

inline constexpr number_rule non_negative{0, std::numeric_limits<double>::infinity(), "expected a non-negative number",
                                          "number ≥ 0"};
inline constexpr number_rule share{0, 1, "expected a number from 0 to 1", "number 0..1"};

// --- reading JSON ---------------------------------------------------------------------

// Reads the values of one document; every mistake throws "FILE: PATH: WHAT".
class json_reader {
public:
    explicit json_reader(std::string_view file) : file_(file) {}

    [[noreturn]] void fail(const std::string& path, std::string_view what) const;
    [[noreturn]] void fail_got(const std::string& path, std::string_view expected, const json_value& got) const;

    // An object, without duplicate members (RapidJSON keeps them; the last would win silently).
    void check_object(const json_value& v, const std::string& path) const;

    std::uint64_t integer(const json_value& v, const std::string& path, std::uint64_t min, std::uint64_t max) const;
    bool boolean(const json_value& v, const std::string& path) const;
    std::string string(const json_value& v, const std::string& path) const;
    // A value within a rule.
    double read(const json_value& v, const std::string& path, const number_rule& rule) const;
    std::string read(const json_value& v, const std::string& path, const text_rule& rule) const;

private:
    std::string file_;
};

}  // namespace rtcrm::detail
