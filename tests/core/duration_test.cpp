#include <rtcrm/core/duration.hpp>

#include <gtest/gtest.h>

namespace {

using std::chrono::milliseconds;

TEST(duration, every_unit_is_parsed) {
    EXPECT_EQ(rtcrm::parse_duration("2w"), milliseconds(14 * 86'400'000LL));
    EXPECT_EQ(rtcrm::parse_duration("30d"), milliseconds(30 * 86'400'000LL));
    EXPECT_EQ(rtcrm::parse_duration("12h"), milliseconds(12 * 3'600'000LL));
    EXPECT_EQ(rtcrm::parse_duration("15m"), milliseconds(15 * 60'000LL));
    EXPECT_EQ(rtcrm::parse_duration("10s"), milliseconds(10'000));
    EXPECT_EQ(rtcrm::parse_duration("250ms"), milliseconds(250));
    EXPECT_EQ(rtcrm::parse_duration("0s"), milliseconds(0));
}

TEST(duration, a_number_alone_is_milliseconds) { EXPECT_EQ(rtcrm::parse_duration("250"), milliseconds(250)); }

TEST(duration, anything_else_is_refused) {
    for (const char* bad : {"", "d", "-1s", "+1s", " 1s", "1s ", "1 s", "1.5h", "1sec", "1W", "1y",
                            "99999999999999999999d", "99999999999999w", "300000000000d"}) {
        EXPECT_EQ(rtcrm::parse_duration(bad), std::nullopt) << bad;
    }
}

TEST(duration, the_largest_duration_in_a_unit_is_parsed_and_one_more_is_refused) {
    // milliseconds::max() is 9,223,372,036,854,775,807 ms: 106,751,991,167 whole days.
    EXPECT_EQ(rtcrm::parse_duration("106751991167d"), milliseconds(106'751'991'167LL * 86'400'000LL));
    EXPECT_EQ(rtcrm::parse_duration("106751991168d"), std::nullopt);
    EXPECT_EQ(rtcrm::parse_duration("9223372036854775807"), milliseconds::max());
    EXPECT_EQ(rtcrm::parse_duration("9223372036854775808"), std::nullopt);
}

}  // namespace
