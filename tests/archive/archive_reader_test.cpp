#include <rtcrm/archive/archive_layout.hpp>
#include <rtcrm/archive/archive_reader.hpp>
#include <rtcrm/archive/archive_source.hpp>
#include <rtcrm/archive/day_file_writer.hpp>
#include <rtcrm/core/error.hpp>

#include "archive_test_support.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <vector>

namespace rtcrm {
namespace {

using test::scratch_dir;

constexpr std::int64_t nov1 = 1'793'491'200'000;  // 2026-11-01T00:00:00Z
constexpr std::int64_t hour = 3'600'000;

std::string event_at(const std::string& id, std::int64_t ts) {
    return fmt::format(R"({{"id":"{}","player_id":1,"type":"login","ts":{}}})", id, ts);
}

// Writes day files of Nov 1..4 in the order the days would not sort by creation (Nov 3
// first), each event "dD-hH" at hour H of day D, two frames per file.
void write_days(const std::filesystem::path& dir) {
    for (const int d : {3, 1, 4, 2}) {
        const std::int64_t day = archive::day_of(nov1) + d - 1;
        day_file_writer w{dir / archive::day_file_name(day), {}};
        for (const int h : {0, 12}) {
            w.append(event_at(fmt::format("d{}-h{}", d, h), day * archive::day_ms + h * hour));
            w.flush();
        }
    }
}

std::vector<std::string> ids(archive_reader& r) {
    std::vector<std::string> out;
    while (const auto line = r.next()) {
        const auto at = line->find("\"id\":\"") + 6;
        out.emplace_back(line->substr(at, line->find('"', at) - at));
    }
    return out;
}

TEST(ArchiveReader, ReadsADirectoryInDayOrder) {
    scratch_dir dir{"order"};
    write_days(dir.path);
    test::write_all(dir.path / "README", "not a day file\n");
    archive_reader r{{.path = dir.path.string()}};
    EXPECT_EQ(ids(r), (std::vector<std::string>{"d1-h0", "d1-h12", "d2-h0", "d2-h12", "d3-h0", "d3-h12", "d4-h0",
                                                "d4-h12"}));
    EXPECT_EQ(r.stats().files, 4U);
    EXPECT_EQ(r.stats().skipped, 0U);
}

TEST(ArchiveReader, FromAndToBoundTheEventTimeAndSkipWholeDays) {
    scratch_dir dir{"bounds"};
    write_days(dir.path);
    // From Nov 2 at 12:00 (inclusive) to Nov 4 (exclusive).
    archive_reader r{{.path = dir.path.string(),
                      .from = archive::parse_time_bound("2026-11-02T12:00:00Z"),
                      .to = archive::parse_time_bound("2026-11-04")}};
    EXPECT_EQ(r.files().size(), 2U) << "Nov 1 and Nov 4 are not opened";
    EXPECT_EQ(ids(r), (std::vector<std::string>{"d2-h12", "d3-h0", "d3-h12"}));
    EXPECT_EQ(r.stats().skipped, 1U) << "d2-h0";
}

TEST(ArchiveReader, StopsAtTheLastCompleteFrameOfATornFile) {
    scratch_dir dir{"torn"};
    write_days(dir.path);
    const auto file = dir.path / "2026-11-02.ndjson.zst";
    const auto whole = test::read_all(file);
    // Cut the second frame of Nov 2 in its middle.
    const auto first_end = [&] {
        day_file_writer probe{dir.path / "probe.ndjson.zst", {}};
        probe.append(event_at("d2-h0", (archive::day_of(nov1) + 1) * archive::day_ms));
        probe.flush();
        return probe.size();
    }();
    std::filesystem::remove(dir.path / "probe.ndjson.zst");
    test::write_all(file, whole.substr(0, first_end + (whole.size() - first_end) / 2));
    archive_reader r{{.path = dir.path.string()}};
    EXPECT_EQ(ids(r), (std::vector<std::string>{"d1-h0", "d1-h12", "d2-h0", "d3-h0", "d3-h12", "d4-h0", "d4-h12"}));
    EXPECT_EQ(r.stats().torn, 1U);
}

TEST(ArchiveReader, ReadsOneZstFileOrAPlainFileAndSkipsBlankLines) {
    scratch_dir dir{"files"};
    {
        day_file_writer w{dir.path / "events.ndjson.zst", {}};
        w.append(event_at("a", nov1));
        w.append("");
        w.append(event_at("b", nov1 + 1) + "\r");
        w.flush();
    }
    archive_reader zst{{.path = (dir.path / "events.ndjson.zst").string()}};
    EXPECT_EQ(ids(zst), (std::vector<std::string>{"a", "b"}));
    test::write_all(dir.path / "plain.ndjson", event_at("p", nov1) + "\n\n" + event_at("q", nov1 + 2 * archive::day_ms));
    archive_reader plain{{.path = (dir.path / "plain.ndjson").string(), .to = nov1 + archive::day_ms}};
    EXPECT_EQ(ids(plain), (std::vector<std::string>{"p"}));
    EXPECT_EQ(plain.stats().skipped, 1U);
}

TEST(ArchiveReader, LargeFramesOfOtherWritersAreReadWhole) {
    RTCRM_REQUIRE_ZSTD_TOOL();
    scratch_dir dir{"large"};
    std::string text;
    for (int i = 0; i < 20000; ++i) {
        text += event_at(fmt::format("x{}", i), nov1 + i) + "\n";
    }
    test::write_all(dir.path / "big.ndjson", text);
    ASSERT_EQ(std::system(("zstd -q -f '" + (dir.path / "big.ndjson").string() + "'").c_str()), 0);
    archive_reader r{{.path = (dir.path / "big.ndjson.zst").string(), .max_frame_text = 4096}};
    const auto got = ids(r);
    ASSERT_EQ(got.size(), 20000U);
    EXPECT_EQ(got.back(), "x19999");
}

TEST(ArchiveReader, AMissingPathOrADirectoryWithoutDayFilesIsAnError) {
    EXPECT_THROW(archive_reader({.path = "/nonexistent/rtcrm-archive"}), error);
    scratch_dir dir{"empty"};
    test::write_all(dir.path / "events.ndjson", "{}\n");
    try {
        archive_reader r{{.path = dir.path.string()}};
        FAIL() << "read a directory without day files";
    } catch (const error& e) {
        EXPECT_NE(std::string{e.what()}.find("is a directory without event archive day files"), std::string::npos)
            << e.what();
    }
}

TEST(ArchiveSource, DeliversTheLinesAsRecordsAndEnds) {
    scratch_dir dir{"source"};
    write_days(dir.path);
    archive_source src{{.read = {.path = dir.path.string(), .from = nov1 + archive::day_ms * 3}}};
    src.open();
    std::vector<record> out;
    EXPECT_EQ(src.poll(out, 1, std::chrono::milliseconds{0}), poll_status::more);
    EXPECT_EQ(src.poll(out, 10, std::chrono::milliseconds{0}), poll_status::end);
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(out[0].bytes, event_at("d4-h0", nov1 + 3 * archive::day_ms));
    EXPECT_EQ(src.stats().skipped, 0U);
    src.close();
}

}  // namespace
}  // namespace rtcrm
