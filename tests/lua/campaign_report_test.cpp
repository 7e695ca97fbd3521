// The campaign report rendered from hand-built ledgers: fields, order, arms, the uplift
// interval (recomputed here from its formula) and its null cases.
#include "lua/campaign_report.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

using rtcrm::detail::lua::campaign_description;
using rtcrm::detail::lua::campaign_ledger;
using rtcrm::detail::lua::render_campaign_report;
using rtcrm::detail::lua::suppression;

constexpr std::int64_t day_ms = 86'400'000;
// 2025-11-22T10:00:00Z and the next day.
constexpr std::int64_t nov22 = 1'763'805'600'000;
constexpr std::int64_t nov23 = nov22 + day_ms;

rapidjson::Document parse(const std::string& text) {
    rapidjson::Document doc;
    doc.Parse(text.c_str(), text.size());
    EXPECT_FALSE(doc.HasParseError()) << text;
    return doc;
}

const rapidjson::Value& campaign(const rapidjson::Document& doc, std::size_t i) {
    return doc["campaigns"].GetArray()[static_cast<rapidjson::SizeType>(i)];
}

std::vector<std::string> keys(const rapidjson::Value& object) {
    std::vector<std::string> out;
    for (const auto& m : object.GetObject()) {
        out.emplace_back(m.name.GetString());
    }
    return out;
}

// The experiment of the issue: control, a and b over two days.
campaign_ledger experiment() {
    campaign_ledger ledger;
    ledger.campaign("33").players = 800;
    auto& d1 = ledger.day("33", nov22);
    d1.triggers = 700;
    d1.shadow = 200;
    d1.players = 600;
    d1.suppressed_by(suppression::cap) = 6;
    d1.suppressed_by(suppression::fatigue) = 4;
    d1.arm("control") = {200, 25};
    d1.arm("a") = {350, 60};
    d1.arm("b") = {350, 50};
    auto& d2 = ledger.day("33", nov23);
    d2.triggers = 534;
    d2.shadow = 110;
    d2.players = 400;
    d2.suppressed_by(suppression::cap) = 4;
    d2.arm("control") = {110, 15};
    d2.arm("a") = {262, 41};
    d2.arm("b") = {272, 38};
    return ledger;
}

campaign_description described_33() { return {.id = "33", .dry_run = false, .has_arms = true, .arms = {"control", "a", "b"}}; }

TEST(campaign_report, totals_days_and_suppressions) {
    const auto doc = parse(render_campaign_report(experiment(), {described_33()}));
    ASSERT_EQ(doc["campaigns"].Size(), 1U);
    const auto& c = campaign(doc, 0);
    EXPECT_STREQ(c["id"].GetString(), "33");
    EXPECT_FALSE(c["dry_run"].GetBool());
    EXPECT_EQ(c["triggers"].GetInt64(), 1234);
    EXPECT_EQ(c["shadow"].GetInt64(), 310);
    EXPECT_EQ(c["players"].GetInt64(), 800);  // distinct ever, not the sum of the days
    EXPECT_EQ(keys(c["suppressed"]),
              (std::vector<std::string>{"kill_switch", "cap", "fatigue", "rate", "quiet_hours", "schedule", "dry_run"}));
    EXPECT_EQ(c["suppressed"]["cap"].GetInt64(), 10);
    EXPECT_EQ(c["suppressed"]["fatigue"].GetInt64(), 4);
    EXPECT_EQ(c["suppressed"]["rate"].GetInt64(), 0);
    EXPECT_EQ(keys(c["arms"]), (std::vector<std::string>{"control", "a", "b"}));
    EXPECT_EQ(c["arms"]["control"]["exposures"].GetInt64(), 310);
    EXPECT_EQ(c["arms"]["control"]["conversions"].GetInt64(), 40);
    EXPECT_EQ(c["arms"]["a"]["exposures"].GetInt64(), 612);
    EXPECT_EQ(c["arms"]["a"]["conversions"].GetInt64(), 101);
    EXPECT_EQ(c["arms"]["b"]["exposures"].GetInt64(), 622);
    EXPECT_EQ(c["arms"]["b"]["conversions"].GetInt64(), 88);

    const auto& days = c["days"];
    ASSERT_EQ(days.Size(), 2U);
    EXPECT_STREQ(days[0]["day"].GetString(), "2025-11-22");
    EXPECT_STREQ(days[1]["day"].GetString(), "2025-11-23");
    EXPECT_EQ(days[0]["triggers"].GetInt64(), 700);
    EXPECT_EQ(days[0]["shadow"].GetInt64(), 200);
    EXPECT_EQ(days[0]["players"].GetInt64(), 600);
    EXPECT_EQ(days[1]["players"].GetInt64(), 400);
    EXPECT_EQ(days[0]["suppressed"]["fatigue"].GetInt64(), 4);
    EXPECT_EQ(days[1]["suppressed"]["fatigue"].GetInt64(), 0);
    EXPECT_EQ(days[1]["arms"]["b"]["exposures"].GetInt64(), 272);
    EXPECT_EQ(days[1]["arms"]["control"]["conversions"].GetInt64(), 15);
}

