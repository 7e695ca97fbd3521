#include <rtcrm/archive/archive_layout.hpp>

#include <gtest/gtest.h>

namespace rtcrm::archive {
namespace {

constexpr std::int64_t nov1_2026 = 1'793'491'200'000;  // 2026-11-01T00:00:00Z

TEST(ArchiveLayout, DayOfRoundsDownAlsoBeforeTheEpoch) {
    EXPECT_EQ(day_of(0), 0);
    EXPECT_EQ(day_of(day_ms - 1), 0);
    EXPECT_EQ(day_of(day_ms), 1);
    EXPECT_EQ(day_of(-1), -1);
    EXPECT_EQ(day_of(-day_ms), -1);
    EXPECT_EQ(day_of(-day_ms - 1), -2);
}

TEST(ArchiveLayout, FileNamesAreUtcDates) {
    EXPECT_EQ(day_file_name(0), "1970-01-01.ndjson.zst");
    EXPECT_EQ(day_file_name(day_of(nov1_2026)), "2026-11-01.ndjson.zst");
    EXPECT_EQ(day_file_name(day_of(nov1_2026 + day_ms - 1)), "2026-11-01.ndjson.zst");
    EXPECT_EQ(day_of_file_name("2026-11-01.ndjson.zst"), day_of(nov1_2026));
    EXPECT_EQ(day_of_file_name("2024-02-29.ndjson.zst"), day_of(1'709'164'800'000));
}

TEST(ArchiveLayout, OtherNamesAreNotDayFiles) {
    for (const char* name : {"2026-11-01.ndjson", "2026-11-01.ndjson.zst.tmp", "2026-13-01.ndjson.zst",
                             "2026-02-30.ndjson.zst", "26-11-01.ndjson.zst", "2026_11_01.ndjson.zst", "x.ndjson.zst"}) {
        EXPECT_FALSE(day_of_file_name(name)) << name;
    }
}

TEST(ArchiveLayout, TimeBoundsAcceptMsDatesAndIsoUtc) {
    EXPECT_EQ(parse_time_bound("1793491200000"), nov1_2026);
    EXPECT_EQ(parse_time_bound("2026-11-01"), nov1_2026);
    EXPECT_EQ(parse_time_bound("2026-11-01T10:00:00Z"), nov1_2026 + 10 * 3'600'000);
    EXPECT_EQ(parse_time_bound("2026-11-01T10:00:00.250Z"), nov1_2026 + 10 * 3'600'000 + 250);
    for (const char* bad : {"", "-5", "2026-11-01T10:00:00", "2026-11-01T25:00:00Z", "2026-11-32", "yesterday",
                            "2026-11-01T10:00:00+01:00", "2026-11-01 10:00:00Z"}) {
        EXPECT_FALSE(parse_time_bound(bad)) << bad;
    }
}

}  // namespace
}  // namespace rtcrm::archive
