#include <rtcrm/core/callback_sink.hpp>
#include <rtcrm/core/error.hpp>
#include <rtcrm/core/ndjson_sink.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

std::vector<rtcrm::output> outputs_of(rtcrm::offset_tracker& tracker, std::initializer_list<const char*> bodies) {
    std::vector<rtcrm::output> outs;
    std::int64_t offset = 0;
    for (const char* body : bodies) {
        outs.push_back(rtcrm::output{rtcrm::stream::main, rtcrm::player_key{1}, body, std::move(*tracker.track(offset++)), 0});
    }
    return outs;
}

TEST(ndjson_sink, writes_one_line_per_output_and_acks_them) {
    const auto path = std::filesystem::temp_directory_path() / "rtcrm_ndjson_sink_test.ndjson";
    rtcrm::offset_tracker tracker{8};
    {
        rtcrm::ndjson_sink sink{{.path = path.string()}};
        auto outs = outputs_of(tracker, {R"({"a":1})", R"({"b":2})"});
        sink.consume(outs);
        EXPECT_EQ(sink.lines(), 2U);
    }
    EXPECT_EQ(tracker.advance(), 1);
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    EXPECT_EQ(content.str(), "{\"a\":1}\n{\"b\":2}\n");
    std::filesystem::remove(path);
}

TEST(ndjson_sink, an_unwritable_path_throws_naming_it) {
    try {
        rtcrm::ndjson_sink sink{{.path = "/nonexistent-dir/x.ndjson"}};
        FAIL() << "expected a throw";
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string{e.what()}.find("/nonexistent-dir/x.ndjson"), std::string::npos);
    }
}

TEST(ndjson_sink, a_failed_write_nacks_the_outputs) {
    if (!std::filesystem::exists("/dev/full")) {
        GTEST_SKIP() << "no /dev/full";
    }
    rtcrm::offset_tracker tracker{8};
    rtcrm::ndjson_sink sink{{.path = "/dev/full", .append = true}};
    auto outs = outputs_of(tracker, {R"({"a":1})"});
    sink.consume(outs);
    tracker.advance();
    EXPECT_EQ(tracker.failed(), 1U);
}

TEST(callback_sink, acks_after_the_callback_returns) {
    rtcrm::offset_tracker tracker{8};
    std::vector<std::string> seen;
    rtcrm::callback_sink sink{[&](std::span<const rtcrm::output> batch) {
        for (const auto& out : batch) {
            seen.push_back(out.body);
        }
    }};
    auto outs = outputs_of(tracker, {"1", "2"});
    sink.consume(outs);
    EXPECT_EQ(seen, (std::vector<std::string>{"1", "2"}));
    EXPECT_EQ(tracker.advance(), 1);
}

TEST(callback_sink, a_throwing_callback_nacks_the_batch) {
    rtcrm::offset_tracker tracker{8};
    rtcrm::callback_sink sink{[](std::span<const rtcrm::output>) { throw std::runtime_error("host failed"); }};
    auto outs = outputs_of(tracker, {"1"});
    EXPECT_THROW(sink.consume(outs), std::runtime_error);
    tracker.advance();
    EXPECT_EQ(tracker.failed(), 1U);
    EXPECT_EQ(tracker.first_failure(), rtcrm::errc::delivery_failed);
}

}  // namespace
