#include <rtcrm/archive/archive_layout.hpp>

#include <fmt/format.h>

#include <charconv>
#include <chrono>

namespace rtcrm::archive {

namespace {

// Digits at [pos, pos + n) of `s` as a number, or -1.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
    if (pos + n > s.size()) {
        return -1;
    }
    int value = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

// "YYYY-MM-DD" at the start of `s` as a day, or nullopt (also for a date that does not exist).
std::optional<std::int64_t> date_prefix(std::string_view s) {
    const int y = digits(s, 0, 4);
    const int m = digits(s, 5, 2);
    const int d = digits(s, 8, 2);
    if (y < 0 || m < 0 || d < 0 || s[4] != '-' || s[7] != '-') {
        return std::nullopt;
    }
    const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(m)},
                                          std::chrono::day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    return std::chrono::sys_days{ymd}.time_since_epoch().count();
}

}  // namespace

std::string day_text(std::int64_t day) {
    const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
    return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                       static_cast<unsigned>(ymd.day()));
}

std::string day_file_name(std::int64_t day) { return day_text(day) + std::string{day_file_suffix}; }

std::optional<std::int64_t> day_of_file_name(std::string_view name) {
    if (name.size() != 10 + day_file_suffix.size() || !name.ends_with(day_file_suffix)) {
        return std::nullopt;
    }
    return date_prefix(name);
}

std::optional<std::int64_t> parse_time_bound(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    std::int64_t ms = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec == std::errc{} && end == text.data() + text.size()) {
        return ms >= 0 ? std::optional{ms} : std::nullopt;
    }
    const auto day = date_prefix(text);
    if (!day) {
        return std::nullopt;
    }
    std::int64_t at = *day * day_ms;
    if (text.size() == 10) {
        return at;
    }
    // THH:MM:SS[.mmm]Z
    const int h = digits(text, 11, 2);
    const int mi = digits(text, 14, 2);
    const int s = digits(text, 17, 2);
    if (text.size() < 20 || text[10] != 'T' || text[13] != ':' || text[16] != ':' || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || s < 0 || s > 60) {
        return std::nullopt;
    }
    at += ((h * 60 + mi) * 60 + s) * std::int64_t{1000};
    std::size_t pos = 19;
    if (text[pos] == '.') {
        const int frac = digits(text, pos + 1, 3);
        if (frac < 0) {
            return std::nullopt;
        }
        at += frac;
        pos += 4;
    }
    if (pos + 1 != text.size() || text[pos] != 'Z') {
        return std::nullopt;
    }
    return at;
}

}  // namespace rtcrm::archive
