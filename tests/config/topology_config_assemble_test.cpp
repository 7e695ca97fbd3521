// topology_config::validate() (the rules between fields, and the values of code) and
// assemble(); the JSON loader is in topology_config_test.cpp.
#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/core/error.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;

// The message validate() throws, or "".
std::string validation_error_of(const rtcrm::topology_config& c) {
    try {
        c.validate();
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config) << e.what();
        return e.what();
    }
    return "";
}

void says(const rtcrm::topology_config& c, std::string_view text) {
    const auto what = validation_error_of(c);
    EXPECT_NE(what.find(text), std::string::npos) << what;
}

using rtcrm::dead_letter_sink_kind;
using rtcrm::source_kind;
using rtcrm::store_kind;
using rtcrm::trigger_sink_kind;

TEST(topology_config, validate_checks_the_rules_between_fields) {
    EXPECT_EQ(validation_error_of({}), "");
    says({.store = {.kind = store_kind::lmdb}}, R"(topology_config: $.store.path: required for store kind "lmdb")");
    says({.store = {.kind = store_kind::cassandra}},
         R"(topology_config: $.store.hosts: required for store kind "cassandra")");
    says({.store = {.kind = store_kind::cassandra, .cassandra = {.hosts = "h", .keyspace = "x-y"}}},
         "$.store.keyspace: expected a CQL identifier");
    says({.store = {.kind = store_kind::cassandra, .cassandra = {.hosts = "h", .consistency = "most"}}},
         "$.store.consistency: expected a consistency level");
    says({.source = {.kind = source_kind::kafka}},
         R"($.kafka.brokers: required (HOST:PORT[,...]) by source kind "kafka")");
    says({.sinks = {.triggers = {.kind = trigger_sink_kind::kafka}}},
         R"($.kafka.brokers: required (HOST:PORT[,...]) by trigger sink kind "kafka")");
    says({.sinks = {.dead_letters = {.kind = dead_letter_sink_kind::kafka, .kafka = {.topic = "dlq"}}}},
         "$.kafka.brokers: required");
    says({.sinks = {.dead_letters = {.kind = dead_letter_sink_kind::kafka}}, .kafka = {.brokers = "b:1"}},
         R"($.sinks.dead_letters.topic: required for dead-letter sink kind "kafka")");
    says({.kafka = {.handlers_topic = "h"}}, "$.kafka.brokers: required");
    says({.sinks = {.triggers = {.kind = trigger_sink_kind::webhook}}},
         R"($.sinks.triggers.url: required for trigger sink kind "webhook")");
    says({.sinks = {.triggers = {.kind = trigger_sink_kind::webhook, .webhook = {.url = "https://x:1/"}}}},
         "$.sinks.triggers.url: expected http://HOST:PORT");
    says({.scripts = {.watch = true}}, "$.scripts.watch: needs $.scripts.dir");
    says({.source = {.kind = source_kind::ndjson, .ndjson = {.input = "a", .from = "2026-11-02", .to = "2026-11-01"}}},
         "$.source.to: 2026-11-01 is not later than $.source.from 2026-11-02");
    says({.source = {.kind = source_kind::ndjson, .ndjson = {.from = "2026-11-02"}}},
         "$.source.input: --from and --to need a file or an archive directory, not stdin");
    says({.archive = {.dir = "a", .keep = std::chrono::hours{1}}}, "$.archive.keep: expected a duration");
    says({.source = {.kind = source_kind::ndjson, .ndjson = {.input = RTCRM_SOURCE_DIR "/examples"}},
          .archive = {.dir = RTCRM_SOURCE_DIR "/examples/../examples"}},
         "a topology cannot archive into the archive it reads");
    says({.scripts = {.guards = {.disabled_campaigns = {"3"}}}},
         "$.scripts.guards.disabled_campaigns: needs $.scripts.dir");
    says({.scripts = {.dir = "lua", .guards = {.disabled_campaigns = {"3", ""}}}},
         R"($.scripts.guards.disabled_campaigns[1]: expected a campaign id, got "")");
    says({.source = {.kind = static_cast<source_kind>(9)}},
         R"($.source.kind: unknown source "9" (generator | ndjson | kafka | http))");
    says({.store = {.profile_ttl = -1ms}}, R"($.store.profile_ttl: expected a duration)");
    says({.store = {.history_ttl = -5s}}, R"($.store.history_ttl: expected a duration)");
    says({.store = {.ttl_sweep_interval = 0ms}}, R"($.store.ttl_sweep_interval: expected a duration like "1w", )"
                                                 R"("30d", "12h", "15m", "10s" or "250ms" (more than 0), got "0")");
    says({.stuck_after = -1s}, R"($.stuck_after: expected a duration like)");
    says({.scripts = {.dir = "lua", .guards = {.call_deadline = 0ms}}},
         "$.scripts.guards.call_deadline: expected a duration");
    says({.shards = 5000}, "$.shards: expected an integer from 0 to 1024, got 5000");
    says({.source = {.generator = {.players = 0}}}, "$.source.players");
    says({.source = {.generator = {.rate = -1}}}, "$.source.rate: expected a non-negative number, got -1");
    says({.shard_policy = rtcrm::thread_policy::fifo, .shard_priority = 0},
         "$.shard_priority: expected an integer from 1 to 99, got 0");
    says({.source = {.generator = {.scenario = "carol"}}}, R"($.source.scenario: unknown scenario "carol")");
    says({.source = {.kind = source_kind::http, .http = {.listen = "8080"}}}, R"($.source.listen: expected HOST:PORT)");
    says({.source = {.kind = source_kind::kafka, .kafka = {.start = "soon"}}, .kafka = {.brokers = "b:1"}},
         "$.source.start: expected committed");
    says({.parse = {.key_field = ""}}, "$.parse.key_field");
    says({.scripts = {.dir = "lua", .guards = {.memory_limit = 1}}}, "$.scripts.guards.memory_limit");
    says({.kafka = {.properties = {"novalue"}}}, R"($.kafka.properties[0]: expected key=value, got "novalue")");
    says({.kafka = {.brokers = "b:1", .maintenance_interval = 0ms}},
         "$.kafka.maintenance_interval_ms: expected a positive integer, got 0");
    says({.admin = {.listen = "localhost"}}, "$.admin.listen");
    // Values of kinds not chosen are not in use, so not checked (as with flags today).
    EXPECT_EQ(validation_error_of({.source = {.kafka = {.start = "soon"}, .http = {.listen = "x"}}}), "");
    EXPECT_EQ(validation_error_of({.shard_policy = rtcrm::thread_policy::batch, .shard_priority = 0}), "");
    EXPECT_EQ(validation_error_of({.scripts = {.guards = {.call_deadline = 0ms}}}), "");  // no engine
    EXPECT_EQ(validation_error_of({.kafka = {.maintenance_interval = 0ms}}), "");         // no brokers
}

