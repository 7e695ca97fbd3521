#include <rtcrm/core/event.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace {

constexpr const char* fight =
    R"({"id":"e-1","player_id":42,"type":"fight","ts":1763800000000,"game":"foe","market":"de","data":{"result":"loss"}})";

TEST(parse_event, reads_key_type_time_id_and_payload) {
    auto ev = rtcrm::parse_event(fight, {});
    ASSERT_TRUE(ev) << ev.error().reason;
    EXPECT_EQ(ev->player(), rtcrm::player_key{42});
    EXPECT_EQ(ev->type(), "fight");
    EXPECT_EQ(ev->ts(), 1763800000000);
    EXPECT_EQ(ev->id(), "e-1");
    EXPECT_EQ(ev->raw(), fight);
    ASSERT_NE(ev->field("data"), nullptr);
    EXPECT_STREQ((*ev->field("data"))["result"].GetString(), "loss");
    EXPECT_EQ(ev->field("nope"), nullptr);
    EXPECT_GT(ev->ingest_ns(), 0);
}

TEST(parse_event, accepts_string_keys_and_a_configured_key_field) {
    rtcrm::parse_options opts;
    opts.key_field = "user";
    auto ev = rtcrm::parse_event(R"({"user":"bob","type":"login","ts":5})", opts);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->player().text(), "bob");
}

TEST(parse_event, prefers_the_transport_key) {
    rtcrm::record rec{R"({"player_id":1,"type":"login","ts":5})", std::string{"77"}, {}};
    auto ev = rtcrm::parse_event(std::move(rec), {});
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->player(), rtcrm::player_key{77});
}

TEST(parse_event, malformed_json_names_the_offset_and_keeps_the_bytes) {
    rtcrm::record rec{R"({"player_id":1,"type":)", std::nullopt, {}};
    auto ev = rtcrm::parse_event(std::move(rec), {});
    ASSERT_FALSE(ev);
    EXPECT_EQ(ev.error().code, rtcrm::errc::parse_error);
    EXPECT_NE(ev.error().reason.find("offset"), std::string::npos);
    EXPECT_EQ(rec.bytes, R"({"player_id":1,"type":)");  // NOLINT(bugprone-use-after-move): documented to stay intact
}

TEST(parse_event, refuses_trailing_garbage_and_non_objects) {
    EXPECT_EQ(rtcrm::parse_event(R"({"player_id":1,"type":"x"} junk)", {}).error().code, rtcrm::errc::parse_error);
    EXPECT_EQ(rtcrm::parse_event(R"([1,2])", {}).error().code, rtcrm::errc::parse_error);
}

TEST(parse_event, missing_key_or_type_is_missing_field) {
    EXPECT_EQ(rtcrm::parse_event(R"({"type":"login"})", {}).error().code, rtcrm::errc::missing_field);
    EXPECT_EQ(rtcrm::parse_event(R"({"player_id":1})", {}).error().code, rtcrm::errc::missing_field);
    EXPECT_EQ(rtcrm::parse_event(R"({"player_id":null,"type":"x"})", {}).error().code, rtcrm::errc::missing_field);
}

TEST(parse_event, wrong_types_are_named) {
    auto bad_key = rtcrm::parse_event(R"({"player_id":1.5,"type":"x"})", {});
    EXPECT_EQ(bad_key.error().code, rtcrm::errc::wrong_type);
    EXPECT_NE(bad_key.error().reason.find("player_id"), std::string::npos);
    auto bad_ts = rtcrm::parse_event(R"({"player_id":1,"type":"x","ts":"yesterday"})", {});
    EXPECT_EQ(bad_ts.error().code, rtcrm::errc::wrong_type);
    EXPECT_NE(bad_ts.error().reason.find("ts"), std::string::npos);
    EXPECT_EQ(rtcrm::parse_event(R"({"player_id":1,"type":7})", {}).error().code, rtcrm::errc::wrong_type);
    EXPECT_EQ(rtcrm::parse_event(R"({"player_id":1,"type":"x","id":{}})", {}).error().code, rtcrm::errc::wrong_type);
}

TEST(parse_event, over_the_size_limit_is_too_large) {
    rtcrm::parse_options opts;
    opts.max_size = 32;
    auto ev = rtcrm::parse_event(fight, opts);
    ASSERT_FALSE(ev);
    EXPECT_EQ(ev.error().code, rtcrm::errc::too_large);
}

TEST(parse_event, large_events_spill_out_of_the_inline_pool) {
    std::string big = R"({"player_id":1,"type":"x","data":[)";
    for (int i = 0; i < 5000; ++i) {
        big += std::to_string(i) + ",";
    }
    big += R"("end"]})";
    auto ev = rtcrm::parse_event(big, {});
    ASSERT_TRUE(ev) << ev.error().reason;
    EXPECT_EQ((*ev->field("data")).Size(), 5001U);
}

// A thread keeps the blocks of the events it frees for its next ones (event.cpp): events
// freed on another thread than the one that parsed them, a batch at a time, and parsed
// again in the kept blocks, read as new.
TEST(parse_event, events_freed_on_another_thread_leave_later_events_intact) {
    constexpr int batch = 1000;
    auto event_json = [](int i) {
        return fmt::format(R"({{"id":"e-{}","player_id":{},"type":"fight","ts":{},"data":{{"round":{}}}}})", i, i,
                           1000 + i, i);
    };
    std::vector<rtcrm::event> parsed;
    for (int i = 0; i < batch; ++i) {
        auto ev = rtcrm::parse_event(event_json(i), {});
        ASSERT_TRUE(ev);
        parsed.push_back(std::move(ev).value());
    }
    std::thread other([&] {
        parsed.clear();  // freed here: this thread keeps the blocks
        for (int round = 0; round < 3; ++round) {
            std::vector<rtcrm::event> again;
            for (int i = 0; i < batch; ++i) {
                auto ev = rtcrm::parse_event(event_json(round * batch + i), {});
                ASSERT_TRUE(ev);
                again.push_back(std::move(ev).value());
            }
            for (int i = 0; i < batch; ++i) {
                const int n = round * batch + i;
                EXPECT_EQ(again[i].player(), rtcrm::player_key{n});
                EXPECT_EQ(again[i].id(), fmt::format("e-{}", n));
                EXPECT_EQ(again[i].ts(), 1000 + n);
                EXPECT_EQ(again[i].raw(), event_json(n));
                ASSERT_NE(again[i].field("data"), nullptr);
                EXPECT_EQ((*again[i].field("data"))["round"].GetInt(), n);
            }
        }
    });
    other.join();
}

TEST(parse_event, missing_ts_defaults_to_now) {
    auto ev = rtcrm::parse_event(R"({"player_id":1,"type":"x"})", {});
    ASSERT_TRUE(ev);
    EXPECT_GT(ev->ts(), 1'700'000'000'000);
}

TEST(parse_options, validate_refuses_an_empty_key_field) {
    rtcrm::parse_options opts;
    opts.key_field.clear();
    EXPECT_THROW(opts.validate(), rtcrm::error);
}

}  // namespace
