// The Kafka path against librdkafka's mock cluster (real protocol on loopback): events
// from a topic through the runtime to a topic, dead letters, a consumer-group hand-off,
// and replay from a timestamp.
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>
#include <rtcrm/kafka/kafka_source.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include "../support/test_components.hpp"
#include "mock_kafka.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using rtcrm::testing::consume;
using rtcrm::testing::echo_bolt;
using rtcrm::testing::eventually;
using rtcrm::testing::fight_json;
using rtcrm::testing::mock_kafka;
using rtcrm::testing::parse_json;
using rtcrm::testing::produce;
using rtcrm::testing::quick_group_properties;

namespace {

struct kafka_instance {
    rtcrm::kafka_source* source = nullptr;
    std::shared_ptr<rtcrm::kafka_sink> out;
    std::unique_ptr<rtcrm::runtime> rt;
};

// A runtime reading `in` in `group` and echoing each event to `out` (test_components' echo bolt).
kafka_instance echo_instance(const std::string& brokers, const std::string& in, const std::string& out, const std::string& group,
                             rtcrm::kafka_start start = rtcrm::kafka_start::earliest, std::int64_t start_ts = 0) {
    kafka_instance k;
    auto src = std::make_unique<rtcrm::kafka_source>(rtcrm::kafka_source_options{
        .brokers = brokers, .topic = in, .group = group, .start = start, .start_timestamp_ms = start_ts,
        .properties = quick_group_properties()});
    k.source = src.get();
    k.out = std::make_shared<rtcrm::kafka_sink>(rtcrm::kafka_sink_options{.brokers = brokers, .topic = out});
    rtcrm::topology t;
    t.add_source(std::move(src)).add_shard_bolt(echo_bolt::factory()).add_sink(rtcrm::stream::main, k.out)
        .with_options({.shards = 2});
    k.rt = std::make_unique<rtcrm::runtime>(std::move(t));
    return k;
}

}  // namespace

TEST(kafka_pipeline, events_on_raw_come_out_as_the_right_triggers_on_crm_trigger) {
    mock_kafka kafka{{{"raw", 16}, {"crm_trigger", 8}, {"crm_dead_letter", 1}}};
    constexpr int players = 200;
    std::vector<std::pair<std::string, std::string>> events;
    for (int seq = 0; seq < 3; ++seq) {  // three losses in a row for every player
        for (int p = 1; p <= players; ++p) {
            events.emplace_back(std::to_string(p), fight_json(p, seq));
        }
    }
    produce(kafka.bootstrap(), "raw", events);

    auto engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = RTCRM_SOURCE_DIR "/lua/examples"});
    auto triggers = std::make_shared<rtcrm::kafka_sink>(rtcrm::kafka_sink_options{.brokers = kafka.bootstrap(), .topic = "crm_trigger"});
    auto source = std::make_unique<rtcrm::kafka_source>(rtcrm::kafka_source_options{
        .brokers = kafka.bootstrap(), .topic = "raw", .group = "crm", .properties = quick_group_properties()});
    auto* src = source.get();
    rtcrm::topology t;
    t.add_source(std::move(source)).add_shard_bolt(engine->make_bolt_factory()).add_sink(rtcrm::stream::main, triggers)
        .with_options({.shards = 2});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    ASSERT_TRUE(eventually([&] { return triggers->stats().delivered >= players; })) << rt.stats().summary();
    rt.stop();
    EXPECT_EQ(rt.stats().processed, 3U * players);
    EXPECT_EQ(src->status().messages, 3U * players);
    EXPECT_EQ(triggers->stats().failed, 0U);

    const auto out = consume(kafka.bootstrap(), "crm_trigger", 8, players, 30s);
    ASSERT_EQ(out.size(), static_cast<std::size_t>(players));
    std::set<std::string> keys;
    for (const auto& m : out) {
        const auto doc = parse_json(m.value);
        ASSERT_TRUE(doc.IsObject()) << m.value;
        EXPECT_EQ(doc["campaign_id"].GetInt(), 3);
        EXPECT_EQ(std::to_string(doc["player_id"].GetInt64()), m.key);  // keyed by player
        EXPECT_EQ(std::string{doc["event_id"].GetString()}, fmt::format("e-{}-2", m.key));  // the third loss fired it
        EXPECT_EQ(std::string{doc["trigger_id"].GetString()}, fmt::format("3:{}:e:e-{}-2", m.key, m.key));
        EXPECT_EQ(m.headers.at("rtcrm-trigger-id"), doc["trigger_id"].GetString());
        keys.insert(m.key);
    }
    EXPECT_EQ(keys.size(), static_cast<std::size_t>(players));

    // Everything was committed: the group's next member starts at the end.
    auto again = echo_instance(kafka.bootstrap(), "raw", "unused", "crm", rtcrm::kafka_start::committed);
    again.rt->start();
    ASSERT_TRUE(eventually([&] { return !again.source->status().assigned.empty(); }));
    std::this_thread::sleep_for(500ms);
    again.rt->stop();
    EXPECT_EQ(again.source->status().messages, 0U);
}

