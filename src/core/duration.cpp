#include <rtcrm/core/duration.hpp>

#include <charconv>
#include <cstdint>
#include <limits>

namespace rtcrm {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end == text.data()) {
        return std::nullopt;
    }
    const std::string_view unit{end, static_cast<std::size_t>(text.data() + text.size() - end)};
    std::uint64_t scale = 0;
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
        scale = 7 * 86'400'000ULL;
    } else {
        return std::nullopt;
    }
    constexpr auto max_ms = static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max());
    if (n > max_ms / scale) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(n * scale));
}

}  // namespace rtcrm