TEST(topology_config, assemble_builds_the_topology_a_configuration_describes) {
    const rtcrm::topology_config c{
        .source = {.generator = {.events = 10, .players = 3}},
        .validation = {.schemas = RTCRM_SOURCE_DIR "/examples/schemas"},
        .scripts = {.dir = RTCRM_SOURCE_DIR "/lua/examples", .guards = {.disabled_campaigns = {"3"}}},
        .sinks = {.shadow = {.ndjson = {.path = "-"}}},
        .kafka = {.properties = {"client.id=x"}}};
    auto parts = rtcrm::assemble(c);
    EXPECT_EQ(parts.topology.sources().size(), 1U);
    EXPECT_EQ(parts.topology.ingest_bolts().size(), 1U);
    EXPECT_EQ(parts.topology.shard_bolts().size(), 1U);
    EXPECT_EQ(parts.topology.sinks().size(), 3U);  // dead letters, triggers, shadow
    ASSERT_NE(parts.engine, nullptr);
    EXPECT_TRUE(parts.engine->disabled("3"));  // the kill switch is on from the start
    EXPECT_EQ(parts.kafka, nullptr);
    EXPECT_EQ(parts.gateway, nullptr);
    EXPECT_EQ(parts.kafka_triggers, nullptr);
    EXPECT_EQ(parts.webhook, nullptr);
    EXPECT_EQ(parts.properties.at("client.id"), "x");
    EXPECT_EQ(parts.topology.options().shard_scheduling, rtcrm::thread_scheduling{});
    EXPECT_EQ(rtcrm::assemble({}).topology.sinks().size(), 2U);  // no shadow path: dry-run triggers are discarded
}

