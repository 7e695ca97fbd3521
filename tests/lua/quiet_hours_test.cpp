// Quiet hours in the players' local time (src/lua/quiet_hours.hpp): windows within a day
// and across midnight, both daylight-saving changes of Europe/Berlin in 2026 (spring
// forward on 29 March at 01:00Z, 02:00 CET -> 03:00 CEST; fall back on 25 October at
// 01:00Z, 03:00 CEST -> 02:00 CET), boundaries inside the gap and the repeated hour, a
// half-hour offset, a skipped day, unknown zones; and the instants of `active`.
// Expected instants are written in UTC with the local wall time beside them.
#include "lua/quiet_hours.hpp"

#include <rtcrm/core/error.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using rtcrm::detail::parse_time_of_day;
using rtcrm::detail::parse_time_point;
using rtcrm::detail::quiet_hours;
using rtcrm::detail::quiet_until;
using rtcrm::detail::zone_source;

// UTC milliseconds of an instant written "YYYY-MM-DDTHH:MM:SS[.mmm]Z" (the parser's
// UTC form is checked against literal numbers below).
std::int64_t utc(std::string_view text) {
    const auto parsed = parse_time_point(text);
    EXPECT_TRUE(parsed.ok()) << text;
    return parsed.ok() ? parsed.value() : -1;
}

quiet_hours window(std::string_view from, std::string_view to, std::string default_tz = "UTC") {
    return quiet_hours{.from_minute = parse_time_of_day(from).value(),
                       .to_minute = parse_time_of_day(to).value(),
                       .tz_attribute = "tz",
                       .default_tz = std::move(default_tz)};
}

// The end of the quiet hours around `ts`, or nullopt when `ts` is not quiet.
std::optional<std::int64_t> until(const quiet_hours& q, std::string_view zone, std::string_view ts) {
    return quiet_until(q, zone, utc(ts)).until_ms;
}

constexpr std::string_view berlin = "Europe/Berlin";

// --- local times of day -------------------------------------------------------------

TEST(quiet_hours, times_of_day_are_minutes_of_the_day) {
    EXPECT_EQ(parse_time_of_day("00:00").value(), 0);
    EXPECT_EQ(parse_time_of_day("08:00").value(), 480);
    EXPECT_EQ(parse_time_of_day("22:30").value(), 1350);
    EXPECT_EQ(parse_time_of_day("23:59").value(), 1439);
}

TEST(quiet_hours, a_bad_time_of_day_is_refused_with_the_expected_form) {
    for (const std::string_view bad : {"24:00", "25:00", "07:60", "7:00", "0700", "07:00:00", "", " 07:00", "ab:cd"}) {
        const auto parsed = parse_time_of_day(bad);
        ASSERT_FALSE(parsed.ok()) << bad;
        EXPECT_EQ(parsed.error().code, rtcrm::errc::invalid_config);
        EXPECT_NE(parsed.error().reason.find("HH:MM"), std::string::npos) << parsed.error().reason;
    }
    EXPECT_NE(parse_time_of_day("24:00").error().reason.find("\"00:00\""), std::string::npos);
}

// --- zones -------------------------------------------------------------------------

TEST(quiet_hours, zones_of_the_tz_database_are_known_links_included) {
    for (const std::string_view zone : {"Europe/Berlin", "UTC", "Asia/Kolkata", "Asia/Calcutta", "America/New_York"}) {
        EXPECT_TRUE(rtcrm::detail::check_time_zone(zone).ok()) << zone;
    }
}

TEST(quiet_hours, unknown_zones_and_the_servers_own_are_refused) {
    for (const std::string_view zone : {"Mars/Olympus", "europe/berlin", "", "Europe/Berlin ", "localtime"}) {
        const auto checked = rtcrm::detail::check_time_zone(zone);
        ASSERT_FALSE(checked.ok()) << zone;
        EXPECT_EQ(checked.error().code, rtcrm::errc::invalid_config);
    }
    EXPECT_NE(rtcrm::detail::check_time_zone("europe/berlin").error().reason.find("case-sensitive"),
              std::string::npos);
}

// --- windows -----------------------------------------------------------------------