TEST(kafka_pipeline, events_read_again_emit_their_triggers_again_with_the_same_ids) {
    mock_kafka kafka{{{"raw", 4}, {"out", 2}}};
    constexpr int players = 30;
    std::vector<std::pair<std::string, std::string>> events;
    for (int p = 1; p <= players; ++p) {  // no event ids: the triggers are named by Kafka positions
        events.emplace_back(std::to_string(p), fmt::format(R"({{"player_id":{},"type":"x","ts":{}}})", p, 1000 + p));
    }
    produce(kafka.bootstrap(), "raw", events);

    // Two groups read the same records: what a crash before the commit makes one group do.
    auto run_group = [&](const std::string& group) {
        auto engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{});
        const auto loaded = engine->load({{"c.lua", R"(crm.campaign{ id = 7, on = "x" })"}});
        ASSERT_TRUE(loaded) << loaded.error().reason;
        auto out = std::make_shared<rtcrm::kafka_sink>(rtcrm::kafka_sink_options{.brokers = kafka.bootstrap(), .topic = "out"});
        rtcrm::topology t;
        t.add_source(std::make_unique<rtcrm::kafka_source>(rtcrm::kafka_source_options{
                         .brokers = kafka.bootstrap(), .topic = "raw", .group = group,
                         .start = rtcrm::kafka_start::earliest, .properties = quick_group_properties()}))
            .add_shard_bolt(engine->make_bolt_factory())
            .add_sink(rtcrm::stream::main, out)
            .with_options({.shards = 2});
        rtcrm::runtime rt{std::move(t)};
        rt.start();
        ASSERT_TRUE(eventually([&] { return out->stats().delivered >= players; })) << rt.stats().summary();
        rt.stop();
    };
    run_group("first");
    run_group("again");

    const auto out = consume(kafka.bootstrap(), "out", 2, 2 * players, 30s);
    ASSERT_EQ(out.size(), 2U * players);
    std::map<std::string, int> seen;
    for (const auto& m : out) {
        const auto doc = parse_json(m.value);
        ASSERT_TRUE(doc.IsObject()) << m.value;
        const std::string id = doc["trigger_id"].GetString();
        EXPECT_EQ(m.headers.at("rtcrm-trigger-id"), id);
        EXPECT_TRUE(id.starts_with(fmt::format("7:{}:o:0:", m.key))) << id;  // first source, its partition and offset
        ++seen[id];
    }
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(players));  // deduplicated on the id: one trigger per event
    for (const auto& [id, times] : seen) {
        EXPECT_EQ(times, 2) << id;
    }
}

TEST(kafka_pipeline, a_malformed_message_goes_to_the_dead_letter_topic_with_its_reason_and_the_partition_flows) {
    mock_kafka kafka{{{"raw", 1}, {"out", 1}, {"dead", 1}}};
    produce(kafka.bootstrap(), "raw", {{"7", fight_json(7, 0)}, {"7", "{not json"}, {"7", fight_json(7, 1)}});

    auto out = std::make_shared<rtcrm::kafka_sink>(rtcrm::kafka_sink_options{.brokers = kafka.bootstrap(), .topic = "out"});
    auto dead = std::make_shared<rtcrm::kafka_sink>(rtcrm::kafka_sink_options{.brokers = kafka.bootstrap(), .topic = "dead"});
    auto src = std::make_unique<rtcrm::kafka_source>(rtcrm::kafka_source_options{
        .brokers = kafka.bootstrap(), .topic = "raw", .group = "g", .start = rtcrm::kafka_start::earliest,
        .properties = quick_group_properties()});
    rtcrm::topology t;
    t.add_source(std::move(src)).add_shard_bolt(echo_bolt::factory()).add_sink(rtcrm::stream::main, out)
        .add_sink(rtcrm::stream::dead_letter, dead).with_options({.shards = 1});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    ASSERT_TRUE(eventually([&] { return out->stats().delivered >= 2 && dead->stats().delivered >= 1; }));
    rt.stop();

    const auto good = consume(kafka.bootstrap(), "out", 1, 2, 30s);
    ASSERT_EQ(good.size(), 2U);
    EXPECT_EQ(parse_json(good[0].value)["seq"].GetInt(), 0);
    EXPECT_EQ(parse_json(good[1].value)["seq"].GetInt(), 1);  // the event after the bad one flowed
    const auto bad = consume(kafka.bootstrap(), "dead", 1, 1, 30s);
    ASSERT_EQ(bad.size(), 1U);
    EXPECT_EQ(bad[0].headers.at("rtcrm-reason"), "parse_error");
    const auto record = parse_json(bad[0].value);
    EXPECT_EQ(std::string{record["reason"].GetString()}, "parse_error");
    EXPECT_EQ(std::string{record["raw"].GetString()}, "{not json");
    EXPECT_EQ(record["offset"].GetInt64(), 1);
}

