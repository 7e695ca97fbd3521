// Campaign experiments through the engine: arms (holdout and variants), the cap across
// campaigns (crm.fatigue) with priorities, and conversions.
#include "experiments_harness.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <set>

namespace {

using namespace rtcrm::test;
using rtcrm::stream;
using rtcrm::detail::lua::suppression;

constexpr const char* ab_campaign = R"(
crm.campaign{ id = 33, on = "fight", content = { offer = "base" }, holdout = 0.2,
  variants = { { name = "a", content = { offer = "tanks-10" } }, { name = "b", weight = 1 } } }
)";

TEST(experiments, variants_carry_their_name_and_content_and_control_goes_to_shadow_marked_holdout) {
    experiment x{ab_campaign};
    std::map<std::string, int> arms;
    for (std::int64_t player = 1; player <= 200; ++player) {
        x.pipe("fight", t0, player);
        const auto arm = arm_of("33", 0.2, {"a", "b"}, player);
        ++arms[arm];
        const auto main = x.driver.read(stream::main);
        const auto shadow = x.driver.read(stream::shadow);
        if (arm == "control") {
            EXPECT_TRUE(main.empty()) << player;
            ASSERT_EQ(shadow.size(), 1U) << player;
            const auto d = parsed(shadow[0]);
            EXPECT_TRUE(d["holdout"].GetBool());
            EXPECT_FALSE(d.HasMember("variant"));
            EXPECT_FALSE(d["dry_run"].GetBool());
            EXPECT_EQ(d["player_id"].GetInt64(), player);
            continue;
        }
        EXPECT_TRUE(shadow.empty()) << player;
        ASSERT_EQ(main.size(), 1U) << player;
        const auto d = parsed(main[0]);
        EXPECT_EQ(std::string{d["variant"].GetString()}, arm);
        EXPECT_FALSE(d.HasMember("holdout"));
        EXPECT_EQ(std::string{d["content"]["offer"].GetString()}, arm == "a" ? "tanks-10" : "base");
        // trigger_id stays the last member, where sinks look for it.
        EXPECT_NE(main[0].find(R"(,"trigger_id":")"), std::string::npos);
        EXPECT_EQ(main[0].rfind(R"("})"), main[0].size() - 2);
    }
    EXPECT_GT(arms["control"], 10);
    EXPECT_GT(arms["a"], 40);
    EXPECT_GT(arms["b"], 40);
    // Both arms are in the player's history.
    EXPECT_EQ(x.profile_of(player_in("control", "33", 0.2, {"a", "b"})).triggers("33")->total, 1);
}

TEST(experiments, a_campaign_with_only_a_goal_or_a_holdout_names_its_arm_treatment) {
    experiment x{R"(crm.campaign{ id = 7, on = "fight", goal = { on = "purchase", within = "1d" } })"};
    x.pipe("fight", t0);
    const auto main = x.driver.read(stream::main);
    ASSERT_EQ(main.size(), 1U);
    EXPECT_EQ(std::string{parsed(main[0])["variant"].GetString()}, "treatment");
}

TEST(experiments, a_campaign_without_experiment_options_sends_no_arm_members) {
    experiment x{R"(crm.campaign{ id = 7, on = "fight", content = { offer = "x" } })"};
    x.pipe("fight", t0);
    const auto main = x.driver.read(stream::main);
    ASSERT_EQ(main.size(), 1U);
    EXPECT_EQ(main[0].find("variant"), std::string::npos);
    EXPECT_EQ(main[0].find("holdout"), std::string::npos);
}

TEST(experiments, control_exposures_count_against_the_cap_as_sent_triggers_do) {
    const auto control = player_in("control", "9", 0.5);
    const auto treated = player_in("treatment", "9", 0.5);
    experiment x{R"(crm.campaign{ id = 9, on = "fight", holdout = 0.5, cap = { per_player = 2, every = "1d" } })"};
    for (int i = 0; i < 3; ++i) {
        x.pipe("fight", t0 + i * minute, control);
        x.pipe("fight", t0 + i * minute, treated);
    }
    EXPECT_EQ(x.driver.read(stream::shadow).size(), 2U);
    EXPECT_EQ(x.driver.read(stream::main).size(), 2U);
    const auto d = x.on("9", t0);
    EXPECT_EQ(suppressed(d, suppression::cap), 2);
    EXPECT_EQ(d.arms.at("control").exposures, 2);
    EXPECT_EQ(d.arms.at("treatment").exposures, 2);
}

TEST(experiments, control_exposures_count_against_fatigue_as_sent_triggers_do) {
    const auto control = player_in("control", "1", 0.5);
    experiment x{R"(
crm.fatigue{ per_player = 1, every = "1d" }
crm.campaign{ id = 1, on = "fight", priority = 5, holdout = 0.5 }
crm.campaign{ id = 2, on = "fight" }
)"};
    x.pipe("fight", t0, control);
    EXPECT_TRUE(x.driver.read(stream::main).empty());
    EXPECT_EQ(x.driver.read(stream::shadow).size(), 1U);
    EXPECT_EQ(suppressed(x.on("2", t0), suppression::fatigue), 1);
}

// The campaign ids of the main stream's triggers.
std::vector<std::string> sent(experiment& x, stream s = stream::main) {
    std::vector<std::string> out;
    for (const auto& body : x.driver.read(s)) {
        out.push_back(std::to_string(parsed(body)["campaign_id"].GetInt64()));
    }
    return out;
}

constexpr const char* three_campaigns = R"(
crm.fatigue{ per_player = 1, every = "1d" }
crm.campaign{ id = 1, on = "fight", priority = 1 }
crm.campaign{ id = 2, on = "fight", priority = 5 }
crm.campaign{ id = 3, on = "fight", priority = 3 }
crm.campaign{ id = 4, on = "fight", priority = 9, transactional = true }
)";

