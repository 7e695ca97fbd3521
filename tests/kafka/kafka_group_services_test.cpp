// The group-wide services on the mock cluster: handler scripts from a compacted topic,
// status messages on the maintenance topic, and a source that stays in its group while
// the pipeline is blocked.
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/kafka/handler_feed.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>
#include <rtcrm/kafka/kafka_source.hpp>
#include <rtcrm/kafka/maintenance_reporter.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include "../support/test_components.hpp"
#include "mock_kafka.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <condition_variable>
#include <functional>
#include <mutex>

using namespace std::chrono_literals;
using rtcrm::testing::consume;
using rtcrm::testing::eventually;
using rtcrm::testing::gate_sink;
using rtcrm::testing::mock_kafka;
using rtcrm::testing::produce;

namespace {


constexpr const char* counter_script = R"(crm.updater{ id = "count", on = "fight", fn = function(e, p) p:incr("n") end })";
constexpr const char* other_script = R"(crm.updater{ id = "logins", on = "login", fn = function(e, p) p:incr("l") end })";

// Loads a feed's set into a Lua engine, as rtcrm-topology does.
rtcrm::kafka_handler_feed::apply_fn into(rtcrm::lua_engine& engine) {
    return [&engine](const rtcrm::kafka_handler_feed::script_set& set) -> std::optional<std::string> {
        std::vector<rtcrm::lua_script> scripts;
        for (const auto& [name, source] : set) {
            scripts.push_back({name, source});
        }
        if (auto r = engine.load(std::move(scripts)); !r) {
            return r.error().reason;
        }
        return std::nullopt;
    };
}

std::vector<std::string> names(const rtcrm::lua_engine& engine) {
    std::vector<std::string> out;
    for (const auto& s : engine.scripts()) {
        out.push_back(s.name);
    }
    return out;
}

}  // namespace

TEST(kafka_handler_feed, every_instance_follows_the_topic_and_a_broken_script_is_refused) {
    mock_kafka kafka{{{"crm_handlers", 1}}};
    produce(kafka.bootstrap(), "crm_handlers", {{"count.lua", counter_script}, {"logins.lua", other_script}});

    // Two instances of the group, each with its own engine.
    rtcrm::lua_engine first{{}};
    rtcrm::lua_engine second{{}};
    std::mutex mutex;
    std::vector<std::string> refusals;
    auto refused = [&](const std::string& why) {
        std::lock_guard lock(mutex);
        refusals.push_back(why);
    };
    rtcrm::kafka_handler_feed feed1{{.brokers = kafka.bootstrap()}, into(first), refused};
    rtcrm::kafka_handler_feed feed2{{.brokers = kafka.bootstrap()}, into(second), refused};
    feed1.start();
    feed2.start();
    // start() returns with the topic's whole set loaded.
    EXPECT_EQ(names(first), (std::vector<std::string>{"count.lua", "logins.lua"}));
    EXPECT_EQ(names(second), names(first));
    EXPECT_EQ(feed1.digest(), feed2.digest());

    // A broken script is refused everywhere; the old set keeps running.
    const auto before = first.version();
    produce(kafka.bootstrap(), "crm_handlers", {{"count.lua", "crm.updater{ id = "}});
    ASSERT_TRUE(eventually([&] { return feed1.refused() == 1 && feed2.refused() == 1; }));
    EXPECT_EQ(first.version(), before);
    {
        std::lock_guard lock(mutex);
        ASSERT_EQ(refusals.size(), 2U);
        EXPECT_NE(refusals[0].find("count.lua:1:"), std::string::npos) << refusals[0];
    }

    // A fix and a delete (empty value) reach both instances.
    produce(kafka.bootstrap(), "crm_handlers", {{"count.lua", counter_script}, {"logins.lua", ""}});
    ASSERT_TRUE(eventually([&] { return names(first).size() == 1 && names(second).size() == 1; }));
    EXPECT_EQ(names(first), std::vector<std::string>{"count.lua"});
    EXPECT_EQ(feed1.digest(), feed2.digest());
    EXPECT_EQ(feed1.scripts().size(), 1U);
}

