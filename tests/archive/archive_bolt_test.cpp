#include <rtcrm/archive/archive_bolt.hpp>
#include <rtcrm/archive/archive_reader.hpp>
#include <rtcrm/archive/archive_sink.hpp>
#include <rtcrm/core/test_driver.hpp>
#include <rtcrm/core/validation_bolt.hpp>

#include "archive_test_support.hpp"

#include <gtest/gtest.h>

namespace rtcrm {
namespace {

using test::scratch_dir;

// Events as a game may send them: spaces, escapes and member order kept as they are.
const std::string first = R"({ "player_id": 1, "type": "login", "ts": 1793491200000, "note": "caf\u00e9 \"x\"" })";
const std::string second = R"({"ts":1793577600001,"type":"fight","player_id":"p-2","data":{"result":"loss"}})";
const std::string refused = R"({"player_id":3,"type":"fight","ts":1793491200002})";  // no data: fails its schema

TEST(ArchiveBolt, ArchivesTheRawBytesOfValidatedEventsByTheirDay) {
    scratch_dir dir{"bolt"};
    test::write_all(dir.path / "fight.json", R"({"type":"object","required":["data"]})");
    const auto archive_dir = dir.path / "archive";
    auto sink = std::make_shared<archive_sink>(
        archive_sink_options{.dir = archive_dir.string(), .flush_interval = std::chrono::hours{1}});
    topology t;
    t.add_ingest_bolt(validation_bolt::factory({.schema_dir = dir.path.string()}))
        .add_ingest_bolt(archive_bolt::factory())
        .add_sink(stream::archive, sink)
        .with_options({.shards = 2});
    topology_test_driver driver{std::move(t)};
    driver.pipe(first);
    driver.pipe(refused);
    driver.pipe(second);
    EXPECT_EQ(driver.read(stream::archive), (std::vector<std::string>{first, second}));
    EXPECT_EQ(driver.read(stream::dead_letter).size(), 1U);
    sink->flush_now();
    archive_reader reader{{.path = archive_dir.string()}};
    EXPECT_EQ(reader.files().size(), 2U) << "Nov 1 and Nov 2";
    std::vector<std::string> lines;
    while (const auto line = reader.next()) {
        lines.emplace_back(*line);
    }
    EXPECT_EQ(lines, (std::vector<std::string>{first, second}));
}

}  // namespace
}  // namespace rtcrm
