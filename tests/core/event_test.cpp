#include <rtcrm/core/event.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
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

// A key member the routing scan and a first-member lookup would read differently.
TEST(parse_event, a_key_member_given_twice_is_ambiguous) {
    for (const char* json : {R"({"player\u005fid":"A","player_id":"D","type":"x","ts":1})",
                             R"({"player_id":"D","player\u005fid":"A","type":"x","ts":1})",
                             R"({"player_id":1,"player_id":1,"type":"x","ts":1})",
                             R"({"player_id":1,"type":"x","player_id":null,"ts":1})"}) {
        auto ev = rtcrm::parse_event(json, {});
        ASSERT_FALSE(ev) << json;
        EXPECT_EQ(ev.error().code, rtcrm::errc::ambiguous_key) << json;
        EXPECT_NE(ev.error().reason.find("\"player_id\" appears more than once"), std::string::npos) << ev.error().reason;
    }
    // One escaped key member alone is the key, unescaped.
    auto escaped = rtcrm::parse_event(R"({"player\u005fid":"A","type":"x","ts":1})", {});
    ASSERT_TRUE(escaped) << escaped.error().reason;
    EXPECT_EQ(escaped->player().text(), "A");
    // Nested members and other duplicated names do not count.
    auto nested = rtcrm::parse_event(R"({"data":{"player_id":2},"player_id":3,"type":"x","ts":1,"a":1,"a":2})", {});
    ASSERT_TRUE(nested) << nested.error().reason;
    EXPECT_EQ(nested->player().text(), "3");
    // A transport key decides the player: the members are not read for it.
    rtcrm::record rec{R"({"player_id":1,"player_id":2,"type":"x","ts":1})", std::string{"77"}, {}};
    auto keyed = rtcrm::parse_event(std::move(rec), {});
    ASSERT_TRUE(keyed);
    EXPECT_EQ(keyed->player().text(), "77");
}

std::string nested(std::size_t levels) {
    std::string json = R"({"player_id":1,"type":"x","ts":1,"deep":)";
    for (std::size_t i = 1; i < levels; ++i) {
        json += i % 2 == 0 ? "[" : R"({"a":)";
    }
    json += "0";
    for (std::size_t i = levels - 1; i >= 1; --i) {
        json += i % 2 == 0 ? "]" : "}";
    }
    return json + "}";
}

TEST(parse_event, nesting_is_bounded_and_never_exhausts_the_stack) {
    EXPECT_TRUE(rtcrm::parse_event(nested(rtcrm::max_event_depth), {}));
    auto deeper = rtcrm::parse_event(nested(rtcrm::max_event_depth + 1), {});
    ASSERT_FALSE(deeper);
    EXPECT_EQ(deeper.error().code, rtcrm::errc::parse_error);
    EXPECT_NE(deeper.error().reason.find("nested deeper than 64 levels"), std::string::npos) << deeper.error().reason;
    // Far deeper than any stack holds for a recursive parser.
    rtcrm::parse_options big;
    big.max_size = 4 * 1024 * 1024;
    const std::string brackets = R"({"player_id":1,"type":"x","a":)" + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}";
    auto abyss = rtcrm::parse_event(brackets, big);
    ASSERT_FALSE(abyss);
    EXPECT_EQ(abyss.error().code, rtcrm::errc::parse_error);
    const std::string unclosed = R"({"player_id":1,"type":"x","a":)" + std::string(1'000'000, '[');
    EXPECT_EQ(rtcrm::parse_event(unclosed, big).error().code, rtcrm::errc::parse_error);
}

TEST(parse_event, invalid_utf8_is_a_parse_error_naming_the_offset) {
    const std::string prefix = R"({"player_id":1,"type":"x","ts":1,"name":")";
    for (const std::string bad : {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "ok\xe2\x82"}) {
        auto ev = rtcrm::parse_event(prefix + bad + "\"}", {});
        ASSERT_FALSE(ev) << bad;
        EXPECT_EQ(ev.error().code, rtcrm::errc::parse_error);
        EXPECT_NE(ev.error().reason.find("invalid UTF-8 at offset"), std::string::npos) << ev.error().reason;
    }
    auto at = rtcrm::parse_event(prefix + "\xff\"}", {});
    EXPECT_EQ(at.error().reason, fmt::format("invalid UTF-8 at offset {}", prefix.size()));
    // In a member name and in the key too.
    EXPECT_EQ(rtcrm::parse_event("{\"player_id\":\"b\xffo\",\"type\":\"x\"}", {}).error().code, rtcrm::errc::parse_error);
    EXPECT_EQ(rtcrm::parse_event("{\"n\xff\":1,\"player_id\":1,\"type\":\"x\"}", {}).error().code, rtcrm::errc::parse_error);
    // A lone surrogate escape decodes to no Unicode text.
    auto lone = rtcrm::parse_event(prefix + R"(\udc00"})", {});
    ASSERT_FALSE(lone);
    EXPECT_NE(lone.error().reason.find("lone UTF-16 surrogate"), std::string::npos) << lone.error().reason;
    // Valid text, escaped or not, is accepted.
    auto good = rtcrm::parse_event(prefix + "h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \\u00e9\\ud83d\\ude00\"}", {});
    ASSERT_TRUE(good) << good.error().reason;
}