TEST(quiet_hours, utc_night_window_spans_midnight_half_open) {
    const auto q = window("22:00", "08:00");
    EXPECT_EQ(until(q, "UTC", "2026-06-01T21:59:59.999Z"), std::nullopt);
    EXPECT_EQ(until(q, "UTC", "2026-06-01T22:00:00Z"), utc("2026-06-02T08:00:00Z"));
    EXPECT_EQ(until(q, "UTC", "2026-06-02T03:00:00Z"), utc("2026-06-02T08:00:00Z"));
    EXPECT_EQ(until(q, "UTC", "2026-06-02T07:59:59.999Z"), utc("2026-06-02T08:00:00Z"));
    EXPECT_EQ(until(q, "UTC", "2026-06-02T08:00:00Z"), std::nullopt);
    EXPECT_EQ(until(q, "UTC", "2026-06-02T12:00:00Z"), std::nullopt);
}

TEST(quiet_hours, a_window_ending_at_midnight) {
    const auto q = window("22:00", "00:00");
    EXPECT_EQ(until(q, "UTC", "2026-06-01T23:59:00Z"), utc("2026-06-02T00:00:00Z"));
    EXPECT_EQ(until(q, "UTC", "2026-06-02T00:00:00Z"), std::nullopt);
}

TEST(quiet_hours, same_day_windows) {
    const auto afternoon = window("13:00", "15:00");
    EXPECT_EQ(until(afternoon, berlin, "2026-07-01T10:59:59.999Z"), std::nullopt);                 // 12:59:59.999 CEST
    EXPECT_EQ(until(afternoon, berlin, "2026-07-01T11:00:00Z"), utc("2026-07-01T13:00:00Z"));      // 13:00 -> 15:00 CEST
    EXPECT_EQ(until(afternoon, berlin, "2026-07-01T12:30:00Z"), utc("2026-07-01T13:00:00Z"));
    EXPECT_EQ(until(afternoon, berlin, "2026-07-01T13:00:00Z"), std::nullopt);                     // 15:00 CEST
    const auto small_hours = window("00:00", "06:00");
    EXPECT_EQ(until(small_hours, berlin, "2026-07-01T21:59:59.999Z"), std::nullopt);               // 23:59:59.999 CEST
    EXPECT_EQ(until(small_hours, berlin, "2026-07-01T22:00:00Z"), utc("2026-07-02T04:00:00Z"));    // 00:00 -> 06:00 CEST
    EXPECT_EQ(until(small_hours, berlin, "2026-07-02T04:00:00Z"), std::nullopt);
}

TEST(quiet_hours, from_equal_to_is_never_quiet) {
    const auto q = window("22:00", "22:00");
    for (const std::string_view ts : {"2026-06-01T00:00:00Z", "2026-06-01T20:00:00Z", "2026-06-01T22:00:00Z",
                                      "2026-06-01T23:30:00Z", "2026-03-29T01:00:00Z"}) {
        EXPECT_EQ(until(q, "UTC", ts), std::nullopt) << ts;
        EXPECT_EQ(until(q, berlin, ts), std::nullopt) << ts;
    }
}

TEST(quiet_hours, a_half_hour_offset_asia_kolkata) {
    const auto q = window("22:00", "08:00");
    EXPECT_EQ(until(q, "Asia/Kolkata", "2026-06-01T16:29:59.999Z"), std::nullopt);               // 21:59:59.999 IST
    EXPECT_EQ(until(q, "Asia/Kolkata", "2026-06-01T16:30:00Z"), utc("2026-06-02T02:30:00Z"));    // 22:00 -> 08:00 IST
    EXPECT_EQ(until(q, "Asia/Kolkata", "2026-06-01T20:00:00Z"), utc("2026-06-02T02:30:00Z"));    // 01:30 IST
    EXPECT_EQ(until(q, "Asia/Kolkata", "2026-06-02T02:30:00Z"), std::nullopt);
    // The zone is what decides: 16:30Z is day in UTC, 03:00Z (08:30 IST) night.
    EXPECT_EQ(until(q, "UTC", "2026-06-01T16:30:00Z"), std::nullopt);
    EXPECT_EQ(until(q, "Asia/Kolkata", "2026-06-02T03:00:00Z"), std::nullopt);
    EXPECT_EQ(until(q, "UTC", "2026-06-02T03:00:00Z"), utc("2026-06-02T08:00:00Z"));
}

// --- Europe/Berlin, spring forward (2026-03-29) --------------------------------------

