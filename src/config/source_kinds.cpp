// The registry of source kinds: each kind's name, its members of $.source and how it is
// built. A new kind is one more registration here.
#include "config/schema.hpp"

#include <rtcrm/archive/archive_layout.hpp>
#include <rtcrm/archive/archive_source.hpp>
#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/ndjson_source.hpp>
#include <rtcrm/http/gateway_source.hpp>
#include <rtcrm/kafka/kafka_source.hpp>

namespace rtcrm::detail {

namespace {

// An archive directory, a .zst file, or time bounds: read through the archive's reader.
bool archive_source_wanted(const ndjson_source_config& n) {
    if (!n.from.empty() || !n.to.empty() || n.input.ends_with(".zst")) {
        return true;
    }
    std::error_code ec;
    return n.input != "-" && std::filesystem::is_directory(n.input, ec);
}

source_registration generator() {
    return {
        .kind = source_kind::generator,
        .name = "generator",
        .fields =
            {
                integer("events", [](auto& c) -> auto& { return c.source.generator.events; }, 0, max_u64,
                        {.flag = "events",
                         .help = "events to generate; 0 = until stopped (--source generator)",
                         .doc = "events to generate; 0 = until stopped"}),
                integer(
                    "players", [](auto& c) -> auto& { return c.source.generator.players; }, 1, 100'000'000,
                    {.flag = "players", .help = "distinct players (--source generator)", .doc = "distinct players"}),
                integer("seed", [](auto& c) -> auto& { return c.source.generator.seed; }, 0, max_u64,
                        {.flag = "seed",
                         .help = "generator seed: same seed, same events",
                         .doc = "same seed, same events"}),
                number("rate", [](auto& c) -> auto& { return c.source.generator.rate; }, non_negative,
                       {.flag = "rate",
                        .help = "events per second; 0 = as fast as possible",
                        .doc = "events per second; 0 = as fast as possible"}),
                text("scenario", [](auto& c) -> auto& { return c.source.generator.scenario; }, scenario_name,
                     {.flag = "scenario",
                      .help = "scripted scenario mixed into the stream: bob",
                      .doc = "scripted scenario mixed into the stream"}),
            },
        .build =
            [](const topology_config& c, assembled_topology& parts) {
                const auto& g = c.source.generator;
                parts.topology.add_source(std::make_unique<generator_source>(generator_options{
                    .events = g.events, .players = g.players, .seed = g.seed, .rate = g.rate, .scenario = g.scenario}));
            },
    };
}

source_registration ndjson() {
    return {
        .kind = source_kind::ndjson,
        .name = "ndjson",
        .fields =
            {
                text("input", [](auto& c) -> auto& { return c.source.ndjson.input; }, non_empty,
                     {.flag = "input",
                      .help = "NDJSON input file, - for stdin, a .zst file or an event archive directory (--source "
                              "ndjson)",
                      .doc = "the file (resumable with the LMDB store), `-` = stdin; a `.zst` file or an [event "
                             "archive](docs/ARCHIVE.md) directory is read in day order (not resumable)"}),
                text("from", [](auto& c) -> auto& { return c.source.ndjson.from; }, time_bound_or_none,
                     {.flag = "from",
                      .help = "skip events whose ts is earlier (ms, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ; --source "
                              "ndjson)",
                      .doc = "events with an earlier `ts` are skipped (ms, `YYYY-MM-DD`, ISO 8601 UTC); `\"\"` = "
                             "none"}),
                text("to", [](auto& c) -> auto& { return c.source.ndjson.to; }, time_bound_or_none,
                     {.flag = "to",
                      .help = "skip events whose ts is this or later (--source ndjson)",
                      .doc = "events with this `ts` or later are skipped; `\"\"` = none"}),
            },
        .check =
            [](const topology_config& c) {
                const auto& n = c.source.ndjson;
                if (!n.from.empty() && !n.to.empty() &&
                    archive::parse_time_bound(n.from) >= archive::parse_time_bound(n.to)) {
                    config_error("$.source.to", fmt::format("{} is not later than $.source.from {}", n.to, n.from));
                }
                if ((!n.from.empty() || !n.to.empty()) && n.input == "-") {
                    config_error("$.source.input", "--from and --to need a file or an archive directory, not stdin");
                }
            },
        .build =
            [](const topology_config& c, assembled_topology& parts) {
                const auto& n = c.source.ndjson;
                if (archive_source_wanted(n)) {
                    parts.topology.add_source(std::make_unique<archive_source>(archive_source_options{
                        .read = {.path = n.input,
                                 .from = archive::parse_time_bound(n.from),
                                 .to = archive::parse_time_bound(n.to),
                                 .key_field = c.parse.key_field}}));
                    return;
                }
                parts.topology.add_source(std::make_unique<ndjson_source>(ndjson_source_options{.path = n.input}));
            },
    };
}

source_registration kafka() {
    return {
        .kind = source_kind::kafka,
        .name = "kafka",
        .fields =
            {
                text("topic", [](auto& c) -> auto& { return c.source.kafka.topic; }, kafka_topic,
                     {.flag = "topic",
                      .help = "Kafka topic of the events (--source kafka)",
                      .doc = "topic of the events"}),
                text("group", [](auto& c) -> auto& { return c.source.kafka.group; }, non_empty,
                     {.flag = "group",
                      .help = "Kafka consumer group: instances of one group share the partitions",
                      .doc = "consumer group"}),
                text("start", [](auto& c) -> auto& { return c.source.kafka.start; }, kafka_start_point,
                     {.flag = "start",
                      .help = "where new partitions start: committed | earliest | latest | a timestamp (ms, or "
                              "YYYY-MM-DDTHH:MM:SSZ) to replay from",
                      .doc = "where new partitions start"}),
                milliseconds(
                    "revoke_timeout_ms", [](auto& c) -> auto& { return c.source.kafka.revoke_timeout; }, 0,
                    {.flag = "revoke-timeout-ms",
                     .help = "on a rebalance, the longest wait for in-flight events before giving partitions up",
                     .doc = "on a rebalance, the longest wait for in-flight events"}),
            },
        .check = [](const topology_config& c) { require_brokers(c, R"(source kind "kafka")"); },
        .build =
            [](const topology_config& c, assembled_topology& parts) {
                const auto& k = c.source.kafka;
                kafka_source_options o{.brokers = c.kafka.brokers, .topic = k.topic, .group = k.group};
                parse_kafka_start(k.start, o.start, o.start_timestamp_ms);
                o.revoke_timeout = k.revoke_timeout;
                o.properties = parts.properties;
                auto src = std::make_unique<kafka_source>(std::move(o));
                parts.kafka = src.get();
                parts.topology.add_source(std::move(src));
            },
    };
}

source_registration http() {
    return {
        .kind = source_kind::http,
        .name = "http",
        .fields =
            {
                text("listen", [](auto& c) -> auto& { return c.source.http.listen; }, listen_address,
                     {.flag = "listen",
                      .help = "HOST:PORT of the event gateway, POST /events (--source http; port 0: any, printed)",
                      .doc = "the gateway's address (port 0: any, printed)"}),
                integer("queue", [](auto& c) -> auto& { return c.source.http.queue; }, 1, max_size,
                        {.flag = "http-queue",
                         .help = "events the gateway holds for the runtime before it answers 503",
                         .doc = "events held for the runtime before answering 503"}),
            },
        .build =
            [](const topology_config& c, assembled_topology& parts) {
                gateway_options o{.listen = c.source.http.listen, .queue_capacity = c.source.http.queue};
                o.parse.key_field = c.parse.key_field;
                o.parse.max_size = c.parse.max_event_size;
                o.parse.max_lead = c.parse.max_event_lead;
                o.parse.max_age = c.parse.max_event_age;
                auto src = std::make_unique<gateway_source>(std::move(o));
                parts.gateway = src.get();
                parts.topology.add_source(std::move(src));
            },
    };
}

}  // namespace

const std::vector<source_registration>& source_kinds() {
    static const std::vector<source_registration> all{generator(), ndjson(), kafka(), http()};
    return all;
}

}  // namespace rtcrm::detail
