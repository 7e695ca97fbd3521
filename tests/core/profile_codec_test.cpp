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
    EXPECT_EQ(static_cast<unsigned char>(bytes[0]), rtcrm::profile_codec_version);
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

TEST(profile_codec, to_json_lists_pending_timers_earliest_first) {
    const auto json = with_timers().to_json();
    EXPECT_NE(json.find(R"("timers":[{"name":"nudge","due":-5},)"
                        R"({"name":"winback","due":1764000000000,"event_id":"e4","data":{"offer":"comeback"}}])"),
              std::string::npos)
        << json;
    EXPECT_EQ(full_profile().to_json().find("\"timers\""), std::string::npos);
}

}  // namespace
