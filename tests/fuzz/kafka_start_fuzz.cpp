// Where a Kafka source starts: parse_kafka_start (the `source.start` of a configuration, and
// rtcrm-topology's --kafka-start). The input is the text. It is one of the three words, a
// timestamp in ms (digits) or ISO 8601 `YYYY-MM-DDTHH:MM:SS[.mmm]Z`, or an
// rtcrm::error(invalid_config) naming it; nothing else may escape. Whatever it takes as an
// ISO 8601 timestamp ends in 'Z' (nothing after it, NUL bytes included).
#include "fuzz_check.hpp"

#include <rtcrm/core/error.hpp>
#include <rtcrm/kafka/kafka_source.hpp>

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using rtcrm::fuzz::check;
    const auto text = rtcrm::fuzz::text_of(data, size);
    auto start = rtcrm::kafka_start::committed;
    std::int64_t timestamp_ms = -7;
    try {
        rtcrm::parse_kafka_start(text, start, timestamp_ms);
    } catch (const rtcrm::error& e) {
        check(e.code() == rtcrm::errc::invalid_config, "a refused start threw another code than invalid_config");
        return 0;
    }
    if (text == "committed" || text == "earliest" || text == "latest") {
        check(timestamp_ms == -7, "a start word set a timestamp");
        return 0;
    }
    check(start == rtcrm::kafka_start::timestamp, "a start that is not a word is not a timestamp");
    if (!text.empty() && text.find_first_not_of("0123456789", text.starts_with('-') ? 1 : 0) == std::string_view::npos) {
        check(std::to_string(timestamp_ms).size() <= text.size(), "a timestamp in ms read as another number");
        return 0;
    }
    check(text.ends_with('Z') && text.find('\0') == std::string_view::npos,
          "an ISO 8601 start was taken with bytes after its 'Z'");
    return 0;
}
