#include <rtcrm/core/profile_codec.hpp>

#include <gtest/gtest.h>

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

}  // namespace
