/// @file archive_layout.hpp
/// How event time maps onto an event archive: one file per UTC day of event time, named
/// `YYYY-MM-DD.ndjson.zst`, and the time bounds (`--from`, `--to`) a reader is given.
///
/// A day is counted from the epoch (day 0 is 1970-01-01): the day of an event time `ts`
/// (ms) is `floor(ts / 86'400'000)`, so a file holds exactly the events whose `ts` falls
/// within its UTC day, and a reader skips whole files outside its bounds by name.
///
/// Time bounds are written as ms since the epoch (`1793491200000`), a UTC date
/// (`2026-11-01`, its midnight), or ISO 8601 UTC (`2026-11-01T10:00:00Z`, optionally with
/// `.mmm` milliseconds).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtcrm::archive {

/// Milliseconds in a day.
inline constexpr std::int64_t day_ms = 86'400'000;
/// The suffix of a day file.
inline constexpr std::string_view day_file_suffix = ".ndjson.zst";

/// The day (since 1970-01-01) of an event time in ms; negative times round down.
[[nodiscard]] constexpr std::int64_t day_of(std::int64_t ts_ms) noexcept {
    return ts_ms >= 0 ? ts_ms / day_ms : -((-ts_ms + day_ms - 1) / day_ms);
}

/// "YYYY-MM-DD" of a day.
[[nodiscard]] std::string day_text(std::int64_t day);
/// "YYYY-MM-DD.ndjson.zst": the name of a day's file.
[[nodiscard]] std::string day_file_name(std::int64_t day);
/// The day a file name names (`YYYY-MM-DD.ndjson.zst` exactly), or nullopt for any other name.
[[nodiscard]] std::optional<std::int64_t> day_of_file_name(std::string_view name);

/// A time bound: ms since the epoch, `YYYY-MM-DD` (UTC midnight) or
/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z`; nullopt if `text` is none of these.
[[nodiscard]] std::optional<std::int64_t> parse_time_bound(std::string_view text);

}  // namespace rtcrm::archive
