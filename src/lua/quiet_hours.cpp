#include "quiet_hours.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <exception>
#include <utility>
#include <vector>

namespace rtcrm::detail {
namespace {

using std::chrono::milliseconds;
using sys_ms = date::sys_time<milliseconds>;
using local_ms = date::local_time<milliseconds>;

constexpr int minutes_per_day = 24 * 60;

// The zones of the tz database by name, built once. Lookups are binary searches over
// immutable data, so threads share the index without locks.
struct zone_index {
    std::vector<std::pair<std::string_view, const date::time_zone*>> by_name;
    std::string failure;  // why the database could not be read; empty when it was

    [[nodiscard]] const date::time_zone* find(std::string_view name) const noexcept {
        const auto it = std::lower_bound(by_name.begin(), by_name.end(), name,
                                         [](const auto& entry, std::string_view n) { return entry.first < n; });
        return it != by_name.end() && it->first == name ? it->second : nullptr;
    }
};

zone_index build_zone_index() {
    zone_index index;
    try {
        const auto& db = date::get_tzdb();
        index.by_name.reserve(db.zones.size());
        for (const auto& zone : db.zones) {
            if (zone.name() == "localtime") {
                continue;  // the server's own zone: profiles would behave differently per machine
            }
            try {
                // Loads the zone's rules now, so no trigger pays for the file read later.
                (void)zone.get_info(date::sys_seconds{});
            } catch (const std::exception&) {
                continue;  // an unreadable zone file: the zone is unknown rather than half-usable
            }
            index.by_name.emplace_back(zone.name(), &zone);
        }
        std::sort(index.by_name.begin(), index.by_name.end());
        if (index.by_name.empty()) {
            index.failure = "the time-zone database (/usr/share/zoneinfo) holds no zones; install tzdata";
        }
    } catch (const std::exception& e) {
        index.by_name.clear();
        index.failure = fmt::format("the time-zone database could not be read ({}); install tzdata", e.what());
    }
    return index;
}

const zone_index& zones() {
    static const zone_index index = build_zone_index();
    return index;
}

// A null zone is UTC: the local wall clock is the UTC one.
local_ms to_local(const date::time_zone* zone, sys_ms t) {
    return zone != nullptr ? zone->to_local(t) : local_ms{t.time_since_epoch()};
}

// The first instant at which the zone's wall clock shows `wall` or a later time: in a
// spring-forward gap, the end of the gap; for a time shown twice, the first showing.
sys_ms first_instant_at(const date::time_zone* zone, local_ms wall) {
    const sys_ms as_utc{wall.time_since_epoch()};
    if (zone == nullptr) {
        return as_utc;
    }
    const auto info = zone->get_info(wall);
    if (info.result == date::local_info::nonexistent) {
        return std::chrono::time_point_cast<milliseconds>(info.second.begin);
    }
    return as_utc - info.first.offset;
}

struct period {
    sys_ms begin;
    sys_ms end;
};

// The quiet period that starts on local day `day` (from != to).
period period_of(const date::time_zone* zone, const quiet_hours& quiet, date::local_days day) {
    const auto end_day = quiet.from_minute < quiet.to_minute ? day : day + date::days{1};
    return {first_instant_at(zone, day + std::chrono::minutes{quiet.from_minute}),
            first_instant_at(zone, end_day + std::chrono::minutes{quiet.to_minute})};
}

std::optional<std::int64_t> quiet_end(const date::time_zone* zone, const quiet_hours& quiet, sys_ms t) {
    const auto today = date::floor<date::days>(to_local(zone, t));
    // The period containing t started on the day before, the same day, or (after a
    // fall-back across midnight) the day after t's local day; periods never overlap.
    for (int offset = -1; offset <= 1; ++offset) {
        auto day = today + date::days{offset};
        auto p = period_of(zone, quiet, day);
        if (p.begin <= t && t < p.end) {
            // Join the periods that start where this one ends (a break the wall clock
            // skips); bounded, as a zone skips at most one local day at a time.
            for (int joined = 0; joined < 3; ++joined) {
                day += date::days{1};
                const auto next = period_of(zone, quiet, day);
                if (next.begin > p.end) {
                    break;
                }
                p.end = std::max(p.end, next.end);
            }
            return p.end.time_since_epoch().count();
        }
    }
    return std::nullopt;
}

// Instants whose local calendar date stays within years 1..9999, far from the limits of
// the library's day count; outside them nothing is quiet.
constexpr std::int64_t earliest_ms = -62'135'596'800'000 + 2 * 86'400'000LL;
constexpr std::int64_t latest_ms = 253'402'300'799'999 - 2 * 86'400'000LL;

bool digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int number(std::string_view s) {
    int value = 0;
    for (const char c : s) {
        value = value * 10 + (c - '0');
    }
    return value;
}

}  // namespace

result<int> parse_time_of_day(std::string_view text) {
    const auto wrong = [&](std::string_view why) -> result<int> {
        return {errc::invalid_config,
                fmt::format("\"{}\" is not a local time of day: {} (expected \"HH:MM\" from \"00:00\" to \"23:59\", "
                            "e.g. \"22:00\")",
                            text, why)};
    };
    if (text.size() != 5 || text[2] != ':' || !digits(text.substr(0, 2)) || !digits(text.substr(3, 2))) {
        return wrong("not in the form HH:MM");
    }
    const int hour = number(text.substr(0, 2));
    const int minute = number(text.substr(3, 2));
    if (hour == 24 && minute == 0) {
        return wrong("write midnight as \"00:00\"");
    }
    if (hour > 23) {
        return wrong("the hour is over 23");
    }
    if (minute > 59) {
        return wrong("the minute is over 59");
    }
    return hour * 60 + minute;
}

result<void> check_time_zone(std::string_view name) {
    const auto& index = zones();
    if (!index.failure.empty()) {
        return {errc::invalid_config, index.failure};
    }
    if (index.find(name) == nullptr) {
        if (name == "localtime") {
            return {errc::invalid_config,
                    "\"localtime\" is the server's own zone, which differs between machines: name an IANA zone "
                    "such as \"Europe/Berlin\" or \"UTC\""};
        }
        return {errc::invalid_config,
                fmt::format("\"{}\" is not a time zone of the tz database (names are case-sensitive, e.g. "
                            "\"Europe/Berlin\", \"America/New_York\", \"UTC\")",
                            name)};
    }
    return {};
}

quiet_verdict quiet_until(const quiet_hours& quiet, std::string_view zone_name, std::int64_t ts_ms) noexcept {
    const auto& index = zones();
    quiet_verdict verdict;
    const date::time_zone* zone = zone_name.empty() ? nullptr : index.find(zone_name);
    if (zone == nullptr) {
        verdict.zone = zone_name.empty() ? zone_source::unset : zone_source::unknown;
        zone = index.find(quiet.default_tz);
    }
    const bool valid_window = quiet.from_minute >= 0 && quiet.from_minute < minutes_per_day &&
                              quiet.to_minute >= 0 && quiet.to_minute < minutes_per_day;
    if (!valid_window || quiet.from_minute == quiet.to_minute || ts_ms < earliest_ms || ts_ms > latest_ms) {
        return verdict;
    }
    const sys_ms t{milliseconds{ts_ms}};
    try {
        verdict.until_ms = quiet_end(zone, quiet, t);
    } catch (const std::exception&) {
        // Unreachable with the rules loaded up front; UTC keeps the verdict defined.
        verdict.until_ms = quiet_end(nullptr, quiet, t);
    }
    return verdict;
}

result<std::int64_t> parse_time_point(std::string_view text) {
    const auto wrong = [&](std::string_view why) -> result<std::int64_t> {
        return {errc::invalid_config,
                fmt::format("\"{}\" is not an instant: {} (expected \"YYYY-MM-DDTHH:MM:SS[.mmm]Z\", an offset such "
                            "as \"+01:00\" in place of \"Z\", or milliseconds since the epoch)",
                            text, why)};
    };
    if (digits(text)) {
        std::int64_t ms = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
        if (ec != std::errc{} || end != text.data() + text.size()) {
            return wrong("too many milliseconds");
        }
        return ms;
    }
    // YYYY-MM-DDTHH:MM:SS
    constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd";
    for (std::size_t i = 0; i < std::min(shape.size(), text.size()); ++i) {
        const char want = shape[i];
        const char got = text[i];
        if (want == 'd' ? !(got >= '0' && got <= '9') : got != want) {
            return wrong(fmt::format("'{}' at position {} where {} belongs", got, i + 1,
                                     want == 'd' ? std::string{"a digit"} : fmt::format("'{}'", want)));
        }
    }
    if (text.size() < shape.size()) {
        return wrong("it ends before the seconds");
    }
    const int year = number(text.substr(0, 4));
    const int month = number(text.substr(5, 2));
    const int day = number(text.substr(8, 2));
    const int hour = number(text.substr(11, 2));
    const int minute = number(text.substr(14, 2));
    const int second = number(text.substr(17, 2));
    const date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(month)},
                                   date::day{static_cast<unsigned>(day)}};
    if (!ymd.ok()) {
        return wrong(fmt::format("{} is not a date", text.substr(0, 10)));
    }
    if (hour > 23 || minute > 59 || second > 59) {
        return wrong(fmt::format("{} is not a time of day", text.substr(11, 8)));
    }
    std::string_view rest = text.substr(shape.size());
    int millis = 0;
    if (!rest.empty() && rest.front() == '.') {
        std::size_t n = 1;
        while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') {
            ++n;
        }
        const auto fraction = rest.substr(1, n - 1);
        if (fraction.empty() || fraction.size() > 3) {
            return wrong("the fraction of a second needs 1 to 3 digits");
        }
        millis = number(fraction);
        for (std::size_t i = fraction.size(); i < 3; ++i) {
            millis *= 10;
        }
        rest.remove_prefix(n);
    }
    int offset_minutes = 0;
    if (rest == "Z") {
        // UTC
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
               digits(rest.substr(1, 2)) && digits(rest.substr(4, 2))) {
        const int oh = number(rest.substr(1, 2));
        const int om = number(rest.substr(4, 2));
        if (oh > 23 || om > 59) {
            return wrong(fmt::format("{} is not an offset from UTC", rest));
        }
        offset_minutes = (rest[0] == '-' ? -1 : 1) * (oh * 60 + om);
    } else if (rest.empty()) {
        return wrong("no \"Z\" or offset from UTC at the end");
    } else {
        return wrong(fmt::format("\"{}\" where \"Z\" or an offset such as \"+01:00\" belongs", rest));
    }
    const auto local = date::sys_days{ymd} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
                       std::chrono::seconds{second} + milliseconds{millis};
    const auto utc = local - std::chrono::minutes{offset_minutes};
    return std::chrono::duration_cast<milliseconds>(utc.time_since_epoch()).count();
}

}  // namespace rtcrm::detail
