#include <rtcrm/config/topology_flags.hpp>
#include <rtcrm/core/error.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;

const rtcrm::topology_flag& flag(std::string_view name) {
    const auto& all = rtcrm::topology_flags();
    const auto f = std::find_if(all.begin(), all.end(), [&](const rtcrm::topology_flag& x) { return x.name == name; });
    if (f == all.end()) {
        throw std::invalid_argument(std::string{name});
    }
    return *f;
}

// The message a flag's value is refused with, or "".
std::string refusal(std::string_view name, const rtcrm::topology_flag_value& value) {
    rtcrm::topology_config c;
    try {
        flag(name).set(c, value);
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
        return e.what();
    }
    return "";
}

TEST(topology_flags, are_the_flags_rtcrm_topology_has_always_had) {
    std::set<std::string> names;
    for (const auto& f : rtcrm::topology_flags()) {
        EXPECT_TRUE(names.insert(f.name).second) << "twice: " << f.name;
        EXPECT_TRUE(f.json_path.starts_with("$.")) << f.name;
        EXPECT_FALSE(f.help.empty()) << f.name;
        EXPECT_FALSE(f.section.empty()) << f.name;
    }
    EXPECT_EQ(names, (std::set<std::string>{",X",
                                            "admin",
                                            "admin-token-file",
                                            "archive",
                                            "archive-flush-interval",
                                            "archive-keep",
                                            "archive-sync",
                                            "brokers",
                                            "cache-max-profiles",
                                            "cassandra-consistency",
                                            "cassandra-hosts",
                                            "cassandra-username",
                                            "dead-letter",
                                            "dead-letter-fallback",
                                            "dead-letter-topic",
                                            "drain-timeout",
                                            "events",
                                            "from",
                                            "group",
                                            "handlers-topic",
                                            "history-ttl",
                                            "http-queue",
                                            "idle-partition-ms",
                                            "input",
                                            "instance-id",
                                            "key-field",
                                            "keyspace",
                                            "listen",
                                            "maintenance-interval-ms",
                                            "maintenance-topic",
                                            "max-event-age",
                                            "max-event-lead",
                                            "max-event-size",
                                            "output",
                                            "players",
                                            "profile-ttl",
                                            "rate",
                                            "reject-unknown-types",
                                            "report",
                                            "revoke-timeout-ms",
                                            "scenario",
                                            "schemas",
                                            "scripts",
                                            "seed",
                                            "shadow",
                                            "shard-policy",
                                            "shard-priority",
                                            "shards",
                                            "shutdown-grace",
                                            "sink",
                                            "source",
                                            "start",
                                            "store",
                                            "store-no-sync",
                                            "store-path",
                                            "stuck-after",
                                            "timer-clock",
                                            "timer-lateness",
                                            "to",
                                            "topic",
                                            "trigger-topic",
                                            "ttl-sweep-interval",
                                            "watch",
                                            "webhook-one-by-one",
                                            "webhook-url"}));
}