TEST(kafka_pipeline, a_binary_message_key_is_not_the_player_key_and_the_key_field_names_the_player) {
    mock_kafka kafka{{{"raw", 1}, {"out", 1}}};
    const std::string binary_key("\x00\x00\x00\x2a\xff", 5);
    produce(kafka.bootstrap(), "raw", {{binary_key, fight_json(42, 0)}, {"7", fight_json(42, 1)}});
    auto k = echo_instance(kafka.bootstrap(), "raw", "out", "g");
    k.rt->start();
    ASSERT_TRUE(eventually([&] { return k.out->stats().delivered >= 2; }));
    k.rt->stop();
    EXPECT_EQ(k.source->status().unused_keys, 1U);
    const auto out = consume(kafka.bootstrap(), "out", 1, 2, 30s);
    ASSERT_EQ(out.size(), 2U);
    std::map<int, std::string> key_by_seq;  // outputs are keyed by the event's player
    for (const auto& m : out) {
        key_by_seq[parse_json(m.value)["seq"].GetInt()] = m.key;
    }
    EXPECT_EQ(key_by_seq[0], "42");  // the binary key was not used: the player_id field was
    EXPECT_EQ(key_by_seq[1], "7");   // a text key wins over the field
}

TEST(kafka_pipeline, two_instances_share_the_partitions_and_hand_over_without_loss_or_reordering) {
    mock_kafka kafka{{{"raw", 16}, {"out", 16}}};
    constexpr int players = 100;
    constexpr int per_player = 60;
    // Produce while the instances run: 100 events every ~100 ms.
    std::atomic<bool> produced{false};
    std::thread producer([&] {
        for (int seq = 0; seq < per_player; ++seq) {
            std::vector<std::pair<std::string, std::string>> batch;
            for (int p = 1; p <= players; ++p) {
                batch.emplace_back(std::to_string(p), fight_json(p, seq));
            }
            produce(kafka.bootstrap(), "raw", batch);
            std::this_thread::sleep_for(100ms);
        }
        produced = true;
    });

    // Committed offsets, as a group member does (`earliest` would re-read every partition
    // the first time this process is assigned it).
    auto a = echo_instance(kafka.bootstrap(), "raw", "out", "crm", rtcrm::kafka_start::committed);
    auto b = echo_instance(kafka.bootstrap(), "raw", "out", "crm", rtcrm::kafka_start::committed);
    a.rt->start();
    ASSERT_TRUE(eventually([&] { return !a.source->status().assigned.empty(); }));
    b.rt->start();
    // The group splits the 16 partitions between the two.
    ASSERT_TRUE(eventually([&] {
        const auto sa = a.source->status().assigned.size();
        const auto sb = b.source->status().assigned.size();
        return sa > 0 && sb > 0 && sa + sb == 16;
    }));
    // A leaves in the middle of the stream: B takes all the partitions.
    a.rt->stop();
    ASSERT_TRUE(eventually([&] { return b.source->status().assigned.size() == 16; }));
    producer.join();
    const auto total = static_cast<std::size_t>(players * per_player);
    ASSERT_TRUE(eventually([&] { return a.out->stats().delivered + b.out->stats().delivered >= total; }));
    std::this_thread::sleep_for(500ms);  // duplicates, if any, arrive too
    b.rt->stop();

    const auto delivered = a.out->stats().delivered + b.out->stats().delivered;
    const auto out = consume(kafka.bootstrap(), "out", 16, delivered, 60s);
    ASSERT_EQ(out.size(), delivered);
    std::map<std::int64_t, std::vector<int>> seqs;  // per player, in the order of the out topic
    for (const auto& m : out) {
        const auto doc = parse_json(m.value);
        seqs[doc["player_id"].GetInt64()].push_back(doc["seq"].GetInt());
    }
    ASSERT_EQ(seqs.size(), static_cast<std::size_t>(players));
    std::size_t duplicates = 0;
    for (const auto& [player, got] : seqs) {
        // No loss, and in order: the first time each seq appears, it is the next one. A
        // redelivered event may repeat an earlier seq (at-least-once), never skip ahead.
        int next = 0;
        for (int seq : got) {
            if (seq == next) {
                ++next;
            } else {
                ASSERT_LT(seq, next) << "player " << player << " skipped from " << next << " to " << seq;
                ++duplicates;
            }
        }
        EXPECT_EQ(next, per_player) << "player " << player;
    }
    // A clean hand-off commits what is safe before giving partitions up, but the mock
    // cluster refuses commits while the group rebalances (a real broker takes them from
    // the current generation), so here the new owner may re-read from an older commit:
    // duplicates are reported, not bounded.
    RecordProperty("duplicates", static_cast<int>(duplicates));
    std::printf("hand-off: %zu events, %zu read twice; commits refused: %llu\n", total, duplicates,
                static_cast<unsigned long long>(a.source->status().commit_failures + b.source->status().commit_failures));
}