TEST(maintenance_reporter, status_and_events_reach_the_maintenance_topic) {
    mock_kafka kafka{{{"maintenance", 1}}};
    {
        rtcrm::maintenance_reporter reporter{
            {.brokers = kafka.bootstrap(), .instance_id = "crm-7", .interval = 100ms},
            [] { return rtcrm::maintenance_status{.assigned = {1, 3}, .lag = 5, .events_in = 42, .handlers_digest = "abc"}; }};
        reporter.report("handler_refused", {{"error", "x.lua:1: unexpected symbol"}});
        ASSERT_TRUE(eventually([&] { return reporter.delivered() >= 3; }));
    }
    const auto got = consume(kafka.bootstrap(), "maintenance", 1, 3, 30s);
    ASSERT_GE(got.size(), 3U);
    bool saw_status = false;
    bool saw_refusal = false;
    for (const auto& m : got) {
        EXPECT_EQ(m.key, "crm-7");
        rapidjson::Document d;
        d.Parse(m.value.c_str());
        ASSERT_TRUE(d.IsObject()) << m.value;
        EXPECT_EQ(std::string{d["instance"].GetString()}, "crm-7");
        const std::string kind = d["kind"].GetString();
        if (kind == "status") {
            saw_status = true;
            EXPECT_EQ(d["assigned"].Size(), 2U);
            EXPECT_EQ(d["lag"].GetInt64(), 5);
            EXPECT_EQ(d["events_in"].GetUint64(), 42U);
            EXPECT_EQ(std::string{d["handlers"]["digest"].GetString()}, "abc");
            EXPECT_TRUE(d["errors"].HasMember("dead_lettered"));
        } else if (kind == "handler_refused") {
            saw_refusal = true;
            EXPECT_EQ(std::string{d["error"].GetString()}, "x.lua:1: unexpected symbol");
        }
    }
    EXPECT_TRUE(saw_status);
    EXPECT_TRUE(saw_refusal);
}


TEST(kafka_source, a_blocked_pipeline_pauses_the_partitions_and_keeps_the_group_membership) {
    mock_kafka kafka{{{"raw", 4}}};
    std::vector<std::pair<std::string, std::string>> events;
    for (int i = 0; i < 20'000; ++i) {
        events.emplace_back(std::to_string(i % 50), rtcrm::testing::fight_json(i % 50, i));
    }
    produce(kafka.bootstrap(), "raw", events);

    auto gate = std::make_shared<gate_sink>();
    // Past max.poll.interval.ms without a poll, librdkafka would leave the group.
    auto source = std::make_unique<rtcrm::kafka_source>(rtcrm::kafka_source_options{
        .brokers = kafka.bootstrap(), .topic = "raw", .group = "slow", .start = rtcrm::kafka_start::earliest,
        .properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}, {"max.poll.interval.ms", "7000"}}});
    auto* src = source.get();
    rtcrm::topology t;
    t.add_source(std::move(source)).add_shard_bolt(rtcrm::testing::echo_bolt::factory()).add_sink(rtcrm::stream::main, gate)
        .with_options({.shards = 2, .batch_size = 64, .queue_batches = 4});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    ASSERT_TRUE(eventually([&] { return src->status().paused; }));
    const auto rebalances = src->status().rebalances;
    std::this_thread::sleep_for(9s);  // longer than max.poll.interval.ms
    EXPECT_TRUE(src->status().paused);
    EXPECT_EQ(src->status().rebalances, rebalances) << "the source left or lost its group while paused";
    EXPECT_EQ(src->status().assigned.size(), 4U);
    EXPECT_LT(rt.stats().events_in, 20'000U);  // bounded: the rest waits in Kafka

    gate->open();
    ASSERT_TRUE(eventually([&] { return gate->received() >= 20'000; }, 60s)) << rt.stats().summary();
    rt.stop();
    EXPECT_EQ(rt.stats().processed, 20'000U);  // nothing lost or doubled across the pause
    EXPECT_EQ(gate->received(), 20'000U);
}