// The interval, computed independently of the renderer.
struct interval {
    double rate, control_rate, diff, low, high;
};
interval expected(double x1, double n1, double x0, double n0) {
    const double p1 = x1 / n1;
    const double p0 = x0 / n0;
    const double half = 1.96 * std::sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0);
    return {p1, p0, p1 - p0, p1 - p0 - half, p1 - p0 + half};
}

void expect_uplift(const rapidjson::Value& u, const char* variant, interval want) {
    EXPECT_STREQ(u["variant"].GetString(), variant);
    EXPECT_NEAR(u["rate"].GetDouble(), want.rate, 1e-12);
    EXPECT_NEAR(u["control_rate"].GetDouble(), want.control_rate, 1e-12);
    EXPECT_NEAR(u["diff"].GetDouble(), want.diff, 1e-12);
    ASSERT_EQ(u["ci95"].Size(), 2U);
    EXPECT_NEAR(u["ci95"][0].GetDouble(), want.low, 1e-12);
    EXPECT_NEAR(u["ci95"][1].GetDouble(), want.high, 1e-12);
}

TEST(campaign_report, uplift_per_variant_against_control) {
    const auto doc = parse(render_campaign_report(experiment(), {described_33()}));
    const auto& uplift = campaign(doc, 0)["uplift"];
    ASSERT_EQ(uplift.Size(), 2U);
    expect_uplift(uplift[0], "a", expected(101, 612, 40, 310));
    expect_uplift(uplift[1], "b", expected(88, 622, 40, 310));
    // The issue's example numbers, to three places.
    EXPECT_NEAR(uplift[0]["rate"].GetDouble(), 0.165, 5e-4);
    EXPECT_NEAR(uplift[0]["control_rate"].GetDouble(), 0.129, 5e-4);
}

TEST(campaign_report, uplift_is_null_without_exposures_in_either_arm) {
    campaign_ledger ledger;
    ledger.day("7", nov22).arm("treatment") = {10, 2};  // control has no exposure yet
    ledger.day("8", nov22).arm("control") = {10, 2};    // treatment has none
    const std::vector<campaign_description> set{
        {.id = "7", .dry_run = false, .has_arms = true, .arms = {"control", "treatment"}},
        {.id = "8", .dry_run = false, .has_arms = true, .arms = {"control", "treatment"}},
    };
    const auto doc = parse(render_campaign_report(ledger, set));
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& u = campaign(doc, i)["uplift"];
        ASSERT_EQ(u.Size(), 1U);
        EXPECT_STREQ(u[0]["variant"].GetString(), "treatment");
        for (const char* field : {"rate", "control_rate", "diff", "ci95"}) {
            EXPECT_TRUE(u[0][field].IsNull()) << i << ' ' << field;
        }
    }
}

TEST(campaign_report, arms_only_when_the_campaign_has_them_and_uplift_only_with_control) {
    campaign_ledger ledger;
    ledger.day("plain", nov22).triggers = 3;
    ledger.day("goal-only", nov22).arm("treatment") = {4, 1};
    const std::vector<campaign_description> set{
        {.id = "plain", .dry_run = false, .has_arms = false, .arms = {}},
        {.id = "goal-only", .dry_run = false, .has_arms = true, .arms = {"treatment"}},
        {.id = "new", .dry_run = true, .has_arms = true, .arms = {"control", "a", "b"}},
    };
    const auto doc = parse(render_campaign_report(ledger, set));
    ASSERT_EQ(doc["campaigns"].Size(), 3U);
    const auto& plain = campaign(doc, 0);
    EXPECT_FALSE(plain.HasMember("arms"));
    EXPECT_FALSE(plain.HasMember("uplift"));
    EXPECT_FALSE(plain["days"][0].HasMember("arms"));
    const auto& goal_only = campaign(doc, 1);
    EXPECT_EQ(keys(goal_only["arms"]), std::vector<std::string>{"treatment"});
    EXPECT_FALSE(goal_only.HasMember("uplift"));
    // A campaign of the set with no counts yet: zeros, every arm listed, no days.
    const auto& fresh = campaign(doc, 2);
    EXPECT_STREQ(fresh["id"].GetString(), "new");
    EXPECT_TRUE(fresh["dry_run"].GetBool());
    EXPECT_EQ(fresh["triggers"].GetInt64(), 0);
    EXPECT_EQ(fresh["players"].GetInt64(), 0);
    EXPECT_EQ(keys(fresh["arms"]), (std::vector<std::string>{"control", "a", "b"}));
    EXPECT_EQ(fresh["arms"]["b"]["exposures"].GetInt64(), 0);
    EXPECT_EQ(fresh["uplift"].Size(), 2U);
    EXPECT_TRUE(fresh["uplift"][1]["rate"].IsNull());
    EXPECT_EQ(fresh["days"].Size(), 0U);
}

