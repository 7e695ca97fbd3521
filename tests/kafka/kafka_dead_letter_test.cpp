// Dead letters on Kafka never pin a partition (kafka_sink.hpp): against librdkafka's
// mock cluster, a dead letter too large for the producer is cut to fit, one the broker
// refuses for its size is sent again smaller, one that cannot be delivered goes to the
// fallback file; each time the partition's committed offset moves past the bad message
// and a restart reads nothing again. A transient failure still nacks.
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>
#include <rtcrm/kafka/kafka_source.hpp>

#include "../support/test_components.hpp"
#include "mock_kafka.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using rtcrm::testing::committed_offsets;
using rtcrm::testing::consume;
using rtcrm::testing::echo_bolt;
using rtcrm::testing::eventually;
using rtcrm::testing::fight_json;
using rtcrm::testing::mock_kafka;
using rtcrm::testing::parse_json;
using rtcrm::testing::produce;
using rtcrm::testing::quick_group_properties;

namespace {

std::filesystem::path temp_file(std::string_view name) {
    auto path = std::filesystem::temp_directory_path() / fmt::format("rtcrm-{}-{}.ndjson", name, ::getpid());
    std::filesystem::remove(path);
    return path;
}

std::vector<std::string> lines_of(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

struct instance {
    rtcrm::kafka_source* source = nullptr;
    std::shared_ptr<rtcrm::kafka_sink> out;
    std::shared_ptr<rtcrm::kafka_sink> dead;
    std::unique_ptr<rtcrm::runtime> rt;
};

// Reads "raw" in `group`, echoes events to "out" and dead-letters to "dead" with `dead_options`.
instance make_instance(const std::string& brokers, const std::string& group, rtcrm::kafka_start start,
                       rtcrm::kafka_sink_options dead_options) {
    instance k;
    auto src = std::make_unique<rtcrm::kafka_source>(rtcrm::kafka_source_options{
        .brokers = brokers, .topic = "raw", .group = group, .start = start, .properties = quick_group_properties()});
    k.source = src.get();
    k.out = std::make_shared<rtcrm::kafka_sink>(rtcrm::kafka_sink_options{.brokers = brokers, .topic = "out"});
    dead_options.brokers = brokers;
    dead_options.topic = "dead";
    k.dead = std::make_shared<rtcrm::kafka_sink>(std::move(dead_options));
    rtcrm::topology t;
    t.add_source(std::move(src)).add_shard_bolt(echo_bolt::factory()).add_sink(rtcrm::stream::main, k.out)
        .add_sink(rtcrm::stream::dead_letter, k.dead).with_options({.shards = 1});
    k.rt = std::make_unique<rtcrm::runtime>(std::move(t));
    return k;
}

// A restart from the group's committed offsets reads no message.
void expect_nothing_read_again(const std::string& brokers, const std::string& group) {
    auto again = make_instance(brokers, group, rtcrm::kafka_start::committed, {});
    again.rt->start();
    ASSERT_TRUE(eventually([&] { return !again.source->status().assigned.empty(); }));
    std::this_thread::sleep_for(500ms);
    again.rt->stop();
    EXPECT_EQ(again.source->status().messages, 0U);
    EXPECT_EQ(again.out->stats().produced, 0U);
}

bool dead_letter_settled(const instance& k) {
    const auto s = k.dead->stats();
    return s.delivered + s.failed + s.fallback_written >= 1;
}

}  // namespace

TEST(kafka_dead_letters, a_message_too_large_for_the_dead_letter_producer_is_cut_to_fit_and_its_partition_moves_on) {
    mock_kafka kafka{{{"raw", 1}, {"out", 1}, {"dead", 1}}};
    const std::string huge =
        fmt::format(R"({{"id":"e-7-big","player_id":7,"type":"fight","pad":"{}"}})", std::string(1'500'000, 'x'));
    produce(kafka.bootstrap(), "raw", {{"7", fight_json(7, 0)}, {"7", huge}, {"7", fight_json(7, 1)}, {"7", fight_json(7, 2)}},
            0, {{"message.max.bytes", "4000000"}});
    const auto fallback = temp_file("too-large");
    {
        auto k = make_instance(kafka.bootstrap(), "g", rtcrm::kafka_start::earliest, {.fallback_path = fallback.string()});
        k.rt->start();
        ASSERT_TRUE(eventually([&] { return k.out->stats().delivered >= 3 && dead_letter_settled(k); }));
        k.rt->stop();
        EXPECT_EQ(k.dead->stats().failed, 0U);
        EXPECT_EQ(k.dead->stats().delivered, 1U);
        EXPECT_EQ(k.dead->stats().truncated, 1U);
        EXPECT_EQ(k.dead->stats().fallback_written, 0U);
        EXPECT_EQ(k.rt->stats().nacked, 0U);
    }
    EXPECT_EQ(committed_offsets(kafka.bootstrap(), "g", "raw", 1)[0], 4);  // past the huge message

    const auto dead = consume(kafka.bootstrap(), "dead", 1, 1, 30s);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_LE(dead[0].value.size(), 1'000'000U);  // librdkafka's default message.max.bytes
    EXPECT_EQ(dead[0].headers.at("rtcrm-reason"), "too_large");
    EXPECT_EQ(dead[0].headers.at("rtcrm-truncated"), "true");
    EXPECT_EQ(dead[0].headers.at("rtcrm-original-size"), std::to_string(huge.size()));
    const auto record = parse_json(dead[0].value);
    ASSERT_TRUE(record.IsObject()) << dead[0].value.substr(0, 200);
    EXPECT_EQ(std::string{record["reason"].GetString()}, "too_large");
    EXPECT_EQ(record["offset"].GetInt64(), 1);
    EXPECT_TRUE(record["truncated"].GetBool());
    EXPECT_EQ(record["original_size"].GetUint64(), huge.size());
    const std::string raw{record["raw"].GetString(), record["raw"].GetStringLength()};
    EXPECT_GT(raw.size(), 900'000U);  // cut to what fits, not to nothing
    EXPECT_LT(raw.size(), huge.size());
    EXPECT_EQ(huge.substr(0, raw.size()), raw);
    EXPECT_FALSE(std::filesystem::exists(fallback));

    expect_nothing_read_again(kafka.bootstrap(), "g");
    EXPECT_EQ(consume(kafka.bootstrap(), "out", 1, 4, 3s).size(), 3U);  // each trigger sent once
}

TEST(kafka_dead_letters, a_dead_letter_the_broker_refuses_for_its_size_is_sent_again_cut_smaller) {
    mock_kafka kafka{{{"raw", 1}, {"out", 1}, {"dead", 1}}};
    kafka.set_leader("dead", 0, 1);
    kafka.set_leader("out", 0, 2);
    kafka.set_leader("raw", 0, 3);
    const std::string bad = "{not json " + std::string(300'000, 'y');
    produce(kafka.bootstrap(), "raw", {{"7", bad}});
    kafka.fail_produce_requests(1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 1);  // the topic's limit is lower
    const auto fallback = temp_file("broker-size");
    {
        auto k = make_instance(kafka.bootstrap(), "g", rtcrm::kafka_start::earliest, {.fallback_path = fallback.string()});
        k.rt->start();
        ASSERT_TRUE(eventually([&] { return dead_letter_settled(k); }));
        k.rt->stop();
        EXPECT_EQ(k.dead->stats().delivered, 1U);
        EXPECT_EQ(k.dead->stats().truncated, 1U);
        EXPECT_EQ(k.dead->stats().failed, 0U);
    }
    EXPECT_EQ(committed_offsets(kafka.bootstrap(), "g", "raw", 1)[0], 1);
    const auto dead = consume(kafka.bootstrap(), "dead", 1, 1, 30s);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_LE(dead[0].value.size(), bad.size() / 2 + 1024);  // half the refused size at most
    EXPECT_EQ(dead[0].headers.at("rtcrm-truncated"), "true");
    const auto record = parse_json(dead[0].value);
    ASSERT_TRUE(record.IsObject());
    EXPECT_EQ(record["original_size"].GetUint64(), bad.size());
    EXPECT_EQ(std::string{record["reason"].GetString()}, "too_large");  // over max_event_size too
    EXPECT_FALSE(std::filesystem::exists(fallback));
}

TEST(kafka_dead_letters, an_undeliverable_dead_letter_goes_to_the_fallback_file_and_its_partition_moves_on) {
    mock_kafka kafka{{{"raw", 1}, {"out", 1}, {"dead", 1}}};
    kafka.set_leader("dead", 0, 1);
    kafka.set_leader("out", 0, 2);
    kafka.set_leader("raw", 0, 3);
    produce(kafka.bootstrap(), "raw", {{"7", "{not json"}, {"7", fight_json(7, 1)}});
    kafka.fail_produce_requests(1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 20);
    const auto fallback = temp_file("fallback");
    {
        auto k = make_instance(kafka.bootstrap(), "g", rtcrm::kafka_start::earliest, {.fallback_path = fallback.string()});
        k.rt->start();
        ASSERT_TRUE(eventually([&] { return k.out->stats().delivered >= 1 && dead_letter_settled(k); }));
        k.rt->stop();
        EXPECT_EQ(k.dead->stats().fallback_written, 1U);
        EXPECT_EQ(k.dead->stats().failed, 0U);
        EXPECT_EQ(k.rt->stats().nacked, 0U);
    }
    EXPECT_EQ(committed_offsets(kafka.bootstrap(), "g", "raw", 1)[0], 2);
    const auto lines = lines_of(fallback);
    ASSERT_EQ(lines.size(), 1U);
    const auto line = parse_json(lines[0]);
    ASSERT_TRUE(line.IsObject()) << lines[0];
    EXPECT_EQ(std::string{line["topic"].GetString()}, "dead");
    EXPECT_EQ(std::string{line["key"].GetString()}, "7");
    EXPECT_NE(std::string{line["error"].GetString()}.find("uthorization"), std::string::npos) << lines[0];
    EXPECT_GT(line["time_ms"].GetInt64(), 0);
    EXPECT_EQ(std::string{line["record"]["reason"].GetString()}, "parse_error");
    EXPECT_EQ(std::string{line["record"]["raw"].GetString()}, "{not json");
    EXPECT_EQ(line["record"]["offset"].GetInt64(), 0);

    expect_nothing_read_again(kafka.bootstrap(), "g");
    std::filesystem::remove(fallback);
}

TEST(kafka_dead_letters, a_transient_failure_still_nacks_so_the_event_is_read_again) {
    mock_kafka kafka{{{"raw", 1}, {"out", 1}, {"dead", 1}}};
    kafka.set_leader("dead", 0, 1);
    kafka.set_leader("out", 0, 2);
    kafka.set_leader("raw", 0, 3);
    produce(kafka.bootstrap(), "raw", {{"7", "{not json"}});
    kafka.fail_produce_requests(1, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 1000);  // librdkafka retries until its timeout
    const auto fallback = temp_file("transient");
    {
        auto k = make_instance(kafka.bootstrap(), "g", rtcrm::kafka_start::earliest,
                               {.properties = {{"message.timeout.ms", "1500"}, {"retry.backoff.ms", "20"}},
                                .fallback_path = fallback.string()});
        k.rt->start();
        ASSERT_TRUE(eventually([&] { return dead_letter_settled(k); }));
        k.rt->stop();
        EXPECT_EQ(k.dead->stats().failed, 1U);
        EXPECT_EQ(k.dead->stats().fallback_written, 0U);
        EXPECT_EQ(k.rt->stats().nacked, 1U);
    }
    EXPECT_LT(committed_offsets(kafka.bootstrap(), "g", "raw", 1)[0], 1);  // not past the message
    EXPECT_FALSE(std::filesystem::exists(fallback));
}

TEST(kafka_dead_letters, without_a_fallback_file_an_undeliverable_dead_letter_nacks) {
    mock_kafka kafka{{{"raw", 1}, {"out", 1}, {"dead", 1}}};
    kafka.set_leader("dead", 0, 1);
    kafka.set_leader("out", 0, 2);
    kafka.set_leader("raw", 0, 3);
    produce(kafka.bootstrap(), "raw", {{"7", "{not json"}});
    kafka.fail_produce_requests(1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 20);
    {
        auto k = make_instance(kafka.bootstrap(), "g", rtcrm::kafka_start::earliest, {.fallback_path = ""});
        k.rt->start();
        ASSERT_TRUE(eventually([&] { return dead_letter_settled(k); }));
        k.rt->stop();
        EXPECT_EQ(k.dead->stats().failed, 1U);
        EXPECT_EQ(k.dead->stats().fallback_written, 0U);
        EXPECT_EQ(k.rt->stats().nacked, 1U);
    }
    EXPECT_LT(committed_offsets(kafka.bootstrap(), "g", "raw", 1)[0], 1);
}