TEST(quiet_hours, berlin_spring_forward_night_ends_at_eight_summer_time) {
    const auto q = window("22:00", "08:00");
    // 23:30 CET on the 28th; the night ends at 08:00 CEST on the 29th.
    EXPECT_EQ(until(q, berlin, "2026-03-28T22:30:00Z"), utc("2026-03-29T06:00:00Z"));
    // 01:59:59 CET and 03:00 CEST, either side of the jump.
    EXPECT_EQ(until(q, berlin, "2026-03-29T00:59:59Z"), utc("2026-03-29T06:00:00Z"));
    EXPECT_EQ(until(q, berlin, "2026-03-29T01:00:00Z"), utc("2026-03-29T06:00:00Z"));
    EXPECT_EQ(until(q, berlin, "2026-03-29T05:59:59.999Z"), utc("2026-03-29T06:00:00Z"));
    EXPECT_EQ(until(q, berlin, "2026-03-29T06:00:00Z"), std::nullopt);
    // The night before, all in winter time: 23:30 CET -> 08:00 CET.
    EXPECT_EQ(until(q, berlin, "2026-03-27T22:30:00Z"), utc("2026-03-28T07:00:00Z"));
    // The evening after, in summer time: 22:00 CEST = 20:00Z.
    EXPECT_EQ(until(q, berlin, "2026-03-29T19:59:59Z"), std::nullopt);
    EXPECT_EQ(until(q, berlin, "2026-03-29T20:00:00Z"), utc("2026-03-30T06:00:00Z"));
}

TEST(quiet_hours, berlin_spring_forward_start_in_the_gap_begins_when_the_gap_ends) {
    // 02:30 does not exist on the 29th: quiet starts at 03:00 CEST (01:00Z).
    const auto q = window("02:30", "08:00");
    EXPECT_EQ(until(q, berlin, "2026-03-29T00:59:59.999Z"), std::nullopt);                      // 01:59:59.999 CET
    EXPECT_EQ(until(q, berlin, "2026-03-29T01:00:00Z"), utc("2026-03-29T06:00:00Z"));            // 03:00 CEST
    // The day before has its 02:30 (CET): 01:30Z.
    EXPECT_EQ(until(q, berlin, "2026-03-28T01:29:59.999Z"), std::nullopt);
    EXPECT_EQ(until(q, berlin, "2026-03-28T01:30:00Z"), utc("2026-03-28T07:00:00Z"));
}

TEST(quiet_hours, berlin_spring_forward_end_in_the_gap_ends_when_the_gap_ends) {
    // The night would end at 02:30, which does not exist on the 29th: it ends at 03:00 CEST.
    const auto q = window("22:00", "02:30");
    EXPECT_EQ(until(q, berlin, "2026-03-28T22:30:00Z"), utc("2026-03-29T01:00:00Z"));            // 23:30 CET
    EXPECT_EQ(until(q, berlin, "2026-03-29T00:59:59.999Z"), utc("2026-03-29T01:00:00Z"));
    EXPECT_EQ(until(q, berlin, "2026-03-29T01:00:00Z"), std::nullopt);                           // 03:00 CEST
}

// --- Europe/Berlin, fall back (2026-10-25) -------------------------------------------

TEST(quiet_hours, berlin_fall_back_night_ends_at_eight_winter_time) {
    const auto q = window("22:00", "08:00");
    // 22:00 CEST on the 24th = 20:00Z; 23:30 CEST = 21:30Z; the night ends at 08:00 CET on the 25th.
    EXPECT_EQ(until(q, berlin, "2026-10-24T19:59:59.999Z"), std::nullopt);
    EXPECT_EQ(until(q, berlin, "2026-10-24T20:00:00Z"), utc("2026-10-25T07:00:00Z"));
    EXPECT_EQ(until(q, berlin, "2026-10-24T21:30:00Z"), utc("2026-10-25T07:00:00Z"));
    // 02:30 CEST, then 02:10 CET in the repeated hour: quiet both times.
    EXPECT_EQ(until(q, berlin, "2026-10-25T00:30:00Z"), utc("2026-10-25T07:00:00Z"));
    EXPECT_EQ(until(q, berlin, "2026-10-25T01:10:00Z"), utc("2026-10-25T07:00:00Z"));
    EXPECT_EQ(until(q, berlin, "2026-10-25T06:59:59.999Z"), utc("2026-10-25T07:00:00Z"));
    EXPECT_EQ(until(q, berlin, "2026-10-25T07:00:00Z"), std::nullopt);
    // The evening after, in winter time: 22:00 CET = 21:00Z.
    EXPECT_EQ(until(q, berlin, "2026-10-25T20:59:59Z"), std::nullopt);
    EXPECT_EQ(until(q, berlin, "2026-10-25T21:00:00Z"), utc("2026-10-26T07:00:00Z"));
}

