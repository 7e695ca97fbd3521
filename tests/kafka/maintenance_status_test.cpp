// The status message's JSON, without a broker: its fields and the campaign totals it carries.
#include "kafka/status_message.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

namespace {

rapidjson::Document parse(const std::string& text) {
    rapidjson::Document doc;
    doc.Parse(text.c_str(), text.size());
    EXPECT_FALSE(doc.HasParseError()) << text;
    return doc;
}

constexpr std::string_view report =
    R"({"campaigns":[{"id":"33","dry_run":false,"triggers":12,"shadow":3,"players":9,)"
    R"("suppressed":{"kill_switch":0,"cap":2,"fatigue":1,"rate":0,"quiet_hours":0,"schedule":0,"dry_run":0},)"
    R"("arms":{"control":{"exposures":3,"conversions":1},"a":{"exposures":12,"conversions":4}}},)"
    R"({"id":"7","dry_run":true,"triggers":0,"shadow":5,"players":5,)"
    R"("suppressed":{"kill_switch":0,"cap":0,"fatigue":0,"rate":0,"quiet_hours":0,"schedule":0,"dry_run":5}}]})";

TEST(maintenance_status, carries_the_counters_and_each_campaigns_totals) {
    const rtcrm::maintenance_status s{.assigned = {0, 2}, .lag = 4, .events_in = 100, .processed = 90, .dead_lettered = 1,
                                      .handlers_version = 3, .handlers_digest = "abc", .campaigns = std::string{report}};
    const auto doc = parse(rtcrm::detail::kafka::status_message(s, "crm-1", 1'763'800'000'000, 12.5));
    EXPECT_STREQ(doc["kind"].GetString(), "status");
    EXPECT_STREQ(doc["instance"].GetString(), "crm-1");
    EXPECT_EQ(doc["ts"].GetInt64(), 1'763'800'000'000);
    EXPECT_EQ(doc["assigned"].Size(), 2U);
    EXPECT_EQ(doc["lag"].GetInt64(), 4);
    EXPECT_EQ(doc["events_in"].GetUint64(), 100U);
    EXPECT_DOUBLE_EQ(doc["events_per_s"].GetDouble(), 12.5);
    EXPECT_EQ(doc["errors"]["dead_lettered"].GetUint64(), 1U);
    EXPECT_EQ(doc["handlers"]["version"].GetUint64(), 3U);
    ASSERT_TRUE(doc["campaigns"].IsArray());
    ASSERT_EQ(doc["campaigns"].Size(), 2U);
    const auto& c = doc["campaigns"][0];
    EXPECT_STREQ(c["id"].GetString(), "33");
    EXPECT_EQ(c["triggers"].GetInt64(), 12);
    EXPECT_EQ(c["players"].GetInt64(), 9);
    EXPECT_EQ(c["suppressed"]["fatigue"].GetInt64(), 1);
    EXPECT_EQ(c["arms"]["a"]["conversions"].GetInt64(), 4);
    EXPECT_EQ(doc["campaigns"][1]["suppressed"]["dry_run"].GetInt64(), 5);
    EXPECT_FALSE(doc["campaigns"][1].HasMember("arms"));
}

TEST(maintenance_status, without_a_report_there_is_no_campaigns_member) {
    const auto doc = parse(rtcrm::detail::kafka::status_message({}, "crm-1", 1, 0));
    EXPECT_FALSE(doc.HasMember("campaigns"));
    EXPECT_EQ(doc["lag"].GetInt64(), -1);
}

TEST(maintenance_status, a_report_that_is_not_one_leaves_the_message_valid) {
    const rtcrm::maintenance_status s{.campaigns = R"({"campaigns":[)"};
    const auto doc = parse(rtcrm::detail::kafka::status_message(s, "crm-1", 1, 0));
    ASSERT_TRUE(doc["campaigns"].IsArray());
    EXPECT_EQ(doc["campaigns"].Size(), 0U);
}

}  // namespace
