#include <rtcrm/archive/archive_layout.hpp>
#include <rtcrm/archive/archive_sink.hpp>
#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/error.hpp>

#include "archive_test_support.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>
#include <vector>

namespace rtcrm {
namespace {

using namespace std::chrono_literals;
using test::scratch_dir;

constexpr std::int64_t nov1 = 1'793'491'200'000;  // 2026-11-01T00:00:00Z

std::string event_at(int id, std::int64_t ts) {
    return fmt::format(R"({{"id":"e{}","player_id":{},"type":"login","ts":{}}})", id, id % 7, ts);
}

// Outputs as the archive bolt emits them, each with a share of a tracked event.
struct feeder {
    offset_tracker tracker{1024};
    std::int64_t next_offset = 0;
    std::vector<output> outputs(const std::vector<std::pair<int, std::int64_t>>& events) {
        std::vector<output> out;
        for (const auto& [id, ts] : events) {
            auto token = tracker.track(next_offset++);
            out.push_back(output{.stream = stream::archive, .body = event_at(id, ts), .ack = std::move(*token), .event_ts = ts});
        }
        return out;
    }
};

std::vector<std::string> file_names(const std::filesystem::path& dir) {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        names.insert(e.path().filename().string());
    }
    return {names.begin(), names.end()};
}

TEST(ArchiveSink, EventsGoToTheFileOfTheirEventDayAndDecompressToExactlyThem) {
    RTCRM_REQUIRE_ZSTD_TOOL();
    scratch_dir dir{"days"};
    feeder f;
    {
        archive_sink sink{{.dir = dir.path.string()}};
        auto batch = f.outputs({{1, nov1 + 5}, {2, nov1 + archive::day_ms + 1}, {3, nov1 + archive::day_ms - 1},
                                {4, nov1 - 1}});
        sink.consume(batch);
        auto more = f.outputs({{5, nov1 + 100}});
        sink.consume(more);
        sink.close();
        EXPECT_EQ(sink.stats().events, 5U);
    }
    EXPECT_EQ(file_names(dir.path),
              (std::vector<std::string>{"2026-10-31.ndjson.zst", "2026-11-01.ndjson.zst", "2026-11-02.ndjson.zst"}));
    EXPECT_EQ(test::zstd_tool_decompress(dir.path / "2026-11-01.ndjson.zst"),
              event_at(1, nov1 + 5) + "\n" + event_at(3, nov1 + archive::day_ms - 1) + "\n" + event_at(5, nov1 + 100) +
                  "\n");
    EXPECT_EQ(test::zstd_tool_decompress(dir.path / "2026-11-02.ndjson.zst"), event_at(2, nov1 + archive::day_ms + 1) + "\n");
    EXPECT_EQ(test::zstd_tool_decompress(dir.path / "2026-10-31.ndjson.zst"), event_at(4, nov1 - 1) + "\n");
    EXPECT_EQ(f.tracker.advance(), 4) << "every event acked";
}

TEST(ArchiveSink, AcksOnlyOnceTheFrameIsWritten) {
    scratch_dir dir{"acks"};
    feeder f;
    archive_sink sink{{.dir = dir.path.string(), .flush_interval = std::chrono::hours{1}}};
    auto batch = f.outputs({{1, nov1}, {2, nov1 + 1}});
    sink.consume(batch);
    sink.flush();  // not due yet
    EXPECT_EQ(f.tracker.advance(), std::nullopt) << "acked before its frame was written";
    EXPECT_EQ(std::filesystem::file_size(dir.path / "2026-11-01.ndjson.zst"), 0U);
    sink.flush_now();
    EXPECT_EQ(f.tracker.advance(), 1);
    EXPECT_GT(std::filesystem::file_size(dir.path / "2026-11-01.ndjson.zst"), 0U);
    EXPECT_EQ(sink.stats().frames, 1U);
}

TEST(ArchiveSink, FlushesAFrameWhenTheIntervalPassed) {
    scratch_dir dir{"interval"};
    feeder f;
    archive_sink sink{{.dir = dir.path.string(), .flush_interval = 20ms}};
    auto batch = f.outputs({{1, nov1}});
    sink.consume(batch);
    // The runtime calls flush() every few ms; the frame is written once 20 ms passed.
    for (int i = 0; i < 5000 && f.tracker.advance() != 0; ++i) {
        std::this_thread::sleep_for(2ms);
        sink.flush();
    }
    EXPECT_EQ(f.tracker.advance(), 0);
}

TEST(ArchiveSink, AFullBufferIsWrittenAtOnce) {
    scratch_dir dir{"full"};
    feeder f;
    archive_sink sink{{.dir = dir.path.string(), .flush_interval = std::chrono::hours{1}, .max_frame_bytes = 100}};
    auto batch = f.outputs({{1, nov1}, {2, nov1}, {3, nov1}});  // ~60 bytes each
    sink.consume(batch);
    EXPECT_EQ(sink.stats().frames, 1U) << "the first two lines passed 100 bytes";
    EXPECT_EQ(f.tracker.advance(), 1);
}

TEST(ArchiveSink, RetentionDeletesOnlyWholeDaysOlderThanKeepFromTheNewestEventDay) {
    scratch_dir dir{"keep"};
    // Days already there: Oct 28 .. Nov 1, and a file that is not a day file.
    for (int d = -4; d <= 0; ++d) {
        test::write_all(dir.path / archive::day_file_name(archive::day_of(nov1) + d), "");
    }
    test::write_all(dir.path / "notes.txt", "mine");
    feeder f;
    {
        // keep 3 days: at construction the newest file is Nov 1, so Oct 29 and older go.
        archive_sink sink{{.dir = dir.path.string(), .keep = std::chrono::hours{24 * 3}}};
        EXPECT_EQ(file_names(dir.path), (std::vector<std::string>{"2026-10-30.ndjson.zst", "2026-10-31.ndjson.zst",
                                                                  "2026-11-01.ndjson.zst", "notes.txt"}));
        // An event of Nov 2 moves the newest day on: Oct 30 goes at the next frame.
        auto batch = f.outputs({{1, nov1 + archive::day_ms + 10}});
        sink.consume(batch);
        sink.flush_now();
        EXPECT_EQ(file_names(dir.path), (std::vector<std::string>{"2026-10-31.ndjson.zst", "2026-11-01.ndjson.zst",
                                                                  "2026-11-02.ndjson.zst", "notes.txt"}));
        EXPECT_EQ(sink.stats().files_deleted, 3U);
    }
    // The wall clock plays no part: the archive of 2026 is kept whatever today is.
}

TEST(ArchiveSink, KeepsEverythingWithoutKeepAndRefusesLessThanADay) {
    scratch_dir dir{"forever"};
    test::write_all(dir.path / "2000-01-01.ndjson.zst", "");
    feeder f;
    archive_sink sink{{.dir = dir.path.string()}};
    auto batch = f.outputs({{1, nov1}});
    sink.consume(batch);
    sink.flush_now();
    EXPECT_TRUE(std::filesystem::exists(dir.path / "2000-01-01.ndjson.zst"));
    EXPECT_THROW((archive_sink{{.dir = dir.path.string(), .keep = std::chrono::hours{12}}}), error);
}

TEST(ArchiveSink, ReopenedDayFilesAppendAfterWhatIsThere) {
    RTCRM_REQUIRE_ZSTD_TOOL();
    scratch_dir dir{"reopen"};
    feeder f;
    for (int run = 0; run < 2; ++run) {
        archive_sink sink{{.dir = dir.path.string()}};
        auto batch = f.outputs({{run, nov1 + run}});
        sink.consume(batch);
    }  // the destructor closes: frames written
    EXPECT_EQ(test::zstd_tool_decompress(dir.path / "2026-11-01.ndjson.zst"),
              event_at(0, nov1) + "\n" + event_at(1, nov1 + 1) + "\n");
}

}  // namespace
}  // namespace rtcrm