TEST(experiments, with_per_player_1_only_the_highest_priority_campaign_sends_and_a_transactional_one_still_fires) {
    experiment x{three_campaigns};
    x.pipe("fight", t0);
    EXPECT_EQ(sent(x), (std::vector<std::string>{"4", "2"}));
    x.pipe("fight", t0 + hour);  // within `every`: fatigued
    EXPECT_EQ(sent(x), (std::vector<std::string>{"4"}));
    x.pipe("fight", t0 + day - 1);  // (ts - every, ts] still holds the first exposure
    EXPECT_EQ(sent(x), (std::vector<std::string>{"4"}));
    x.pipe("fight", t0 + day);  // the first exposure is at ts - every: out of the window
    EXPECT_EQ(sent(x), (std::vector<std::string>{"4", "2"}));
    // Counted on the day of each firing's event.
    EXPECT_EQ(suppressed(x.on("1", t0), suppression::fatigue), 2);
    EXPECT_EQ(suppressed(x.on("1", t0 + day), suppression::fatigue), 2);
    EXPECT_EQ(suppressed(x.on("3", t0), suppression::fatigue), 2);
    EXPECT_EQ(suppressed(x.on("3", t0 + day), suppression::fatigue), 2);
    EXPECT_EQ(suppressed(x.on("2", t0), suppression::fatigue), 1);
    EXPECT_EQ(suppressed(x.on("4", t0), suppression::fatigue) + suppressed(x.on("4", t0 + day), suppression::fatigue), 0);
}

TEST(experiments, equal_priorities_run_in_registration_order) {
    experiment x{R"(
crm.fatigue{ per_player = 2, every = "1d" }
crm.campaign{ id = 1, on = "fight" }
crm.campaign{ id = 2, on = { "fight", "login" }, priority = 1 }
crm.campaign{ id = 3, on = "*" }
crm.campaign{ id = 4, on = "fight" }
)"};
    x.pipe("fight", t0);
    EXPECT_EQ(sent(x), (std::vector<std::string>{"2", "1"}));
    x.pipe("fight", t0 + 2 * day, 2);
    EXPECT_EQ(sent(x), (std::vector<std::string>{"2", "1"}));
    x.pipe("other", t0, 3);
    EXPECT_EQ(sent(x), (std::vector<std::string>{"3"}));
}

