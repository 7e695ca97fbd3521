/// @file duration.hpp
/// The one grammar for durations in rtcrm, shared by configuration files, command-line
/// flags and Lua scripts (`profile:count("fights_lost", "1d")`, `cap = { every = "6h" }`),
/// so a duration that one of them takes the others take too.
///
/// Grammar: decimal digits, then a unit: `ms`, `s`, `m` (minutes), `h`, `d` (86,400 s) or
/// `w` (7 days); digits alone are milliseconds. No sign, no spaces, no fractions.
///
/// Caveats: a day is 86,400 s of event time or wall-clock time, never a calendar day (no
/// time zones, no daylight saving).
///
/// Example:
/// @code
///   rtcrm::parse_duration("6h");    // 21'600'000 ms
///   rtcrm::parse_duration("250");   // 250 ms
///   rtcrm::parse_duration("1.5h");  // std::nullopt
/// @endcode
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace rtcrm {

/// Parses `text` by the grammar above. Returns std::nullopt for anything else: an empty
/// text, a sign, spaces, a fraction, an unknown unit, or more milliseconds than
/// std::chrono::milliseconds holds. Thread-safe; never throws.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept;

}  // namespace rtcrm
