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
                            "99999999999999999999d", "99999999999999w"}) {
        EXPECT_EQ(rtcrm::parse_duration(bad), std::nullopt) << bad;
    }
}

}  // namespace
