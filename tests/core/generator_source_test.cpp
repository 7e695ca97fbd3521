#include <rtcrm/core/error.hpp>
#include <rtcrm/core/event.hpp>
#include <rtcrm/core/generator_source.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

std::vector<rtcrm::record> generate(rtcrm::generator_options options) {
    rtcrm::generator_source gen{std::move(options)};
    std::vector<rtcrm::record> out;
    for (int guard = 0; guard < 1'000'000; ++guard) {
        if (gen.poll(out, 512, std::chrono::milliseconds(50)) == rtcrm::poll_status::end) {
            return out;
        }
    }
    ADD_FAILURE() << "the generator never ended";
    return out;
}

TEST(generator_source, produces_exactly_the_requested_events_then_ends) {
    EXPECT_EQ(generate({.events = 1234}).size(), 1234U);
    EXPECT_EQ(generate({.events = 3, .scenario = "bob"}).size(), 3U);
}

TEST(generator_source, keeps_to_max_per_poll_and_ends_with_the_last_event) {
    rtcrm::generator_source gen{{.events = 10}};
    std::vector<rtcrm::record> out;
    EXPECT_EQ(gen.poll(out, 4, std::chrono::milliseconds(0)), rtcrm::poll_status::more);
    EXPECT_EQ(out.size(), 4U);
    EXPECT_EQ(gen.poll(out, 4, std::chrono::milliseconds(0)), rtcrm::poll_status::more);
    EXPECT_EQ(out.size(), 8U);
    EXPECT_EQ(gen.poll(out, 4, std::chrono::milliseconds(0)), rtcrm::poll_status::end);
    EXPECT_EQ(out.size(), 10U);
    EXPECT_EQ(gen.produced(), 10U);
    EXPECT_EQ(gen.poll(out, 4, std::chrono::milliseconds(0)), rtcrm::poll_status::end);
    EXPECT_EQ(out.size(), 10U);  // nothing after the end
    for (std::size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(out[i].origin.partition, 0);
        EXPECT_EQ(out[i].origin.offset, static_cast<std::int64_t>(i));
    }
}

TEST(generator_source, zero_events_means_an_endless_stream) {
    rtcrm::generator_source gen{{.events = 0}};
    std::vector<rtcrm::record> out;
    for (int i = 0; i < 20; ++i) {
        ASSERT_EQ(gen.poll(out, 1000, std::chrono::milliseconds(0)), rtcrm::poll_status::more);
    }
    EXPECT_EQ(out.size(), 20'000U);
}

TEST(generator_source, the_same_seed_gives_the_same_stream) {
    const auto a = generate({.events = 500, .seed = 9});
    const auto b = generate({.events = 500, .seed = 9});
    const auto c = generate({.events = 500, .seed = 10});
    ASSERT_EQ(a.size(), b.size());
    bool differs = false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].bytes, b[i].bytes);
        differs = differs || a[i].bytes != c[i].bytes;
    }
    EXPECT_TRUE(differs);
}