TEST(experiments, campaign_timers_due_at_the_same_time_fire_in_priority_order) {
    experiment x{R"(
crm.campaign{ id = 1, on = "login", after = "1h" }
crm.campaign{ id = 2, on = "login", after = "1h", priority = 2 }
crm.campaign{ id = 3, on = "login", after = "1h", priority = 1 }
)"};
    x.pipe("login", t0);
    x.driver.advance_time(t0 + 2 * hour);
    EXPECT_EQ(sent(x), (std::vector<std::string>{"2", "3", "1"}));
}

TEST(experiments, dry_run_campaigns_count_only_among_themselves_for_fatigue) {
    experiment x{R"(
crm.fatigue{ per_player = 1, every = "1d" }
crm.campaign{ id = 1, on = "fight", priority = 9 }
crm.campaign{ id = 2, on = "fight", priority = 5, dry_run = true }
crm.campaign{ id = 3, on = "fight", priority = 1, dry_run = true }
crm.campaign{ id = 4, on = "fight" }
)"};
    x.pipe("fight", t0);
    EXPECT_EQ(sent(x), (std::vector<std::string>{"1"}));
    EXPECT_EQ(sent(x, stream::shadow), (std::vector<std::string>{"2"}));
    EXPECT_EQ(suppressed(x.on("3", t0), suppression::fatigue), 1);
    EXPECT_EQ(suppressed(x.on("4", t0), suppression::fatigue), 1);
    EXPECT_EQ(suppressed(x.on("2", t0), suppression::dry_run), 1);
}

TEST(experiments, dry_run_variants_go_to_shadow_with_their_marks) {
    const auto control = player_in("control", "5", 0.5, {"a"});
    const auto treated = player_in("a", "5", 0.5, {"a"});
    experiment x{R"(crm.campaign{ id = 5, on = "fight", dry_run = true, holdout = 0.5, variants = { { name = "a" } } })"};
    x.pipe("fight", t0, control);
    x.pipe("fight", t0, treated);
    EXPECT_TRUE(x.driver.read(stream::main).empty());
    const auto shadow = x.driver.read(stream::shadow);
    ASSERT_EQ(shadow.size(), 2U);
    EXPECT_TRUE(parsed(shadow[0])["holdout"].GetBool());
    EXPECT_EQ(std::string{parsed(shadow[1])["variant"].GetString()}, "a");
    EXPECT_TRUE(parsed(shadow[1])["dry_run"].GetBool());
}

constexpr const char* goal_campaign = R"(
crm.campaign{ id = 8, on = "fight", goal = { on = "purchase", within = "1h",
  when = function(e, p) return (e.data.amount or 0) > 10 end } }
)";

std::int64_t conversions(const experiment& x, std::int64_t ts, const std::string& arm = "treatment") {
    const auto d = x.on("8", ts);
    const auto it = d.arms.find(arm);
    return it == d.arms.end() ? 0 : it->second.conversions;
}

TEST(conversions, a_goal_at_exactly_t_plus_within_counts_and_one_at_t_does_not) {
    experiment x{goal_campaign};
    x.pipe("fight", t0);
    x.pipe("purchase", t0, 1, R"({"amount":20})");
    EXPECT_EQ(conversions(x, t0), 0);
    x.pipe("purchase", t0 + hour, 1, R"({"amount":20})");
    EXPECT_EQ(conversions(x, t0), 1);
    EXPECT_EQ(x.profile_of().triggers("8")->converted, 1);
    x.pipe("purchase", t0 + hour, 1, R"({"amount":20})");  // at most one per exposure
    EXPECT_EQ(conversions(x, t0), 1);
}

