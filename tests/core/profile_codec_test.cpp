#include <rtcrm/core/profile_codec.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <iterator>
#include <string>

namespace {

rtcrm::profile full_profile() {
    rtcrm::profile p{rtcrm::player_key{std::string{"bob"}}};
    p.set("level", std::int64_t{-12});
    p.set("spent", 4.99);
    p.set("is_payer", false);
    p.set("country", std::string{"de"});
    p.set("markets", rtcrm::json_text{R"(["de","fr"])"});
    p.set("nothing", std::monostate{});
    p.incr_windowed("fights_lost", 3, 1'763'800'000'000, 86'400'000);
    rtcrm::profile_limits limits;
    limits.recent_events = 3;
    for (int i = 0; i < 5; ++i) {
        p.record_event("fight", 1'763'800'000'000 + i, "e" + std::to_string(i), limits);  // the ring wraps
    }
    p.record_trigger("3", 1'763'800'000'004);
    p.mark_applied("ndjson", 0, 1234);
    return p;
}

TEST(profile_codec, a_profile_round_trips_exactly) {
    const auto p = full_profile();
    std::string bytes;
    rtcrm::encode_profile(p, bytes);
    auto back = rtcrm::decode_profile(bytes);
    ASSERT_TRUE(back) << back.error().reason;
    EXPECT_EQ(back.value(), p);
    EXPECT_EQ(back->recent().front().id, "e2");
    std::string again;
    rtcrm::encode_profile(back.value(), again);
    EXPECT_EQ(again, bytes);  // byte-identical after a round trip
}

TEST(profile_codec, integer_keys_stay_integers) {
    std::string bytes;
    rtcrm::encode_profile(rtcrm::profile{rtcrm::player_key{42}}, bytes);
    EXPECT_EQ(rtcrm::decode_profile(bytes)->key().integer(), 42);
}

TEST(profile_codec, every_truncation_fails_cleanly) {
    std::string bytes;
    rtcrm::encode_profile(full_profile(), bytes);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        auto r = rtcrm::decode_profile(std::string_view{bytes}.substr(0, n));
        ASSERT_FALSE(r) << "prefix of " << n << " bytes decoded";
        EXPECT_EQ(r.error().code, rtcrm::errc::store_error);
    }
}

TEST(profile_codec, unknown_versions_and_trailing_bytes_are_refused) {
    std::string bytes;
    rtcrm::encode_profile(full_profile(), bytes);
    auto future = bytes;
    future[0] = 9;
    EXPECT_NE(rtcrm::decode_profile(future).error().reason.find("version 9"), std::string::npos);
    EXPECT_FALSE(rtcrm::decode_profile(bytes + "x"));
}

// Profile bytes with one counter "c" of the given bucket width (zig-zag varint).
std::string with_counter_width(char zigzag_width) {
    using namespace std::string_literals;
    auto bytes = "\x01\x01\x01" "7" "\x0a" "\x00"s;  // version 1, integer key "7", last event at 5, no attributes
    bytes += "\x01\x01" "c" "\x02"s + zigzag_width;  // one counter "c" of total 1, then its width
    bytes += "\x01\x00\x02" "\x00\x00\x00"s;         // one bucket (0, 1); no recent events, triggers or positions
    return bytes;
}

TEST(profile_codec, a_counter_without_a_positive_bucket_width_is_refused) {
    ASSERT_TRUE(rtcrm::decode_profile(with_counter_width('\x02')));  // width 1
    for (const char width : {'\x00', '\x01'}) {                      // 0 and -1: an increment would divide by them
        auto r = rtcrm::decode_profile(with_counter_width(width));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, rtcrm::errc::store_error);
        EXPECT_NE(r.error().reason.find("counter \"c\" has bucket width"), std::string::npos) << r.error().reason;
    }
}

// --- pending timers (version 2) -----------------------------------------------------------

rtcrm::profile with_timers() {
    auto p = full_profile();
    p.set_timer("winback", 1'764'000'000'000, "e4", R"({"offer":"comeback"})", "e:ndjson/0/1234");
    p.set_timer("nudge", -5);  // no event, data or reference; a time before the epoch
    return p;
}

std::string encoding(const rtcrm::profile& p) {
    std::string bytes;
    rtcrm::encode_profile(p, bytes);
    return bytes;
}