TEST(quiet_hours, berlin_fall_back_end_shown_twice_ends_the_first_time) {
    // 02:30 is shown at 00:30Z (CEST) and again at 01:30Z (CET): the night ends at the first.
    const auto q = window("22:00", "02:30");
    EXPECT_EQ(until(q, berlin, "2026-10-24T22:00:00Z"), utc("2026-10-25T00:30:00Z"));            // 00:00 CEST
    EXPECT_EQ(until(q, berlin, "2026-10-25T00:29:59.999Z"), utc("2026-10-25T00:30:00Z"));
    EXPECT_EQ(until(q, berlin, "2026-10-25T00:30:00Z"), std::nullopt);
    // The repeated 02:00..02:30 (CET) comes after the period's end: not quiet.
    EXPECT_EQ(until(q, berlin, "2026-10-25T01:10:00Z"), std::nullopt);
}

TEST(quiet_hours, berlin_fall_back_start_shown_twice_starts_the_first_time) {
    // Quiet from the first 02:30 (CEST, 00:30Z) to 08:00 CET, in one stretch: the repeated
    // 02:00..02:30 (CET), although its wall time is before 02:30, stays inside.
    const auto q = window("02:30", "08:00");
    EXPECT_EQ(until(q, berlin, "2026-10-25T00:29:59.999Z"), std::nullopt);
    EXPECT_EQ(until(q, berlin, "2026-10-25T00:30:00Z"), utc("2026-10-25T07:00:00Z"));
    EXPECT_EQ(until(q, berlin, "2026-10-25T01:10:00Z"), utc("2026-10-25T07:00:00Z"));            // 02:10 CET
    EXPECT_EQ(until(q, berlin, "2026-10-25T07:00:00Z"), std::nullopt);
}

// --- a skipped local day --------------------------------------------------------------

TEST(quiet_hours, periods_joined_by_a_skipped_day_give_one_end) {
    // Samoa skipped 30 December 2011: 23:59:59 on the 29th (UTC-10) was followed by 00:00
    // on the 31st (UTC+14), at 10:00Z. The night of the 29th and that of the (missing)
    // 30th touch, so quiet lasts until 08:00 on the 31st.
    const auto q = window("22:00", "08:00");
    EXPECT_EQ(until(q, "Pacific/Apia", "2011-12-30T09:00:00Z"), utc("2011-12-30T18:00:00Z"));   // 23:00 on the 29th
    EXPECT_EQ(until(q, "Pacific/Apia", "2011-12-30T10:00:00Z"), utc("2011-12-30T18:00:00Z"));   // 00:00 on the 31st
    EXPECT_EQ(until(q, "Pacific/Apia", "2011-12-30T18:00:00Z"), std::nullopt);
}

// --- which zone ------------------------------------------------------------------------

TEST(quiet_hours, an_unknown_zone_falls_back_to_default_tz_and_says_so) {
    const auto q = window("22:00", "08:00", std::string{berlin});
    const auto unknown = quiet_until(q, "Mars/Olympus", utc("2026-03-28T22:30:00Z"));
    EXPECT_EQ(unknown.zone, zone_source::unknown);
    EXPECT_EQ(unknown.until_ms, utc("2026-03-29T06:00:00Z"));  // Berlin's night, as above

    const auto wrong_case = quiet_until(q, "europe/berlin", utc("2026-03-28T22:30:00Z"));
    EXPECT_EQ(wrong_case.zone, zone_source::unknown);

    const auto unset = quiet_until(q, "", utc("2026-03-28T22:30:00Z"));
    EXPECT_EQ(unset.zone, zone_source::unset);
    EXPECT_EQ(unset.until_ms, utc("2026-03-29T06:00:00Z"));

    const auto known = quiet_until(q, "UTC", utc("2026-03-28T22:30:00Z"));
    EXPECT_EQ(known.zone, zone_source::player);
    EXPECT_EQ(known.until_ms, utc("2026-03-29T08:00:00Z"));  // the player's own zone wins

    // Not quiet, but the fallback is still reported (it decided).
    const auto daytime = quiet_until(q, "Mars/Olympus", utc("2026-03-28T12:00:00Z"));
    EXPECT_EQ(daytime.zone, zone_source::unknown);
    EXPECT_EQ(daytime.until_ms, std::nullopt);
}

TEST(quiet_hours, an_unknown_zone_with_a_utc_default_uses_utc) {
    const auto q = window("22:00", "08:00", "UTC");
    const auto v = quiet_until(q, "Not/AZone", utc("2026-06-01T23:00:00Z"));
    EXPECT_EQ(v.zone, zone_source::unknown);
    EXPECT_EQ(v.until_ms, utc("2026-06-02T08:00:00Z"));
    // 23:00Z is 01:00 CEST: quiet in Berlin, until 06:00Z.
    EXPECT_EQ(until(q, berlin, "2026-06-01T23:00:00Z"), utc("2026-06-02T06:00:00Z"));
}