TEST(conversions, a_goal_after_within_or_failing_when_does_not_count) {
    experiment x{goal_campaign};
    x.pipe("fight", t0, 2);
    x.pipe("purchase", t0 + hour + 1, 2, R"({"amount":20})");
    x.pipe("fight", t0 + 2 * hour, 3);
    x.pipe("purchase", t0 + 2 * hour + 1, 3, R"({"amount":5})");
    EXPECT_EQ(conversions(x, t0), 0);
    x.pipe("purchase", t0 + 2 * hour + 2, 3, R"({"amount":50})");
    EXPECT_EQ(conversions(x, t0), 1);
}

TEST(conversions, a_goal_after_the_next_exposure_converts_only_the_later_one_on_its_day) {
    experiment x{goal_campaign};
    x.pipe("fight", t0);
    x.pipe("fight", t0 + day);
    x.pipe("purchase", t0 + day + 1, 1, R"({"amount":20})");
    EXPECT_EQ(conversions(x, t0), 0);
    EXPECT_EQ(conversions(x, t0 + day), 1);  // counted on the day of its exposure
    x.pipe("purchase", t0 + day + 2, 1, R"({"amount":20})");
    EXPECT_EQ(conversions(x, t0 + day), 1);
}

TEST(conversions, each_exposure_converts_once) {
    experiment x{goal_campaign};
    x.pipe("fight", t0);
    x.pipe("purchase", t0 + 1, 1, R"({"amount":20})");
    x.pipe("fight", t0 + 2);
    x.pipe("purchase", t0 + 3, 1, R"({"amount":20})");
    x.pipe("purchase", t0 + 4, 1, R"({"amount":20})");
    EXPECT_EQ(conversions(x, t0), 2);
    EXPECT_EQ(x.on("8", t0).arms.at("treatment").exposures, 2);
}

TEST(conversions, goal_events_count_while_the_campaign_is_killed_or_outside_active) {
    experiment x{R"(
crm.campaign{ id = 8, on = "fight", holdout = 0.5, active = { to = )" + std::to_string(t0 + 1) + R"( },
  goal = { on = "purchase", within = "1d" } })"};
    const auto control = player_in("control", "8", 0.5);
    x.pipe("fight", t0, control);
    x.kill("8");
    x.pipe("purchase", t0 + hour, control);
    EXPECT_EQ(conversions(x, t0, "control"), 1);
}

TEST(conversions, conversions_run_after_the_updaters_and_before_the_campaigns_of_the_event) {
    // A purchase that is also the campaign's `on` type: its conversion is of the earlier
    // exposure, then it fires a new one; the updater's write is visible to goal.when.
    experiment x{R"(
crm.updater{ id = "u", on = "purchase", fn = function(e, p) p:set("bought", true) end }
crm.campaign{ id = 8, on = "purchase", goal = { on = "purchase", within = "1d",
  when = function(e, p) return p:get("bought") == true end } })"};
    x.pipe("purchase", t0);
    EXPECT_EQ(conversions(x, t0), 0);
    x.pipe("purchase", t0 + 1);
    EXPECT_EQ(conversions(x, t0), 1);
    EXPECT_EQ(x.profile_of().triggers("8")->total, 2);
    EXPECT_EQ(x.profile_of().triggers("8")->converted, 1);
}

TEST(experiments, the_example_experiment_loads_with_the_example_updaters) {
    std::vector<rtcrm::lua_script> scripts;
    for (const char* path : {"lua/examples/fight_stats.lua", "lua/examples/experiments/frustrated_fighter_ab.lua"}) {
        std::ifstream in{path};
        ASSERT_TRUE(in) << path;
        std::ostringstream text;
        text << in.rdbuf();
        scripts.push_back({path, text.str()});
    }
    rtcrm::lua_engine engine{rtcrm::lua_options{}};
    const auto r = engine.load(std::move(scripts));
    EXPECT_TRUE(r) << r.error().reason;
}

}  // namespace