TEST(profile_codec, a_profile_without_timers_keeps_version_1_and_its_bytes_decode) {
    const auto bytes = encoding(full_profile());
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(bytes[0], '\x01');
    // Version-1 bytes as a store written before timers holds them: integer key "7", last
    // event at 5, attribute "a" = 1, and nothing else.
    using namespace std::string_literals;
    const auto v1 = "\x01\x01\x01" "7" "\x0a" "\x01\x01" "a" "\x02\x02" "\x00\x00\x00\x00"s;
    auto back = rtcrm::decode_profile(v1);
    ASSERT_TRUE(back) << back.error().reason;
    EXPECT_EQ(back->key(), rtcrm::player_key{7});
    ASSERT_NE(back->get("a"), nullptr);
    EXPECT_EQ(*back->get("a"), rtcrm::attribute{std::int64_t{1}});
    EXPECT_EQ(back->last_event_ts(), 5);
    EXPECT_TRUE(back->timers().empty());
    EXPECT_EQ(encoding(back.value()).substr(1), v1.substr(1));
}

TEST(profile_codec, a_profile_with_timers_round_trips_as_version_2) {
    const auto p = with_timers();
    const auto bytes = encoding(p);
    EXPECT_EQ(bytes[0], '\x02');
    auto back = rtcrm::decode_profile(bytes);
    ASSERT_TRUE(back) << back.error().reason;
    EXPECT_EQ(back.value(), p);
    ASSERT_EQ(back->timers().size(), 2U);
    EXPECT_EQ(back->timers()[0], (rtcrm::pending_timer{"winback", 1'764'000'000'000, "e4", R"({"offer":"comeback"})",
                                                       "e:ndjson/0/1234"}));
    EXPECT_EQ(back->next_timer_due(), -5);
    EXPECT_EQ(encoding(back.value()), bytes);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        ASSERT_FALSE(rtcrm::decode_profile(std::string_view{bytes}.substr(0, n))) << "prefix of " << n << " bytes decoded";
    }
    // Cancelling every timer gives the version-1 bytes again.
    auto none = back.value();
    none.cancel_timer("winback");
    none.cancel_timer("nudge");
    EXPECT_EQ(encoding(none), encoding(full_profile()));
}

TEST(profile_codec, encoded_size_counts_the_timers) {
    auto p = full_profile();
    ASSERT_EQ(p.encoded_size(), encoding(p).size());  // known from here on: every change keeps it
    const std::function<void(rtcrm::profile&)> steps[] = {
        [](rtcrm::profile& q) { q.set_timer("a", 1'764'000'000'000); },
        [](rtcrm::profile& q) { q.set_timer("b", 7, "e9", R"({"k":[1,2]})", "o:gen/3"); },
        [](rtcrm::profile& q) { q.set_timer("a", -1'764'000'000'000, "a-much-longer-event-id"); },  // re-armed
        [](rtcrm::profile& q) { q.cancel_timer("b"); },
        [](rtcrm::profile& q) { q.cancel_timer("missing"); },
        [](rtcrm::profile& q) { q.cancel_timer("a"); },  // none left: version 1 again
        [](rtcrm::profile& q) { q.set_timer(std::string(200, 'n'), 3, std::string(300, 'i')); },
    };
    for (std::size_t i = 0; i < std::size(steps); ++i) {
        steps[i](p);
        ASSERT_EQ(p.encoded_size(), encoding(p).size()) << "step " << i;
        ASSERT_EQ(rtcrm::decode_profile(encoding(p))->encoded_size(), encoding(p).size()) << "step " << i;
    }
}