TEST(quiet_hours, concurrent_callers_see_the_same_verdicts) {
    const auto q = window("22:00", "08:00", "UTC");
    const auto ts = utc("2026-10-25T01:10:00Z");
    const auto in_berlin = utc("2026-10-25T07:00:00Z");  // 02:10 CET, in the repeated hour
    const auto in_utc = utc("2026-10-25T08:00:00Z");     // the default zone's night
    std::vector<int> agreed(4, 0);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < agreed.size(); ++i) {
        threads.emplace_back([&, i] {
            for (int n = 0; n < 1000; ++n) {
                const auto zone = n % 2 == 0 ? berlin : std::string_view{"Mars/Olympus"};
                const auto v = quiet_until(q, zone, ts);
                const auto want = n % 2 == 0 ? in_berlin : in_utc;
                agreed[i] += v.until_ms == want ? 1 : 0;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const int a : agreed) {
        EXPECT_EQ(a, 1000);
    }
}

// --- instants of `active` ----------------------------------------------------------------

TEST(time_point, iso_8601_utc_and_offsets) {
    EXPECT_EQ(parse_time_point("1970-01-01T00:00:00Z").value(), 0);
    EXPECT_EQ(parse_time_point("2026-02-10T00:00:00Z").value(), 1'770'681'600'000);
    EXPECT_EQ(parse_time_point("2026-02-15T00:00:00Z").value(), 1'771'113'600'000);
    EXPECT_EQ(parse_time_point("2026-02-10T01:00:00+01:00").value(), 1'770'681'600'000);
    EXPECT_EQ(parse_time_point("2026-02-09T19:00:00-05:00").value(), 1'770'681'600'000);
    EXPECT_EQ(parse_time_point("2026-02-10T05:30:00+05:30").value(), 1'770'681'600'000);
    EXPECT_EQ(parse_time_point("2026-02-10T00:00:00-00:00").value(), 1'770'681'600'000);
    EXPECT_EQ(parse_time_point("2024-02-29T12:00:00Z").value(), 1'709'208'000'000);  // a leap day
}

TEST(time_point, fractions_of_a_second_are_milliseconds) {
    EXPECT_EQ(parse_time_point("2026-02-10T00:00:00.250Z").value(), 1'770'681'600'250);
    EXPECT_EQ(parse_time_point("2026-02-10T00:00:00.5Z").value(), 1'770'681'600'500);
    EXPECT_EQ(parse_time_point("2026-02-10T00:00:00.05Z").value(), 1'770'681'600'050);
    EXPECT_EQ(parse_time_point("2026-02-10T01:00:00.001+01:00").value(), 1'770'681'600'001);
}

TEST(time_point, integer_milliseconds) {
    EXPECT_EQ(parse_time_point("1770681600000").value(), 1'770'681'600'000);
    EXPECT_EQ(parse_time_point("0").value(), 0);
}

TEST(time_point, anything_else_is_refused_with_the_expected_form) {
    for (const std::string_view bad :
         {"", "2026-02-10", "2026-02-10T00:00", "2026-02-10T00:00:00", "2026-02-30T00:00:00Z",
          "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-02-10T24:00:00Z",
          "2026-02-10T23:60:00Z", "2026-02-10T23:59:60Z", "2026-02-10 00:00:00Z", "2026-02-10t00:00:00z",
          "2026-2-10T00:00:00Z", "2026-02-10T00:00:00.1234Z", "2026-02-10T00:00:00.Z", "2026-02-10T00:00:00+0100",
          "2026-02-10T00:00:00+01", "2026-02-10T00:00:00+24:00", "2026-02-10T00:00:00+01:60",
          "2026-02-10T00:00:00Z ", "2026-02-10T00:00:00ZZ", "-5", "+5", "1.5", "99999999999999999999", "now"}) {
        const auto parsed = parse_time_point(bad);
        ASSERT_FALSE(parsed.ok()) << bad << " gave " << parsed.value();
        EXPECT_EQ(parsed.error().code, rtcrm::errc::invalid_config);
        EXPECT_NE(parsed.error().reason.find("YYYY-MM-DDTHH:MM:SS"), std::string::npos) << parsed.error().reason;
    }
    EXPECT_NE(parse_time_point("2026-02-30T00:00:00Z").error().reason.find("2026-02-30 is not a date"),
              std::string::npos);
}

}  // namespace