TEST(parse_event, bytes_after_a_nul_are_not_ignored) {
    using namespace std::string_literals;
    const auto json = R"({"player_id":1,"type":"x","ts":1})"s;
    for (const auto& tail : {"\0GARBAGE"s, "\0"s, " \0 "s, "\n\0{}"s}) {
        auto ev = rtcrm::parse_event(json + tail, {});
        ASSERT_FALSE(ev) << tail.size();
        EXPECT_EQ(ev.error().code, rtcrm::errc::parse_error);
        EXPECT_NE(ev.error().reason.find("NUL byte after the JSON value at offset"), std::string::npos) << ev.error().reason;
    }
    EXPECT_EQ(rtcrm::parse_event("{\"player_id\":1,\0\"type\":\"x\"}"s, {}).error().code, rtcrm::errc::parse_error);
    EXPECT_TRUE(rtcrm::parse_event(json + " \n", {}));
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(parse_event, ts_outside_the_window_around_the_ingest_time_is_bad_time) {
    auto with_ts = [](std::int64_t ts) { return fmt::format(R"({{"player_id":1,"type":"x","ts":{}}})", ts); };
    for (const std::int64_t ts : {INT64_MAX, INT64_MIN, std::int64_t{-1}, now_ms() + 2 * 86'400'000}) {
        auto ev = rtcrm::parse_event(with_ts(ts), {});
        ASSERT_FALSE(ev) << ts;
        EXPECT_EQ(ev.error().code, rtcrm::errc::bad_time) << ts;
        EXPECT_NE(ev.error().reason.find("\"ts\""), std::string::npos) << ev.error().reason;
    }
    // Old history replays: no lower bound but the epoch by default.
    for (const std::int64_t ts : {std::int64_t{0}, std::int64_t{1}, now_ms() - std::int64_t{10} * 365 * 86'400'000, now_ms(),
                                  now_ms() + 86'400'000 - 60'000}) {
        auto ev = rtcrm::parse_event(with_ts(ts), {});
        ASSERT_TRUE(ev) << ts << ": " << ev.error().reason;
        EXPECT_EQ(ev->ts(), ts);
    }
    rtcrm::parse_options narrow;
    narrow.max_lead = std::chrono::minutes{1};
    narrow.max_age = std::chrono::hours{1};
    EXPECT_TRUE(rtcrm::parse_event(with_ts(now_ms() - 30 * 60'000), narrow));
    EXPECT_EQ(rtcrm::parse_event(with_ts(now_ms() - 2 * 3'600'000), narrow).error().code, rtcrm::errc::bad_time);
    EXPECT_EQ(rtcrm::parse_event(with_ts(now_ms() + 10 * 60'000), narrow).error().code, rtcrm::errc::bad_time);
    EXPECT_NE(rtcrm::parse_event(with_ts(now_ms() + 10 * 60'000), narrow).error().reason.find("max_lead"), std::string::npos);
    // The largest windows do not overflow.
    rtcrm::parse_options wide;
    wide.max_lead = std::chrono::milliseconds::max();
    wide.max_age = std::chrono::milliseconds::max();
    EXPECT_TRUE(rtcrm::parse_event(with_ts(rtcrm::max_event_ts), wide));
    EXPECT_EQ(rtcrm::parse_event(with_ts(rtcrm::max_event_ts + 1), wide).error().code, rtcrm::errc::bad_time);
    EXPECT_EQ(rtcrm::parse_event(with_ts(-5), wide).error().code, rtcrm::errc::bad_time);
}

TEST(parse_options, validate_refuses_negative_windows) {
    rtcrm::parse_options lead;
    lead.max_lead = std::chrono::milliseconds{-1};
    EXPECT_THROW(lead.validate(), rtcrm::error);
    rtcrm::parse_options age;
    age.max_age = std::chrono::milliseconds{-1};
    EXPECT_THROW(age.validate(), rtcrm::error);
    rtcrm::parse_options zero;
    zero.max_lead = std::chrono::milliseconds{0};
    zero.max_age = std::chrono::milliseconds{0};
    EXPECT_NO_THROW(zero.validate());
}

TEST(parse_options, validate_refuses_an_empty_key_field) {
    rtcrm::parse_options opts;
    opts.key_field.clear();
    EXPECT_THROW(opts.validate(), rtcrm::error);
}

}  // namespace