TEST(profile_codec, version_2_bytes_decode_and_encode_unchanged) {
    // As a store written before conversions holds them: integer key "7", last event at 5,
    // no attributes, counters or recent events, trigger history "3" (total 2, fired at 4
    // and 6), no positions, and one timer "t" due at 9 with event id "e" and nothing else.
    using namespace std::string_literals;
    const auto v2 = "\x02\x01\x01" "7" "\x0a" "\x00\x00\x00" "\x01\x01" "3" "\x04\x02\x08\x0c" "\x00"
                    "\x01\x01" "t" "\x12\x01" "e" "\x00\x00"s;
    auto back = rtcrm::decode_profile(v2);
    ASSERT_TRUE(back) << back.error().reason;
    ASSERT_NE(back->triggers("3"), nullptr);
    EXPECT_EQ(*back->triggers("3"), (rtcrm::trigger_history{2, {4, 6}, 0}));
    ASSERT_EQ(back->timers().size(), 1U);
    EXPECT_EQ(back->timers()[0], (rtcrm::pending_timer{"t", 9, "e", "", ""}));
    EXPECT_EQ(encoding(back.value()), v2);
    EXPECT_EQ(back->encoded_size(), v2.size());
}

// --- conversions (version 3) --------------------------------------------------------------

// Three trigger histories, the first and the last converted.
rtcrm::profile with_conversions() {
    auto p = full_profile();  // history "3", fired once
    p.record_trigger("4", 1'763'800'000'005);
    p.record_trigger("5", 1'763'800'000'006);
    p.record_trigger("5", 1'763'800'000'007);
    EXPECT_TRUE(p.mark_converted("3"));
    EXPECT_TRUE(p.mark_converted("5"));
    return p;
}

TEST(profile_codec, conversions_round_trip_as_version_3_with_and_without_timers) {
    auto p = with_conversions();
    for (const bool timers : {false, true}) {
        if (timers) {
            p.set_timer("winback", 1'764'000'000'000, "e4", R"({"offer":"comeback"})", "e:ndjson/0/1234");
        }
        const auto bytes = encoding(p);
        EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 3U);
        EXPECT_EQ(static_cast<unsigned char>(bytes[0]), rtcrm::profile_codec_version);
        auto back = rtcrm::decode_profile(bytes);
        ASSERT_TRUE(back) << back.error().reason;
        EXPECT_EQ(back.value(), p);
        EXPECT_EQ(back->triggers("3")->converted, 1);
        EXPECT_EQ(back->triggers("4")->converted, 0);
        EXPECT_EQ(back->triggers("5")->converted, 2);
        EXPECT_EQ(encoding(back.value()), bytes);
        EXPECT_EQ(p.encoded_size(), bytes.size());
        EXPECT_EQ(back->encoded_size(), bytes.size());
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            ASSERT_FALSE(rtcrm::decode_profile(std::string_view{bytes}.substr(0, n))) << "prefix of " << n << " bytes decoded";
        }
    }
}

TEST(profile_codec, version_3_appends_the_conversions_to_version_2) {
    const auto bytes = encoding(with_conversions());
    // The same profile without conversions: version 1, and the same bytes up to its end.
    auto unconverted = full_profile();
    unconverted.record_trigger("4", 1'763'800'000'005);
    unconverted.record_trigger("5", 1'763'800'000'006);
    unconverted.record_trigger("5", 1'763'800'000'007);
    const auto v1 = encoding(unconverted);
    ASSERT_EQ(v1[0], '\x01');
    EXPECT_EQ(bytes.substr(1, v1.size() - 1), v1.substr(1));
    // Then a timer count of 0 and two conversions: history 0 at total 1, history 2 at
    // total 2 (zig-zag: 2 and 4).
    using namespace std::string_literals;
    EXPECT_EQ(bytes.substr(v1.size()), "\x00" "\x02" "\x00\x02" "\x02\x04"s);
}

TEST(profile_codec, a_conversion_of_a_missing_trigger_history_is_refused) {
    auto bytes = encoding(with_conversions());
    bytes[bytes.size() - 2] = '\x07';  // the second conversion names history 7 of 3
    auto r = rtcrm::decode_profile(bytes);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, rtcrm::errc::store_error);
    EXPECT_NE(r.error().reason.find("trigger history 7 of 3"), std::string::npos) << r.error().reason;
}

TEST(profile_codec, to_json_lists_pending_timers_earliest_first) {
    const auto json = with_timers().to_json();
    EXPECT_NE(json.find(R"("timers":[{"name":"nudge","due":-5},)"
                        R"({"name":"winback","due":1764000000000,"event_id":"e4","data":{"offer":"comeback"}}])"),
              std::string::npos)
        << json;
    EXPECT_EQ(full_profile().to_json().find("\"timers\""), std::string::npos);
}

}  // namespace