TEST(campaign_report, set_order_first_then_removed_campaigns_by_id) {
    campaign_ledger ledger;
    for (const char* id : {"b", "z", "a", "m"}) {
        ledger.day(id, nov22).triggers = 1;
    }
    ledger.day("gone-with-arms", nov22).arm("v2") = {5, 1};
    ledger.day("gone-with-arms", nov23).arm("control") = {5, 0};
    const std::vector<campaign_description> set{
        {.id = "z", .dry_run = false, .has_arms = false, .arms = {}},
        {.id = "b", .dry_run = false, .has_arms = false, .arms = {}},
        {.id = "new", .dry_run = false, .has_arms = false, .arms = {}},
    };
    const auto doc = parse(render_campaign_report(ledger, set));
    std::vector<std::string> order;
    for (const auto& c : doc["campaigns"].GetArray()) {
        order.emplace_back(c["id"].GetString());
    }
    EXPECT_EQ(order, (std::vector<std::string>{"z", "b", "new", "a", "gone-with-arms", "m"}));
    const auto& gone = campaign(doc, 4);
    EXPECT_FALSE(gone["dry_run"].GetBool());
    EXPECT_EQ(keys(gone["arms"]), (std::vector<std::string>{"control", "v2"}));
    // Both days list both arms.
    EXPECT_EQ(gone["days"][0]["arms"]["control"]["exposures"].GetInt64(), 0);
    EXPECT_EQ(gone["days"][1]["arms"]["v2"]["exposures"].GetInt64(), 0);
    ASSERT_EQ(gone["uplift"].Size(), 1U);
    expect_uplift(gone["uplift"][0], "v2", expected(1, 5, 0, 5));
    EXPECT_FALSE(campaign(doc, 3).HasMember("arms"));  // removed, no arm counts
}

TEST(campaign_report, arms_the_ledger_holds_beyond_the_described_ones_follow_them) {
    campaign_ledger ledger;
    ledger.day("33", nov22).arm("old") = {3, 1};
    const auto doc = parse(render_campaign_report(ledger, {described_33()}));
    EXPECT_EQ(keys(campaign(doc, 0)["arms"]), (std::vector<std::string>{"control", "a", "b", "old"}));
}

TEST(campaign_report, ids_are_strings_even_when_numeric_and_text_stays_valid_utf8) {
    campaign_ledger ledger;
    ledger.day("12", nov22).triggers = 2;
    ledger.day("bad\xff", nov22).triggers = 1;
    const auto doc = parse(render_campaign_report(ledger, {}));
    ASSERT_TRUE(campaign(doc, 0)["id"].IsString());
    EXPECT_STREQ(campaign(doc, 0)["id"].GetString(), "12");
    EXPECT_STREQ(campaign(doc, 1)["id"].GetString(), "bad\xEF\xBF\xBD");
}

TEST(campaign_report, totals_scope_leaves_out_days_and_uplift) {
    const auto doc = parse(render_campaign_report(experiment(), {described_33()}, rtcrm::campaign_report_scope::totals));
    const auto& c = campaign(doc, 0);
    EXPECT_EQ(keys(c), (std::vector<std::string>{"id", "dry_run", "triggers", "shadow", "players", "suppressed", "arms"}));
    EXPECT_EQ(c["triggers"].GetInt64(), 1234);
    EXPECT_EQ(c["arms"]["a"]["conversions"].GetInt64(), 101);
}

TEST(campaign_report, an_empty_ledger_and_set_give_an_empty_list) {
    EXPECT_EQ(render_campaign_report({}, {}), R"({"campaigns":[]})");
}

}  // namespace