TEST(kafka_pipeline, replay_from_a_timestamp_processes_exactly_the_events_at_or_after_it) {
    mock_kafka kafka{{{"raw", 4}, {"out", 4}}};
    constexpr std::int64_t before = 1'700'000'000'000;
    constexpr std::int64_t from = 1'700'000'600'000;
    std::vector<std::pair<std::string, std::string>> old_events;
    std::vector<std::pair<std::string, std::string>> new_events;
    for (int i = 0; i < 100; ++i) {
        old_events.emplace_back(std::to_string(i % 10), fight_json(i % 10, i));
    }
    for (int i = 100; i < 150; ++i) {
        new_events.emplace_back(std::to_string(i % 10), fight_json(i % 10, i));
    }
    produce(kafka.bootstrap(), "raw", old_events, before);
    produce(kafka.bootstrap(), "raw", new_events, from);
    produce(kafka.bootstrap(), "raw", {{"3", fight_json(3, 150)}}, from + 1);

    auto k = echo_instance(kafka.bootstrap(), "raw", "out", "replay", rtcrm::kafka_start::timestamp, from);
    k.rt->start();
    ASSERT_TRUE(eventually([&] { return k.out->stats().delivered >= 51; }));
    std::this_thread::sleep_for(300ms);
    k.rt->stop();
    EXPECT_EQ(k.rt->stats().processed, 51U);
    const auto out = consume(kafka.bootstrap(), "out", 4, 51, 30s);
    ASSERT_EQ(out.size(), 51U);
    std::set<int> seen;
    for (const auto& m : out) {
        seen.insert(parse_json(m.value)["seq"].GetInt());
    }
    EXPECT_EQ(seen.size(), 51U);
    EXPECT_EQ(*seen.begin(), 100);
    EXPECT_EQ(*seen.rbegin(), 150);
}

TEST(kafka_start, parses_names_milliseconds_and_iso_8601) {
    rtcrm::kafka_start start{};
    std::int64_t ts = 0;
    rtcrm::parse_kafka_start("latest", start, ts);
    EXPECT_EQ(start, rtcrm::kafka_start::latest);
    rtcrm::parse_kafka_start("1763800000000", start, ts);
    EXPECT_EQ(start, rtcrm::kafka_start::timestamp);
    EXPECT_EQ(ts, 1'763'800'000'000);
    rtcrm::parse_kafka_start("2025-11-22T08:26:40.5Z", start, ts);
    EXPECT_EQ(ts, 1'763'800'000'500);
    EXPECT_THROW(rtcrm::parse_kafka_start("yesterday", start, ts), rtcrm::error);
    EXPECT_THROW(rtcrm::parse_kafka_start("2025-11-22T08:26:40", start, ts), rtcrm::error);  // no zone
    using namespace std::string_view_literals;
    EXPECT_THROW(rtcrm::parse_kafka_start("2025-11-22T08:26:40Z\0junk"sv, start, ts), rtcrm::error);
}

TEST(kafka_properties, secrets_are_masked_and_bad_pairs_refused) {
    rtcrm::kafka_properties props;
    rtcrm::set_property(props, "sasl.password=hunter2");
    rtcrm::set_property(props, "linger.ms=20");
    rtcrm::set_property(props, "ssl.key.password=abc=def");
    EXPECT_EQ(props.at("ssl.key.password"), "abc=def");
    const auto text = rtcrm::describe(props);
    EXPECT_EQ(text.find("hunter2"), std::string::npos);
    EXPECT_EQ(text.find("abc"), std::string::npos);
    EXPECT_NE(text.find("linger.ms=20"), std::string::npos);
    EXPECT_THROW(rtcrm::set_property(props, "novalue"), rtcrm::error);
    EXPECT_THROW(rtcrm::set_property(props, "=x"), rtcrm::error);
    // librdkafka refuses an unknown property, and the error masks a secret's value.
    try {
        rtcrm::kafka_sink sink{{.brokers = "127.0.0.1:1", .topic = "t", .properties = {{"sasl.password.bogus", "s3cret"}}}};
        FAIL() << "an unknown property was accepted";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(std::string{e.what()}.find("s3cret"), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find("sasl.password.bogus"), std::string::npos) << e.what();
    }
}
