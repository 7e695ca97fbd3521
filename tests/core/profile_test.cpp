#include <rtcrm/core/event.hpp>
#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/profile_codec.hpp>

#include "core/profile_journal.hpp"

#include <rapidjson/document.h>

#include <gtest/gtest.h>

#include <limits>
#include <random>

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

// Lua strings are bytes; the profile's JSON (admin GET /profiles, rtcrm-profiles) is UTF-8.
TEST(profile, to_json_is_valid_utf8_whatever_a_script_stored) {
    rtcrm::profile p{rtcrm::player_key{std::string{"b\xffob"}}};
    p.set("caf\xe9", std::string{"\xc3"});
    p.incr_windowed("n\x80", 1, 5, 10);
    const auto json = p.to_json();
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
    ASSERT_FALSE(d.HasParseError()) << json;
    EXPECT_NE(json.find("\"caf\xEF\xBF\xBD\":\"\xEF\xBF\xBD\""), std::string::npos) << json;
    EXPECT_NE(json.find("b\xEF\xBF\xBDob"), std::string::npos) << json;
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

// A host or a script can drive a profile with any int64 time and delta: the arithmetic
// saturates at the ends of int64 instead of overflowing (UBSan would stop here).
TEST(profile, windowed_counts_saturate_at_the_ends_of_int64) {
    constexpr auto lowest = std::numeric_limits<std::int64_t>::min();
    constexpr auto highest = std::numeric_limits<std::int64_t>::max();
    rtcrm::profile p;
    p.incr_windowed("c", 1, lowest, 1000);
    p.incr_windowed("c", 1, highest, 1000);
    EXPECT_EQ(p.count("c", 1000, lowest), 1);
    EXPECT_EQ(p.count("c", 1000, highest), 1);
    EXPECT_EQ(p.count("c", highest, 0), 1);  // the window reaches back to the lowest bucket
    EXPECT_EQ(p.count("c", 0, 0), 2);
    p.incr_windowed("c", highest, highest, 1000);
    EXPECT_EQ(p.count("c", 0, 0), highest);
    EXPECT_EQ(p.count("c", 1000, highest), highest);
    EXPECT_TRUE(p.expire_history(highest));  // every bucket ends at or before the end of time
    EXPECT_EQ(p.count("c", 1000, highest), 0);
    EXPECT_EQ(p.count("c", 0, 0), highest);  // the total stays
}

// Any time an event may have (parse_event refuses others) with any width and window a
// script may give: bucket and window arithmetic stays in range.
TEST(profile, windowed_counts_hold_at_the_latest_event_time) {
    const std::int64_t ts = rtcrm::max_event_ts;
    for (const std::int64_t width : {std::int64_t{1}, ts / 3, ts, ts + 1, INT64_MAX}) {
        rtcrm::profile p{rtcrm::player_key{1}};
        p.incr_windowed("n", 1, ts, width);
        p.incr_windowed("n", 1, 0, width);
        EXPECT_EQ(p.count("n", 1, ts), width >= ts ? 2 : 1) << width;  // a bucket counts if it reaches into the window
        EXPECT_EQ(p.count("n", INT64_MAX, ts), 2) << width;
        EXPECT_EQ(p.count("n", INT64_MAX, 0), width > ts ? 2 : 1) << width;
    }
    rtcrm::profile p{rtcrm::player_key{1}};
    p.record_trigger("c", ts);
    EXPECT_EQ(p.triggers_since("c", ts - INT64_MAX + 1), 1);
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

// --- encoded size ---

std::string encoded(const rtcrm::profile& p) {
    std::string out;
    rtcrm::encode_profile(p, out);
    return out;
}

// Each part the profile has, with entries in the middle of each list.
rtcrm::profile sample() {
    rtcrm::profile p{rtcrm::player_key{42}};
    p.set("level", std::int64_t{12});
    p.set("country", std::string{"de"});
    p.set("markets", rtcrm::json_text{R"(["de","at"])"});
    p.set("spent", 4.5);
    p.set("is_payer", true);
    p.incr_windowed("fights_lost", 1, t0, day);
    p.incr_windowed("fights_lost", 2, t0 + day, day);
    p.incr_windowed("logins", 1, t0, 3'600'000);
    p.record_event("fight", t0, "e-1");
    p.record_trigger("3", t0);
    p.mark_applied("kafka:raw", 3, 1234);
    return p;
}

TEST(profile, encoded_size_is_the_length_of_the_codecs_encoding) {
    EXPECT_EQ(rtcrm::profile{}.encoded_size(), encoded(rtcrm::profile{}).size());
    const auto p = sample();
    EXPECT_EQ(p.encoded_size(), encoded(p).size());
}

TEST(profile, encoded_size_counts_conversions_with_and_without_timers) {
    auto p = sample();
    p.record_trigger("4", t0);
    ASSERT_TRUE(p.mark_converted("4"));  // the second history: index 1
    EXPECT_EQ(p.encoded_size(), encoded(p).size());
    EXPECT_EQ(encoded(p)[0], 3);
    p.set_timer("winback", t0 + day, "e-1", "", "r");
    EXPECT_EQ(p.encoded_size(), encoded(p).size());
    ASSERT_TRUE(p.cancel_timer("winback"));
    EXPECT_EQ(p.encoded_size(), encoded(p).size());
    auto measured = rtcrm::decode_profile(encoded(p));  // a decoded profile measures itself
    ASSERT_TRUE(measured);
    EXPECT_EQ(measured.value().encoded_size(), encoded(p).size());
}

// --- conversions ---

TEST(profile, mark_converted_marks_the_latest_firing_once) {
    rtcrm::profile p{rtcrm::player_key{1}};
    EXPECT_FALSE(p.mark_converted("3")) << "never fired";
    p.record_trigger("3", t0);
    EXPECT_TRUE(p.mark_converted("3"));
    EXPECT_EQ(p.triggers("3")->converted, 1);
    EXPECT_FALSE(p.mark_converted("3")) << "the latest firing converted already";
    EXPECT_EQ(p.triggers("3")->converted, 1);
    p.record_trigger("3", t0 + 1000);
    EXPECT_EQ(p.triggers("3")->converted, 1) << "a new firing leaves the old mark";
    EXPECT_TRUE(p.mark_converted("3")) << "a new firing may convert";
    EXPECT_EQ(p.triggers("3")->converted, 2);
    EXPECT_FALSE(p.mark_converted("4")) << "another campaign never fired";
}

TEST(profile, to_json_shows_converted_only_when_set) {
    rtcrm::profile p{rtcrm::player_key{1}};
    p.record_trigger("3", t0);
    EXPECT_EQ(p.to_json().find("converted"), std::string::npos) << p.to_json();
    ASSERT_TRUE(p.mark_converted("3"));
    EXPECT_NE(p.to_json().find(R"("3":{"total":1,"recent":[1763800000000],"converted":1})"), std::string::npos)
        << p.to_json();
}

TEST(profile, conversions_take_part_in_equality) {
    rtcrm::profile a{rtcrm::player_key{1}};
    a.record_trigger("3", t0);
    auto b = a;
    ASSERT_TRUE(b.mark_converted("3"));
    EXPECT_NE(a, b);
}

TEST(profile, encoded_size_stays_exact_through_every_kind_of_change) {
    // Random changes of every kind, some through a journal (which starts the running
    // size), compared with the codec after each.
    std::mt19937 rng{7};
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    rtcrm::profile p{rtcrm::player_key{"player-7"}};
    rtcrm::detail::profile_journal journal;
    rtcrm::profile_limits limits;
    limits.max_buckets = 3;
    limits.recent_events = 4;
    limits.recent_triggers = 2;
    const std::string names[] = {"a", "b", "c", "d", std::string(200, 'n')};
    for (int step = 0; step < 3000; ++step) {
        const std::string& name = names[pick(5)];
        const std::int64_t ts = t0 + pick(10) * day - pick(2) * 1'000'000'000'000;
        double sum = 0;
        switch (pick(17)) {
        case 0: p.set(name, std::int64_t{pick(1000)} * (pick(2) == 0 ? 1 : 1'000'000'000'000)); break;
        case 1: p.set(name, std::string(static_cast<std::size_t>(pick(300)), 'x')); break;
        case 2: (void)p.erase(name); break;
        case 3: (void)p.incr(name, pick(3) == 0 ? 0.5 : 1e12); break;
        case 4: p.incr_windowed(name, pick(2) == 0 ? 1 : 1'000'000'000, ts, day, limits); break;
        case 5: p.record_event(name, ts, pick(2) == 0 ? "" : "id", limits); break;
        case 6: p.record_trigger(name, ts, limits); break;
        case 7: p.mark_applied(name, pick(3), pick(2) == 0 ? 5 : 5'000'000'000); break;
        case 8: (void)p.expire_history(ts); break;
        case 9:
            (void)journal.set(p, name, rtcrm::json_text{std::string(static_cast<std::size_t>(pick(200)), '1')}, limits);
            break;
        case 10: (void)journal.erase(p, name); break;
        case 11: (void)journal.incr(p, name, pick(2) == 0 ? 3 : 0.25, limits, sum); break;
        case 12: (void)journal.incr_windowed(p, name, 7, ts, 3'600'000, limits); break;
        case 13: (void)p.mark_converted(name); break;
        case 14: p.set_timer(name, ts, "e", pick(2) == 0 ? "" : R"({"k":1})", "r"); break;
        case 15: (void)p.cancel_timer(name); break;
        default:
            if (pick(2) == 0) {
                journal.commit();
            } else {
                journal.rollback(p);
            }
        }
        ASSERT_EQ(p.encoded_size(), encoded(p).size()) << "step " << step;
    }
}

// --- the journal: staged writes ---

void expect_identical(const rtcrm::profile& a, const rtcrm::profile& b) {
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.attributes(), b.attributes());  // in order
    EXPECT_EQ(a.to_json(), b.to_json());
    EXPECT_EQ(encoded(a), encoded(b));
    EXPECT_EQ(a.encoded_size(), encoded(a).size());
}

TEST(profile_journal, rollback_restores_attributes_exactly_after_sets_erases_and_increments) {
    auto p = sample();
    const auto before = p;
    rtcrm::detail::profile_journal journal;
    const rtcrm::profile_limits limits;
    double sum = 0;
    ASSERT_TRUE(journal.set(p, "country", std::string{"fr"}, limits));  // replace
    ASSERT_TRUE(journal.erase(p, "markets"));                           // erase from the middle
    ASSERT_TRUE(journal.set(p, "new", std::int64_t{1}, limits));        // add
    ASSERT_TRUE(journal.incr(p, "level", 0.5, limits, sum));            // integer to number
    ASSERT_TRUE(journal.incr(p, "fresh", 2, limits, sum));              // add by increment
    ASSERT_TRUE(journal.erase(p, "level"));                             // erase after a change
    ASSERT_TRUE(journal.set(p, "markets", false, limits));              // erased, then added again at the end
    ASSERT_TRUE(journal.erase(p, "new"));                               // added, then erased
    ASSERT_TRUE(journal.set(p, "country", std::string{"it"}, limits));  // a second change
    EXPECT_EQ(p.get("level"), nullptr);
    EXPECT_EQ(std::get<std::string>(*p.get("country")), "it");  // the call reads its own writes
    EXPECT_EQ(std::get<std::int64_t>(*p.get("fresh")), 2);
    journal.rollback(p);
    expect_identical(p, before);
    EXPECT_TRUE(journal.empty());
}

TEST(profile_journal, rollback_puts_back_every_attribute_erased_in_any_order) {
    rtcrm::profile p;
    for (int i = 0; i < 20; ++i) {
        p.set("a" + std::to_string(i), std::int64_t{i});
    }
    const auto before = p;
    rtcrm::detail::profile_journal journal;
    for (int i : {7, 0, 19, 8, 3, 12, 18, 1}) {
        ASSERT_TRUE(journal.erase(p, "a" + std::to_string(i)));
    }
    ASSERT_TRUE(journal.set(p, "a8", std::string{"back"}, {}));
    journal.rollback(p);
    expect_identical(p, before);
}

TEST(profile_journal, rollback_restores_the_profile_after_any_sequence_of_writes) {
    std::mt19937 rng{11};
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    rtcrm::profile_limits limits;
    limits.max_buckets = 4;
    rtcrm::detail::profile_journal journal;
    for (int round = 0; round < 500; ++round) {
        rtcrm::profile p{rtcrm::player_key{round}};
        for (int i = 0, n = pick(12); i < n; ++i) {
            p.set("a" + std::to_string(pick(16)), std::int64_t{i});
            p.incr_windowed("c" + std::to_string(pick(4)), 1, t0 + pick(8) * day, day, limits);
        }
        const auto before = p;
        for (int op = 0, n = 1 + pick(30); op < n; ++op) {
            const auto name = "a" + std::to_string(pick(16));
            double sum = 0;
            switch (pick(5)) {
            case 0: (void)journal.set(p, name, std::string(static_cast<std::size_t>(pick(40)), 'v'), limits); break;
            case 1: (void)journal.erase(p, name); break;
            case 2: (void)journal.incr(p, name, pick(2) == 0 ? 1 : 0.5, limits, sum); break;
            case 3:
                (void)journal.incr_windowed(p, "c" + std::to_string(pick(6)), 1, t0 + pick(12) * day, day, limits);
                break;
            default: (void)journal.erase(p, p.attributes().empty() ? name : p.attributes()[0].first); break;
            }
        }
        journal.rollback(p);
        ASSERT_EQ(p.attributes(), before.attributes()) << "round " << round;
        ASSERT_EQ(p.counters(), before.counters()) << "round " << round;
        ASSERT_EQ(encoded(p), encoded(before)) << "round " << round;
        ASSERT_EQ(p.encoded_size(), encoded(p).size()) << "round " << round;
    }
}

TEST(profile_journal, rollback_restores_windowed_counters_with_new_and_dropped_buckets) {
    rtcrm::profile_limits limits;
    limits.max_buckets = 3;
    rtcrm::profile p;
    for (int i = 0; i < 3; ++i) {
        p.incr_windowed("fights", 1, t0 + i * day, day, limits);
    }
    p.incr_windowed("logins", 4, t0, day, limits);
    const auto before = p;
    rtcrm::detail::profile_journal journal;
    ASSERT_TRUE(journal.incr_windowed(p, "fights", 1, t0 + 2 * day, day, limits));  // an existing bucket
    ASSERT_TRUE(journal.incr_windowed(p, "fights", 1, t0 + 5 * day, day, limits));  // a new bucket drops the oldest
    ASSERT_TRUE(journal.incr_windowed(p, "fights", 1, t0 + 6 * day, day, limits));  // and again
    ASSERT_TRUE(journal.incr_windowed(p, "fights", 1, t0 - day, day, limits));      // older than all: total only
    ASSERT_TRUE(journal.incr_windowed(p, "wins", 1, t0, day, limits));              // a new counter
    ASSERT_TRUE(journal.incr_windowed(p, "streak", 2, t0, 3'600'000, limits));      // and another
    EXPECT_EQ(p.count("fights", 0, 0), 7);
    EXPECT_EQ(p.count("wins", 0, 0), 1);
    journal.rollback(p);
    expect_identical(p, before);
}

TEST(profile_journal, commit_keeps_the_writes_and_a_later_rollback_undoes_only_what_came_after) {
    auto p = sample();
    rtcrm::detail::profile_journal journal;
    double sum = 0;
    ASSERT_TRUE(journal.incr(p, "level", 1, {}, sum));
    ASSERT_TRUE(journal.erase(p, "country"));
    ASSERT_TRUE(journal.incr_windowed(p, "fights_lost", 1, t0 + 2 * day, day, {}));
    journal.commit();
    EXPECT_TRUE(journal.empty());
    const auto committed = p;
    EXPECT_EQ(std::get<std::int64_t>(*p.get("level")), 13);
    EXPECT_EQ(p.get("country"), nullptr);
    ASSERT_TRUE(journal.incr(p, "level", 1, {}, sum));
    ASSERT_TRUE(journal.set(p, "country", std::string{"se"}, {}));
    ASSERT_TRUE(journal.incr_windowed(p, "fights_lost", 1, t0 + 2 * day, day, {}));
    journal.rollback(p);
    expect_identical(p, committed);
    journal.rollback(p);  // nothing pending: a no-op
    expect_identical(p, committed);
}

TEST(profile_journal, incr_refuses_a_non_number_and_changes_nothing) {
    auto p = sample();
    const auto before = p;
    rtcrm::detail::profile_journal journal;
    double sum = 0;
    const auto r = journal.incr(p, "country", 1, {}, sum);
    EXPECT_EQ(r.error, rtcrm::detail::write_error::not_a_number);
    EXPECT_TRUE(journal.empty());
    expect_identical(p, before);
}

// --- the journal: limits ---

TEST(profile_journal, a_value_past_max_value_bytes_is_refused) {
    auto p = sample();
    const auto before = p;
    rtcrm::profile_limits limits;
    limits.max_value_bytes = 10;
    rtcrm::detail::profile_journal journal;
    auto r = journal.set(p, "bio", std::string(11, 'x'), limits);
    EXPECT_EQ(r.error, rtcrm::detail::write_error::max_value_bytes);
    EXPECT_EQ(r.size, 11U);
    EXPECT_EQ(rtcrm::detail::limit_name(r.error), "max_value_bytes");
    EXPECT_EQ(rtcrm::detail::limit_value(r.error, limits), 10U);
    r = journal.set(p, "country", rtcrm::json_text{R"(["a","b","c"])"}, limits);
    EXPECT_EQ(r.error, rtcrm::detail::write_error::max_value_bytes);
    EXPECT_TRUE(journal.empty());
    expect_identical(p, before);
    EXPECT_TRUE(journal.set(p, "bio", std::string(10, 'x'), limits));
}

TEST(profile_journal, a_new_attribute_or_counter_past_its_count_is_refused_and_existing_ones_still_change) {
    auto p = sample();  // five attributes, two counters
    const auto before = p;
    rtcrm::profile_limits limits;
    limits.max_attributes = 5;
    limits.max_counters = 2;
    rtcrm::detail::profile_journal journal;
    double sum = 0;
    auto r = journal.set(p, "sixth", true, limits);
    EXPECT_EQ(r.error, rtcrm::detail::write_error::max_attributes);
    EXPECT_EQ(r.size, 6U);
    EXPECT_EQ(journal.incr(p, "sixth", 1, limits, sum).error, rtcrm::detail::write_error::max_attributes);
    EXPECT_EQ(journal.incr_windowed(p, "third", 1, t0, day, limits).error, rtcrm::detail::write_error::max_counters);
    EXPECT_TRUE(journal.empty());
    expect_identical(p, before);
    EXPECT_TRUE(journal.set(p, "level", std::int64_t{13}, limits));
    EXPECT_TRUE(journal.incr_windowed(p, "logins", 1, t0, 3'600'000, limits));
    // Room made by an erase in the same call may be used.
    EXPECT_TRUE(journal.erase(p, "spent"));
    EXPECT_TRUE(journal.set(p, "sixth", true, limits));
}

TEST(profile_journal, a_write_past_max_encoded_bytes_is_refused_to_the_byte) {
    auto p = sample();
    const auto size = p.encoded_size();
    rtcrm::profile_limits limits;
    rtcrm::detail::profile_journal journal;
    // "note" and a 20-byte string: a 5-byte name, a tag, a length and the bytes.
    const std::size_t grown = size + 5 + 1 + 1 + 20;
    limits.max_encoded_bytes = grown - 1;
    const auto before = p;
    const auto r = journal.set(p, "note", std::string(20, 'x'), limits);
    EXPECT_EQ(r.error, rtcrm::detail::write_error::max_encoded_bytes);
    EXPECT_EQ(r.size, grown);
    EXPECT_TRUE(journal.empty());
    expect_identical(p, before);
    limits.max_encoded_bytes = grown;
    ASSERT_TRUE(journal.set(p, "note", std::string(20, 'x'), limits));
    EXPECT_EQ(p.encoded_size(), grown);
    EXPECT_EQ(encoded(p).size(), grown);
    // At the bound: writes that do not grow it still go through.
    EXPECT_TRUE(journal.set(p, "note", std::string(19, 'x'), limits));
    EXPECT_TRUE(journal.erase(p, "country"));
    journal.rollback(p);
    expect_identical(p, before);
}

TEST(profile_journal, a_counter_increment_past_max_encoded_bytes_is_refused_to_the_byte) {
    const rtcrm::profile_limits defaults;
    for (const bool fresh : {false, true}) {
        auto p = sample();
        const char* name = fresh ? "new_counter" : "fights_lost";
        auto grown_profile = p;
        grown_profile.incr_windowed(name, 1, t0 + 9 * day, day, defaults);
        const std::size_t grown = encoded(grown_profile).size();
        rtcrm::profile_limits limits;
        limits.max_encoded_bytes = grown - 1;
        rtcrm::detail::profile_journal journal;
        const auto before = p;
        const auto r = journal.incr_windowed(p, name, 1, t0 + 9 * day, day, limits);
        EXPECT_EQ(r.error, rtcrm::detail::write_error::max_encoded_bytes) << name;
        EXPECT_EQ(r.size, grown) << name;
        EXPECT_TRUE(journal.empty());
        expect_identical(p, before);
        limits.max_encoded_bytes = grown;
        ASSERT_TRUE(journal.incr_windowed(p, name, 1, t0 + 9 * day, day, limits)) << name;
        expect_identical(p, grown_profile);
        journal.rollback(p);
        expect_identical(p, before);
    }
}

TEST(profile_journal, zero_turns_the_bounds_off) {
    rtcrm::profile p;
    rtcrm::profile_limits limits;
    limits.max_attributes = 0;
    limits.max_value_bytes = 0;
    limits.max_encoded_bytes = 0;
    rtcrm::detail::profile_journal journal;
    for (int i = 0; i < 1100; ++i) {
        ASSERT_TRUE(journal.set(p, "a" + std::to_string(i), std::string(1000, 'x'), limits));
    }
    journal.commit();
    EXPECT_EQ(p.attributes().size(), 1100U);
}

TEST(profile_journal, a_call_writing_the_most_attributes_a_profile_may_have_rolls_back_in_full) {
    rtcrm::profile p;
    const rtcrm::profile_limits limits;
    for (std::size_t i = 0; i < limits.max_attributes / 2; ++i) {
        p.set("kept" + std::to_string(i), std::int64_t{1});
    }
    const auto before = p;
    rtcrm::detail::profile_journal journal;
    for (std::size_t i = 0; i < limits.max_attributes; ++i) {
        const auto r = journal.set(p, (i % 2 == 0 ? "kept" : "new") + std::to_string(i / 2), std::int64_t{2}, limits);
        ASSERT_TRUE(r);
    }
    EXPECT_EQ(p.attributes().size(), limits.max_attributes);
    EXPECT_EQ(journal.set(p, "one_more", true, limits).error, rtcrm::detail::write_error::max_attributes);
    journal.rollback(p);
    expect_identical(p, before);
}

TEST(profile_journal, timer_writes_roll_back_exactly_and_keep_the_encoded_size) {
    auto p = sample();
    p.set_timer("kept", 10, "e-1", R"({"a":1})", "e:e-1");
    p.set_timer("gone", 20);
    const auto before = p;
    const rtcrm::profile_limits limits;
    rtcrm::detail::profile_journal journal;
    ASSERT_TRUE(journal.set_timer(p, "kept", 99, "e-2", "", "o:0:0:5", limits));
    EXPECT_TRUE(journal.cancel_timer(p, "gone"));
    EXPECT_FALSE(journal.cancel_timer(p, "never"));
    ASSERT_TRUE(journal.set_timer(p, "new", 30, "", R"({"b":2})", "", limits));
    EXPECT_FALSE(journal.empty());
    EXPECT_EQ(p.encoded_size(), encoded(p).size());
    EXPECT_EQ(p.timer("kept")->due, 99);
    journal.rollback(p);
    expect_identical(p, before);
    EXPECT_EQ(p.timers(), before.timers());  // in order
    // Committed writes stay; a later rollback undoes only what came after.
    ASSERT_TRUE(journal.set_timer(p, "new", 30, "", "", "", limits));
    journal.commit();
    const auto committed = p;
    EXPECT_TRUE(journal.cancel_timer(p, "new"));
    journal.rollback(p);
    expect_identical(p, committed);
}

TEST(profile_journal, timers_past_max_timers_or_max_encoded_bytes_are_refused_to_the_byte) {
    rtcrm::profile p{rtcrm::player_key{"p"}};
    rtcrm::profile_limits limits;
    limits.max_timers = 1;
    rtcrm::detail::profile_journal journal;
    ASSERT_TRUE(journal.set_timer(p, "a", 1, "", "", "", limits));
    const auto r = journal.set_timer(p, "b", 1, "", "", "", limits);
    EXPECT_EQ(r.error, rtcrm::detail::write_error::max_timers);
    EXPECT_EQ(r.size, 2U);
    EXPECT_EQ(rtcrm::detail::limit_name(r.error), "max_timers");
    EXPECT_TRUE(journal.set_timer(p, "a", 2, "", "", "", limits));  // replacing: within the bound
    journal.commit();

    limits.max_timers = 0;
    const auto size = p.encoded_size();
    // A second timer "b" due at 1 with 10 bytes of data: the count's varint stays one byte;
    // the entry is the name (2), the due time (1), the event id (1), the data (11), the ref (1).
    const std::size_t grown = size + 2 + 1 + 1 + 11 + 1;
    limits.max_encoded_bytes = grown - 1;
    const auto before = p;
    const auto refused = journal.set_timer(p, "b", 1, "", std::string(10, '1'), "", limits);
    EXPECT_EQ(refused.error, rtcrm::detail::write_error::max_encoded_bytes);
    EXPECT_EQ(refused.size, grown);
    expect_identical(p, before);
    limits.max_encoded_bytes = grown;
    ASSERT_TRUE(journal.set_timer(p, "b", 1, "", std::string(10, '1'), "", limits));
    EXPECT_EQ(encoded(p).size(), grown);
    EXPECT_EQ(p.encoded_size(), grown);
    limits.max_value_bytes = 5;
    EXPECT_EQ(journal.set_timer(p, "c", 1, "", std::string(10, '1'), "", limits).error,
              rtcrm::detail::write_error::max_value_bytes);
}

}  // namespace
