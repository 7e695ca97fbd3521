// Internal: a campaign's quiet hours (`quiet = { from, to, tz, default_tz, defer }`) in the
// player's local time, and the instants of `active = { from, to }`. The time-zone rules
// come from the system tz database (/usr/share/zoneinfo) through Howard Hinnant's date
// library; nothing here reads tzdata itself.
//
// Local times of day ("HH:MM"): two-digit hours 00..23 and minutes 00..59, so "00:00" to
// "23:59". "24:00" is refused: as an end it would equal "00:00", and "00:00" to "24:00"
// would then be read as an empty window instead of a whole day.
//
// Time zones: IANA names known to the system tz database, case-sensitive, links included
// ("Europe/Berlin", "Asia/Kolkata", "UTC", "Asia/Calcutta"). "localtime" is refused: it
// names the server's own zone, so the same profile would behave differently on another
// machine. The database is read once per process, at the first call of any function
// here, and every zone's rules are loaded then (about 30 ms and a few MB), so the calls
// made while triggers fire read shared immutable data only: no lock, no allocation, no I/O.
//
// Quiet hours, decided on the local wall clock of the player's zone:
// - from < to: each local day D has one quiet period, from D at `from` to D at `to`
//   ("01:00" to "06:00").
// - from > to: the period starts on D at `from` and ends on D+1 at `to`, across midnight
//   ("22:00" to "08:00").
// - from == to: never quiet.
// - A period is half-open: quiet from the first instant the wall clock shows `from` up
//   to, not including, the first instant it shows `to`.
// - Daylight saving. A boundary that falls in a spring-forward gap (02:30 on the day the
//   clock jumps from 02:00 to 03:00) happens at the end of the gap, the first instant the
//   clock shows a later time (03:00). A boundary that the wall clock shows twice (02:30 on
//   the day the clock falls back from 03:00 to 02:00) happens the first time. So each
//   period is one unbroken stretch of time. In the fall-back night a "22:00" to "02:30"
//   window ends at the first 02:30, and the repeated 02:00..02:30 that follows is not
//   quiet (it comes after the period's end); a "02:30" to "08:00" window starts at the
//   first 02:30 and stays quiet through the repeated 02:00..02:30.
// - Periods that touch (the break between them does not exist on the wall clock that
//   day, as when a whole local day is skipped) join into one, so the end `quiet_until`
//   gives is never itself inside quiet hours.
//
// The player's zone: the caller passes the profile attribute named by `tz`; an empty
// name (attribute unset or not a string) or one the database does not know selects
// `default_tz`, and the verdict says which case applied so it can be counted. A
// `default_tz` that does not resolve (never after `check_time_zone` passed for it) is
// taken as UTC.
//
// Instants for `active` (`parse_time_point`): "YYYY-MM-DDTHH:MM:SS" with an optional
// fraction of 1 to 3 digits, then "Z" or a numeric offset "+HH:MM" / "-HH:MM"
// ("2026-02-10T00:00:00Z", "2026-02-10T01:00:00.250+01:00"); or a base-10 integer of
// milliseconds since the epoch ("1770681600000"). Nothing else: no lower-case "t" or "z",
// no space for "T", no date without a time, no leap second ":60".
//
// Every function is thread-safe. Errors are rtcrm::result failures (errc::invalid_config)
// with a reason a script author can act on; the caller adds the file, line and field.
#pragma once

#include <rtcrm/core/result.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtcrm::detail {

/// A campaign's quiet hours. Minutes are local minutes of the day, in [0, 1440)
/// (`parse_time_of_day`); a window with a minute outside that range is never quiet.
struct quiet_hours {
    int from_minute = 0;
    int to_minute = 0;
    std::string tz_attribute;  ///< the profile attribute that holds the player's zone name
    std::string default_tz;    ///< the zone of players without a known one
    bool defer = true;         ///< defer a trigger to the end of the quiet period (else drop it)
};

/// Which zone a verdict used.
enum class zone_source : std::uint8_t {
    player,   ///< the zone the player's attribute names
    unset,    ///< the attribute was empty: default_tz
    unknown,  ///< the attribute names no zone of the tz database: default_tz
};

struct quiet_verdict {
    /// When the instant is inside quiet hours: the UTC milliseconds at which they end
    /// (the first instant after it that is not quiet). Empty when it is not quiet.
    std::optional<std::int64_t> until_ms;
    zone_source zone = zone_source::player;
};

/// Parses a local time of day "HH:MM" ("00:00" to "23:59") into minutes of the day.
[[nodiscard]] result<int> parse_time_of_day(std::string_view text);

/// Succeeds when `name` is a zone of the tz database (see above); the failure says why
/// not (unknown name, or the database could not be read).
[[nodiscard]] result<void> check_time_zone(std::string_view name);

/// Whether the UTC instant `ts_ms` is inside `quiet`'s quiet hours in the zone named
/// `zone_name` (or `quiet.default_tz`, see above), and until when. Never throws.
[[nodiscard]] quiet_verdict quiet_until(const quiet_hours& quiet, std::string_view zone_name,
                                        std::int64_t ts_ms) noexcept;

/// Parses an instant of `active = { from, to }` (see above) into UTC milliseconds.
[[nodiscard]] result<std::int64_t> parse_time_point(std::string_view text);

}  // namespace rtcrm::detail
