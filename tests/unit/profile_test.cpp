#include <rtcrm/profile.hpp>

#include <rapidjson/document.h>

#include <gtest/gtest.h>

namespace {

constexpr std::int64_t day = 86'400'000;
constexpr std::int64_t t0 = 1'763'800'000'000;

TEST(profile, unset_attributes_are_absent_and_incr_starts_from_zero) {
    rtcrm::profile p{rtcrm::player_key{1}};
    EXPECT_EQ(p.get("logins"), nullptr);
    EXPECT_EQ(p.incr("logins"), 1.0);
    EXPECT_EQ(p.incr("logins", 2), 3.0);
    ASSERT_NE(p.get("logins"), nullptr);
    EXPECT_EQ(std::get<std::int64_t>(*p.get("logins")), 3);
}

TEST(profile, set_replaces_and_incr_refuses_non_numbers) {
    rtcrm::profile p;
    p.set("loss_streak", std::int64_t{3});
    p.set("loss_streak", std::int64_t{0});
    EXPECT_EQ(std::get<std::int64_t>(*p.get("loss_streak")), 0);
    p.set("country", std::string{"de"});
    EXPECT_EQ(p.incr("country"), std::nullopt);
    EXPECT_EQ(std::get<std::string>(*p.get("country")), "de");
    EXPECT_TRUE(p.erase("country"));
    EXPECT_FALSE(p.erase("country"));
}

TEST(profile, fractional_increments_turn_a_counter_into_a_number) {
    rtcrm::profile p;
    p.incr("spent", 2);
    EXPECT_DOUBLE_EQ(*p.incr("spent", 0.5), 2.5);
    EXPECT_DOUBLE_EQ(std::get<double>(*p.get("spent")), 2.5);
}

TEST(profile, windowed_counts_cover_the_buckets_in_the_window) {
    rtcrm::profile p;
    p.incr_windowed("fights_lost", 1, t0, day);
    p.incr_windowed("fights_lost", 1, t0 + 1000, day);
    p.incr_windowed("fights_lost", 1, t0 + 3 * day, day);
    EXPECT_EQ(p.count("fights_lost", day, t0 + 3 * day), 1);
    EXPECT_EQ(p.count("fights_lost", 4 * day, t0 + 3 * day), 3);
    EXPECT_EQ(p.count("fights_lost", 0, t0), 3);  // total
    EXPECT_EQ(p.count("unknown", day, t0), 0);
}

TEST(profile, windowed_counters_keep_a_bounded_number_of_buckets) {
    rtcrm::profile p;
    rtcrm::profile_limits limits;
    limits.max_buckets = 4;
    for (int i = 0; i < 10; ++i) {
        p.incr_windowed("x", 1, t0 + i * day, day, limits);
    }
    EXPECT_EQ(p.counters().front().second.buckets.size(), 4U);
    EXPECT_EQ(p.count("x", 0, 0), 10);
    EXPECT_EQ(p.count("x", 100 * day, t0 + 9 * day), 4);
    // Out-of-order increments older than everything kept count only toward the total.
    p.incr_windowed("x", 1, t0, day, limits);
    EXPECT_EQ(p.count("x", 0, 0), 11);
    EXPECT_EQ(p.counters().front().second.buckets.size(), 4U);
}

TEST(profile, recent_events_are_a_bounded_ring_oldest_first) {
    rtcrm::profile p;
    rtcrm::profile_limits limits;
    limits.recent_events = 3;
    for (int i = 0; i < 5; ++i) {
        p.record_event("fight", t0 + i, "e" + std::to_string(i), limits);
    }
    ASSERT_EQ(p.recent().size(), 3U);
    EXPECT_EQ(p.recent().front().id, "e2");
    EXPECT_EQ(p.recent().back().id, "e4");
    EXPECT_EQ(p.last_event_ts(), t0 + 4);
}

TEST(profile, trigger_history_counts_firings_in_event_time) {
    rtcrm::profile p;
    p.record_trigger("3", t0);
    p.record_trigger("3", t0 + day);
    EXPECT_EQ(p.triggers("3")->total, 2);
    EXPECT_EQ(p.triggers_since("3", t0 + 1), 1);
    EXPECT_EQ(p.triggers_since("4", 0), 0);
    EXPECT_EQ(p.triggers("4"), nullptr);
}

TEST(profile, remembers_the_newest_applied_position_per_source_partition) {
    rtcrm::profile p;
    EXPECT_FALSE(p.applied("ndjson", 0, 0));
    p.mark_applied("ndjson", 0, 100);
    p.mark_applied("ndjson", 0, 50);  // older: keeps 100
    EXPECT_TRUE(p.applied("ndjson", 0, 100));
    EXPECT_TRUE(p.applied("ndjson", 0, 7));
    EXPECT_FALSE(p.applied("ndjson", 0, 101));
    EXPECT_FALSE(p.applied("ndjson", 1, 7));
    EXPECT_FALSE(p.applied("kafka:raw", 0, 7));
}

TEST(profile, to_json_is_one_valid_object_with_every_part) {
    rtcrm::profile p{rtcrm::player_key{42}};
    p.set("level", std::int64_t{12});
    p.set("is_payer", false);
    p.set("markets", rtcrm::json_text{R"(["de"])"});
    p.incr_windowed("fights_lost", 1, t0, day);
    p.record_event("fight", t0, "e-1");
    p.record_trigger("3", t0);
    rapidjson::Document d;
    d.Parse(p.to_json().c_str());
    ASSERT_FALSE(d.HasParseError()) << p.to_json();
    EXPECT_EQ(d["player_id"].GetInt64(), 42);
    EXPECT_EQ(d["attributes"]["level"].GetInt64(), 12);
    EXPECT_FALSE(d["attributes"]["is_payer"].GetBool());
    EXPECT_STREQ(d["attributes"]["markets"][0].GetString(), "de");
    EXPECT_EQ(d["counters"]["fights_lost"]["total"].GetInt64(), 1);
    EXPECT_STREQ(d["recent"][0]["id"].GetString(), "e-1");
    EXPECT_EQ(d["triggers"]["3"]["total"].GetInt64(), 1);
}

}  // namespace