TEST(topology_flags, show_the_values_of_a_configuration_as_their_defaults) {
    const rtcrm::topology_config c;
    EXPECT_EQ(flag("events").get(c), rtcrm::topology_flag_value{std::uint64_t{100'000}});
    EXPECT_EQ(flag("shards").get(c), rtcrm::topology_flag_value{std::uint32_t{0}});
    EXPECT_EQ(flag("rate").get(c), rtcrm::topology_flag_value{0.0});
    EXPECT_EQ(flag("source").get(c), rtcrm::topology_flag_value{"generator"});
    EXPECT_EQ(flag("drain-timeout").get(c), rtcrm::topology_flag_value{"30s"});
    EXPECT_EQ(flag("ttl-sweep-interval").get(c), rtcrm::topology_flag_value{"60s"});
    EXPECT_EQ(flag("revoke-timeout-ms").get(c), rtcrm::topology_flag_value{std::uint64_t{5000}});
    EXPECT_EQ(flag("store-no-sync").get(c), rtcrm::topology_flag_value{false});
    EXPECT_EQ(flag(",X").get(c), rtcrm::topology_flag_value{std::vector<std::string>{}});
    // Strings empty by default show no default while they are empty.
    EXPECT_TRUE(flag("profile-ttl").hides_empty);
    EXPECT_TRUE(flag("store-path").hides_empty);
    EXPECT_TRUE(flag("dead-letter-topic").hides_empty);
    EXPECT_FALSE(flag("maintenance-topic").hides_empty);
    EXPECT_FALSE(flag("admin").hides_empty);
    const rtcrm::topology_config other{.drain_timeout = 90s, .store = {.profile_ttl = 24h * 7}};
    EXPECT_EQ(flag("drain-timeout").get(other), rtcrm::topology_flag_value{"90s"});
    EXPECT_EQ(flag("profile-ttl").get(other), rtcrm::topology_flag_value{"7d"});
}

TEST(topology_flags, set_their_settings) {
    rtcrm::topology_config c;
    flag("events").set(c, std::uint64_t{1000});
    flag("source").set(c, std::string{"kafka"});
    flag("drain-timeout").set(c, std::string{"1m"});
    flag("profile-ttl").set(c, std::string{"30d"});
    flag("store-no-sync").set(c, true);
    flag("revoke-timeout-ms").set(c, std::uint64_t{250});
    flag(",X").set(c, std::vector<std::string>{"a=1"});
    flag(",X").set(c, std::vector<std::string>{"b=2", "a=3"});
    EXPECT_EQ(c.source.generator.events, 1000U);
    EXPECT_EQ(c.source.kind, rtcrm::source_kind::kafka);
    EXPECT_EQ(c.drain_timeout, 60s);
    EXPECT_EQ(c.store.profile_ttl, 24h * 30);
    EXPECT_FALSE(c.store.sync);
    EXPECT_EQ(c.source.kafka.revoke_timeout, 250ms);
    EXPECT_EQ(c.kafka.properties, (std::vector<std::string>{"a=1", "b=2", "a=3"}));
    flag("profile-ttl").set(c, std::string{});
    EXPECT_EQ(c.store.profile_ttl, std::nullopt);
}

TEST(topology_flags, a_dead_letter_topic_chooses_kafka_and_an_empty_one_ndjson) {
    rtcrm::topology_config c;
    flag("dead-letter-topic").set(c, std::string{"dlq"});
    EXPECT_EQ(c.sinks.dead_letters.kind, rtcrm::dead_letter_sink_kind::kafka);
    EXPECT_EQ(c.sinks.dead_letters.kafka.topic, "dlq");
    EXPECT_EQ(flag("dead-letter-topic").get(c), rtcrm::topology_flag_value{"dlq"});
    flag("dead-letter-topic").set(c, std::string{});
    EXPECT_EQ(c.sinks.dead_letters.kind, rtcrm::dead_letter_sink_kind::ndjson);
    EXPECT_EQ(flag("dead-letter-topic").get(c), rtcrm::topology_flag_value{""});
}

TEST(topology_flags, the_dead_letter_fallback_file_has_a_default_and_a_flag) {
    rtcrm::topology_config c;
    EXPECT_EQ(c.sinks.dead_letters.kafka.fallback_path, "rtcrm-dead-letter-fallback.ndjson");
    EXPECT_EQ(flag("dead-letter-fallback").json_path, "$.sinks.dead_letters.fallback_path");
    flag("dead-letter-fallback").set(c, std::string{"/var/lib/crm/dlq-fallback.ndjson"});
    EXPECT_EQ(c.sinks.dead_letters.kafka.fallback_path, "/var/lib/crm/dlq-fallback.ndjson");
    const auto table = rtcrm::topology_config_reference();
    EXPECT_NE(table.find("| `$.sinks.dead_letters.fallback_path` | `--dead-letter-fallback` | string | "
                         "`rtcrm-dead-letter-fallback.ndjson` |"),
              std::string::npos);
}

TEST(topology_flags, refuse_what_their_setting_cannot_hold_as_validate_would) {
    const std::pair<std::string_view, std::string_view> refused[] = {
        {"source", R"($.source.kind: unknown source "bogus" (generator | ndjson | kafka | http))"},
        {"sink", R"($.sinks.triggers.kind: unknown trigger sink "bogus" (ndjson | kafka | webhook))"},
        {"store", R"($.store.kind: unknown store "bogus" (memory | lmdb | cassandra))"},
        {"shard-policy", R"($.shard_policy: unknown shard policy "bogus" (inherit | batch | fifo))"},
        {"drain-timeout",
         R"($.drain_timeout: expected a duration like "1w", "30d", "12h", "15m", "10s" or "250ms", got "bogus")"},
        {"profile-ttl", R"($.store.profile_ttl: expected a duration like "1w", "30d", "12h", "15m", "10s" or "250ms" )"
                        R"(or "", got "bogus")"},
    };
    for (const auto& [name, says] : refused) {
        EXPECT_EQ(refusal(name, std::string{"bogus"}), fmt::format("topology_config: {}: invalid configuration", says));
    }
    EXPECT_NE(refusal("ttl-sweep-interval", std::string{"0"}).find(R"((more than 0), got "0")"), std::string::npos);
    // Strings are checked by validate(), and only while in use.
    EXPECT_EQ(refusal("start", std::string{"soon"}), "");
    EXPECT_EQ(refusal("listen", std::string{"nowhere"}), "");
}

TEST(topology_flags, of_a_kind_name_every_registered_kind) {
    EXPECT_EQ(flag("source").help, "event source: generator | ndjson | kafka | http");
    EXPECT_EQ(flag("store").help,
              "profile store: memory | lmdb | cassandra (durable; a file source resumes after a restart)");
    EXPECT_EQ(flag("sink").help, "trigger sink: ndjson (--output) | kafka (--trigger-topic) | webhook (--webhook-url)");
    EXPECT_EQ(flag("source").json_path, "$.source.kind");
    EXPECT_EQ(flag("events").json_path, "$.source.events");
    EXPECT_EQ(flag("events").section, "Source ($.source)");
}

TEST(topology_flags, the_reference_table_has_a_row_per_setting) {
    const auto table = rtcrm::topology_config_reference();
    EXPECT_EQ(table.rfind("| path | flag | type | default | meaning |\n|---|---|---|---|---|\n", 0), 0U);
    EXPECT_NE(table.find("| `$.source.events` | `--events` | integer ≥ 0 | 100000 | generator: events to generate; 0 = "
                         "until stopped |\n"),
              std::string::npos);
    EXPECT_NE(
        table.find("| `$.source.kind` | `--source` | `generator` \\| `ndjson` \\| `kafka` \\| `http` | `generator` |"),
        std::string::npos);
    EXPECT_NE(table.find("| `$.store.sync` | `--store-no-sync` (inverted) | boolean | true |"), std::string::npos);
    EXPECT_NE(table.find("| `$.kafka.properties` | `-X key=value` |"), std::string::npos);
    EXPECT_NE(table.find("| `$.scripts.guards.call_deadline` | — | duration > 0 | `250ms` |"), std::string::npos);
    for (const auto& f : rtcrm::topology_flags()) {
        EXPECT_NE(table.find(fmt::format("| `{}` |", f.json_path)), std::string::npos) << f.json_path;
    }
    EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2 + 78);  // the header, then every setting
}

}  // namespace