TEST(topology_config, assemble_adds_the_archive_after_validation_and_reads_archives_through_archive_source) {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("rtcrm-assemble-archive-{}", ::getpid());
    std::filesystem::remove_all(dir);
    const rtcrm::topology_config c{.source = {.kind = source_kind::ndjson, .ndjson = {.input = dir.string() + "/x.zst"}},
                                   .validation = {.schemas = RTCRM_SOURCE_DIR "/examples/schemas"},
                                   .archive = {.dir = dir.string()}};
    auto parts = rtcrm::assemble(c);
    ASSERT_EQ(parts.topology.ingest_bolts().size(), 2U);
    EXPECT_EQ(parts.topology.ingest_bolts()[1]({})->name(), "archive") << "after validation";
    const auto& sinks = parts.topology.sinks();
    EXPECT_EQ(std::count_if(sinks.begin(), sinks.end(), [](const auto& s) { return s.first == rtcrm::stream::archive; }), 1);
    EXPECT_TRUE(std::filesystem::is_directory(dir)) << "the sink made its directory";
    EXPECT_EQ(parts.topology.sources()[0]->name(), "archive") << "a .zst input";
    EXPECT_FALSE(parts.topology.sources()[0]->resumable());
    auto plain = c;
    plain.source.ndjson.input = dir.string() + "/events.ndjson";
    EXPECT_EQ(rtcrm::assemble(plain).topology.sources()[0]->name(), "ndjson");
    plain.source.ndjson.to = "2026-11-01";
    EXPECT_EQ(rtcrm::assemble(plain).topology.sources()[0]->name(), "archive") << "bounds need the archive's reader";
    std::filesystem::create_directories(dir / "history");
    plain.source.ndjson = {.input = (dir / "history").string()};
    EXPECT_EQ(rtcrm::assemble(plain).topology.sources()[0]->name(), "archive") << "a directory";
    std::filesystem::remove_all(dir);
}

TEST(topology_config, assemble_gives_the_runtime_its_options) {
    const rtcrm::topology_config c{.shards = 3,
                                   .drain_timeout = 2s,
                                   .stuck_after = 0ms,
                                   .parse = {.key_field = "user",
                                             .max_event_size = 1000,
                                             .max_event_lead = 10min,
                                             .max_event_age = 48h},
                                   .store = {.cache_max_profiles = 7, .profile_ttl = 24h, .ttl_sweep_interval = 5s}};
    const auto o = rtcrm::assemble(c).topology.options();
    EXPECT_EQ(o.shards, 3U);
    EXPECT_EQ(o.drain_timeout, 2s);
    EXPECT_EQ(o.stuck_after, 0ms);
    EXPECT_EQ(o.parse.key_field, "user");
    EXPECT_EQ(o.parse.max_size, 1000U);
    EXPECT_EQ(o.parse.max_lead, 10min);
    EXPECT_EQ(o.parse.max_age, 48h);
    const auto defaults = rtcrm::assemble({}).topology.options().parse;
    EXPECT_EQ(defaults.max_lead, 24h);
    EXPECT_EQ(defaults.max_age, std::nullopt);
    EXPECT_EQ(o.cache_max_profiles, 7U);
    EXPECT_EQ(o.expiry.profile_ttl, 24h);
    EXPECT_EQ(o.expiry.history_ttl, rtcrm::runtime_options{}.expiry.history_ttl);
    EXPECT_EQ(o.ttl_sweep_interval, 5s);
}

TEST(topology_config, every_thread_policy_is_a_shard_policy_by_its_name) {
    for (const auto p : {rtcrm::thread_policy::inherit, rtcrm::thread_policy::batch, rtcrm::thread_policy::fifo}) {
        const auto name = std::string{rtcrm::thread_policy_name(p)};
        const auto c = rtcrm::parse_topology_config(fmt::format(R"({{"shard_policy": "{}"}})", name), "demo.json");
        EXPECT_EQ(c.shard_policy, p);
        EXPECT_NO_THROW(c.validate()) << name;
        EXPECT_EQ(rtcrm::assemble(c).topology.options().shard_scheduling.policy, p) << name;
    }
}

TEST(topology_config, assemble_gives_the_shards_the_scheduling_configured) {
    const rtcrm::topology_config c{.shard_policy = rtcrm::thread_policy::fifo, .shard_priority = 7};
    const auto parts = rtcrm::assemble(c);
    EXPECT_EQ(parts.topology.options().shard_scheduling,
              (rtcrm::thread_scheduling{.policy = rtcrm::thread_policy::fifo, .priority = 7}));
    const auto batch = rtcrm::assemble({.shard_policy = rtcrm::thread_policy::batch});
    EXPECT_EQ(batch.topology.options().shard_scheduling.policy, rtcrm::thread_policy::batch);
}

TEST(topology_config, assemble_refuses_an_invalid_configuration_before_building_anything) {
    try {
        (void)rtcrm::assemble({.store = {.kind = store_kind::lmdb}});
        FAIL() << "no error";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
        EXPECT_NE(std::string(e.what()).find("$.store.path"), std::string::npos) << e.what();
    }
}

}  // namespace