TEST(generator_source, every_event_is_well_formed_with_the_expected_mix) {
    const auto records = generate({.events = 100'000, .players = 1000, .ts_step_ms = 10});
    std::map<std::string, int> types;
    std::int64_t previous_ts = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
        auto ev = rtcrm::parse_event(std::string_view{records[i].bytes}, {});
        ASSERT_TRUE(ev) << records[i].bytes;
        EXPECT_EQ(ev->id(), "g-" + std::to_string(i));
        EXPECT_EQ(records[i].origin.offset, static_cast<std::int64_t>(i));
        EXPECT_STREQ((*ev->field("game")).GetString(), "foe");
        ASSERT_TRUE(ev->field("data") != nullptr && ev->field("data")->IsObject());
        if (i > 0) {
            EXPECT_EQ(ev->ts() - previous_ts, 10);
        }
        previous_ts = ev->ts();
        ++types[std::string{ev->type()}];
    }
    std::set<std::string> names;
    for (const auto& [type, n] : types) {
        names.insert(type);
    }
    EXPECT_EQ(names, (std::set<std::string>{"build", "fight", "level_up", "login", "purchase"}));
    EXPECT_GT(types["fight"], 40'000);
    EXPECT_LT(types["fight"], 60'000);
    EXPECT_GT(types["login"], 10'000);
    EXPECT_GT(types["purchase"], 1'000);
    EXPECT_LT(types["purchase"], 6'000);
}

TEST(generator_source, event_times_start_at_start_ts_and_advance_by_ts_step_ms) {
    const auto records = generate({.events = 300, .start_ts = 5'000, .ts_step_ms = 7});
    ASSERT_EQ(records.size(), 300U);
    for (std::size_t i = 0; i < records.size(); ++i) {
        auto ev = rtcrm::parse_event(std::string_view{records[i].bytes}, {});
        ASSERT_TRUE(ev) << records[i].bytes;
        ASSERT_EQ(ev->ts(), 5'000 + 7 * static_cast<std::int64_t>(i));
    }
}

TEST(generator_source, player_activity_is_heavily_skewed) {
    const auto records = generate({.events = 100'000, .players = 1000});
    std::map<std::int64_t, int> per_player;
    for (const auto& rec : records) {
        ++per_player[*rtcrm::parse_event(std::string_view{rec.bytes}, {})->player().integer()];
    }
    std::vector<int> counts;
    for (const auto& [player, n] : per_player) {
        counts.push_back(n);
    }
    std::sort(counts.begin(), counts.end());
    EXPECT_GE(counts.back(), 20 * counts[counts.size() / 2]);
}

TEST(generator_source, bob_loses_three_fights_in_a_row_after_reaching_level_12) {
    const auto records = generate({.events = 50'000, .players = 10'000, .scenario = "bob"});
    std::vector<std::string> bob;
    for (const auto& rec : records) {
        auto ev = rtcrm::parse_event(std::string_view{rec.bytes}, {});
        if (ev->player() == rtcrm::player_key{4242}) {
            const auto& data = *ev->field("data");
            std::string what{ev->type()};
            if (ev->type() == "fight") {
                what += std::string{":"} + data["result"].GetString();
            } else if (ev->type() == "level_up") {
                what += ":" + std::to_string(data["level"].GetInt());
            }
            bob.push_back(what);
        }
    }
    EXPECT_EQ(bob, (std::vector<std::string>{"login", "level_up:12", "fight:loss", "fight:loss", "fight:loss"}));
}

// The scripted player must not also be drawn at random, even when his id is a busy one.
TEST(generator_source, no_random_event_uses_bobs_id_even_when_it_is_in_the_player_range) {
    for (const std::int64_t bob_id : {std::int64_t{4242}, std::int64_t{1}, std::int64_t{7}}) {
        const auto records = generate({.events = 100'000, .players = 10'000, .scenario = "bob", .bob_id = bob_id});
        int bobs = 0;
        for (const auto& rec : records) {
            auto ev = rtcrm::parse_event(std::string_view{rec.bytes}, {});
            ASSERT_TRUE(ev) << rec.bytes;
            bobs += ev->player() == rtcrm::player_key{bob_id} ? 1 : 0;
        }
        EXPECT_EQ(bobs, 5) << "bob_id " << bob_id;
    }
}

TEST(generator_source, a_tiny_bob_stream_still_has_exactly_the_requested_events) {
    const auto records = generate({.events = 3, .players = 10, .scenario = "bob"});
    ASSERT_EQ(records.size(), 3U);
    for (const auto& rec : records) {
        EXPECT_TRUE(rtcrm::parse_event(std::string_view{rec.bytes}, {})) << rec.bytes;
    }
}

// With Bob as the only player, regular traffic has no id to use: refused, never a hang.
TEST(generator_source, a_bob_scenario_whose_only_player_is_bob_is_refused) {
    try {
        rtcrm::generator_source gen{{.events = 10, .players = 1, .scenario = "bob", .bob_id = 1}};
        FAIL() << "accepted";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
    }
    EXPECT_NO_THROW(rtcrm::generator_source({.events = 10, .players = 1, .scenario = "bob"}));  // Bob is 4242
}

TEST(generator_source, a_rate_limit_paces_the_stream) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(generate({.events = 400, .rate = 2000}).size(), 400U);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
}

TEST(generator_source, invalid_options_are_refused) {
    EXPECT_THROW(rtcrm::generator_source({.players = 0}), rtcrm::error);
    EXPECT_THROW(rtcrm::generator_source({.rate = -1}), rtcrm::error);
    EXPECT_THROW(rtcrm::generator_source({.zipf_s = 0}), rtcrm::error);
    EXPECT_THROW(rtcrm::generator_source({.scenario = "alice"}), rtcrm::error);
    try {
        rtcrm::generator_source gen{{.zipf_s = -1}};
        FAIL() << "expected a throw";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
    }
    EXPECT_NO_THROW(rtcrm::generator_source({.players = 1, .rate = 0, .zipf_s = 0.5, .scenario = "bob"}));
}

}  // namespace

TEST(generator_source, a_steep_distribution_with_bob_on_the_busiest_id_does_not_hang) {
    // Rank 1 (the busiest) maps to id 1: make Bob that player, with nearly all the mass.
    rtcrm::generator_source gen{{.events = 20'000, .players = 50, .seed = 3, .zipf_s = 12.0, .scenario = "bob", .bob_id = 1}};
    std::vector<rtcrm::record> out;
    while (gen.poll(out, 4096, std::chrono::milliseconds(0)) == rtcrm::poll_status::more) {
    }
    ASSERT_EQ(out.size(), 20'000U);
    std::size_t bobs = 0;
    for (const auto& r : out) {
        bobs += r.bytes.find("\"player_id\":1,") != std::string::npos ? 1 : 0;
    }
    EXPECT_EQ(bobs, 5U);  // only his scenario
}

TEST(generator_source, a_fight_is_never_against_oneself) {
    rtcrm::generator_source gen{{.events = 50'000, .players = 3, .seed = 9}};
    std::vector<rtcrm::record> out;
    while (gen.poll(out, 4096, std::chrono::milliseconds(0)) == rtcrm::poll_status::more) {
    }
    std::size_t fights = 0;
    for (const auto& r : out) {
        auto ev = rtcrm::parse_event(std::string_view{r.bytes}, {});
        ASSERT_TRUE(ev);
        if (ev->type() == "fight") {
            ++fights;
            EXPECT_NE(ev->json()["data"]["opponent"].GetInt64(), ev->json()["player_id"].GetInt64()) << r.bytes;
        }
    }
    EXPECT_GT(fights, 10'000U);
}

TEST(generator_source, a_paced_poll_produces_what_is_due_instead_of_returning_empty) {
    rtcrm::generator_source gen{{.events = 3, .rate = 4}};  // one event every 250 ms
    std::vector<rtcrm::record> out;
    EXPECT_EQ(gen.poll(out, 10, std::chrono::milliseconds(1000)), rtcrm::poll_status::more);
    EXPECT_EQ(out.size(), 1U);  // the first is due at once
    EXPECT_EQ(gen.poll(out, 10, std::chrono::milliseconds(1000)), rtcrm::poll_status::more);
    EXPECT_EQ(out.size(), 2U);  // slept until the second was due, then produced it
    EXPECT_EQ(gen.poll(out, 10, std::chrono::milliseconds(1000)), rtcrm::poll_status::end);
    EXPECT_EQ(out.size(), 3U);
    EXPECT_EQ(gen.poll(out, 10, std::chrono::milliseconds(1000)), rtcrm::poll_status::end);  // and stays ended
}

TEST(generator_options, too_many_players_are_refused) {
    EXPECT_THROW((rtcrm::generator_source{{.players = 200'000'000}}), rtcrm::error);
}
