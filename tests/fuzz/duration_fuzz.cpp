// The duration parser (rtcrm/core/duration.hpp), against the grammar it documents: decimal
// digits, then ms, s, m, h, d, w or nothing (milliseconds); no sign, space or fraction;
// nullopt past what std::chrono::milliseconds holds. The input is the text.
#include "fuzz_check.hpp"

#include <rtcrm/core/duration.hpp>

#include <limits>
#include <optional>
#include <string>

namespace {

// The grammar, written out plainly: digit by digit, stopping as soon as the value is too large.
std::optional<std::int64_t> reference(std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
        ++digits;
    }
    if (digits == 0) {
        return std::nullopt;
    }
    const auto unit = text.substr(digits);
    std::int64_t scale = 0;
    if (unit.empty() || unit == "ms") {
        scale = 1;
    } else if (unit == "s") {
        scale = 1000;
    } else if (unit == "m") {
        scale = 60'000;
    } else if (unit == "h") {
        scale = 3'600'000;
    } else if (unit == "d") {
        scale = 86'400'000;
    } else if (unit == "w") {
        scale = 604'800'000;
    } else {
        return std::nullopt;
    }
    const std::int64_t limit = std::numeric_limits<std::chrono::milliseconds::rep>::max() / scale;
    std::int64_t value = 0;
    for (std::size_t i = 0; i < digits; ++i) {
        const int digit = text[i] - '0';
        if (value > (limit - digit) / 10) {
            return std::nullopt;
        }
        value = value * 10 + digit;
    }
    return value * scale;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = rtcrm::fuzz::text_of(data, size);
    const auto parsed = rtcrm::parse_duration(text);
    const auto expected = reference(text);
    if (parsed.has_value() != expected.has_value()) {
        rtcrm::fuzz::fail("parse_duration(\"" + std::string{text} + "\") " + (parsed ? "accepted" : "refused") +
                          " what the grammar " + (expected ? "accepts" : "refuses"));
    }
    if (parsed && parsed->count() != *expected) {
        rtcrm::fuzz::fail("parse_duration(\"" + std::string{text} + "\") is " + std::to_string(parsed->count()) +
                          " ms, the grammar says " + std::to_string(*expected));
    }
    return 0;
}
