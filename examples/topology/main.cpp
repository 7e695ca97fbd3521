// rtcrm-topology: runs a whole CRM topology from the command line.
//
//   rtcrm-topology --source generator --scenario bob --scripts lua/examples --output -
//   rtcrm-topology --source ndjson --input events.ndjson --schemas examples/schemas --scripts lua/examples --watch
//   rtcrm-topology --source kafka --brokers HOST:PORT --topic raw --group crm --scripts lua/examples
//                  --sink kafka --trigger-topic crm_trigger --dead-letter-topic crm_dead_letter
//
// With --brokers, a status message goes to the maintenance topic every few seconds, and
// --handlers-topic makes the scripts follow a compacted topic shared by the whole group.
//
// Prints triggers as NDJSON on --output, dead letters on --dead-letter, and a summary on
// standard error. SIGINT/SIGTERM stop it cleanly: events in flight are drained first.
#include <rtcrm/bolt/validation_bolt.hpp>
#include <rtcrm/http/admin_server.hpp>
#include <rtcrm/http/gateway_source.hpp>
#include <rtcrm/http/webhook_sink.hpp>
#include <rtcrm/kafka/handler_feed.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>
#include <rtcrm/kafka/kafka_source.hpp>
#include <rtcrm/kafka/maintenance_reporter.hpp>
#include <rtcrm/lua/lua_engine.hpp>
#include <rtcrm/runtime.hpp>
#include <rtcrm/sink/ndjson_sink.hpp>
#include <rtcrm/source/generator_source.hpp>
#include <rtcrm/source/ndjson_source.hpp>
#include <rtcrm/store/lmdb_store.hpp>
#include <rtcrm/store/memory_store.hpp>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>

namespace po = boost::program_options;

namespace {

std::atomic<bool> stop_signal{false};

void on_signal(int) { stop_signal.store(true); }

struct settings {
    std::string source = "generator";
    std::string input = "-";
    std::uint64_t events = 100'000;
    std::uint64_t players = 10'000;
    std::uint64_t seed = 1;
    double rate = 0;
    std::string scenario;
    std::uint32_t shards = 0;
    std::string store = "memory";
    std::string store_path;
    bool store_no_sync = false;
    std::size_t cache_max = 0;
    std::string schemas;
    bool reject_unknown = false;
    std::string output = "-";
    std::string dead_letter = "stderr";
    std::string key_field = "player_id";
    std::size_t max_event_size = 64 * 1024;
    std::string scripts;
    bool watch = false;
    std::string shadow;
    // Kafka
    std::string brokers;
    std::string topic = "raw";
    std::string group = "rtcrm";
    std::string start = "committed";
    std::uint64_t revoke_timeout_ms = 5000;
    std::string sink = "ndjson";
    std::string trigger_topic = "crm_trigger";
    std::string dead_letter_topic;
    std::string maintenance_topic = "maintenance";
    std::uint64_t maintenance_interval_ms = 5000;
    std::string instance_id;
    std::string handlers_topic;
    std::vector<std::string> kafka_properties;  // -X key=value
    // TTLs
    std::string profile_ttl;
    std::string history_ttl;
    std::string ttl_sweep_interval = "60s";
    // HTTP
    std::string listen = "127.0.0.1:8080";
    std::size_t http_queue = 65536;
    std::string admin = "127.0.0.1:0";
    std::string webhook_url;
    bool webhook_one_by_one = false;
    std::string admin_token_file;
};

// The admin token: from --admin-token-file, else $RTCRM_ADMIN_TOKEN, else none.
std::string admin_token(const settings& s) {
    if (!s.admin_token_file.empty()) {
        std::ifstream in(s.admin_token_file);
        std::string token;
        if (!in || !std::getline(in, token) || token.empty()) {
            throw rtcrm::error(rtcrm::errc::invalid_config, fmt::format("--admin-token-file {}: no token in it", s.admin_token_file));
        }
        return token;
    }
    const char* env = std::getenv("RTCRM_ADMIN_TOKEN");
    return env != nullptr ? env : "";
}

// "30d", "12h", "15m", "10s", "250ms" or plain milliseconds → milliseconds.
std::chrono::milliseconds parse_duration(const std::string& option, const std::string& text) {
    std::size_t used = 0;
    long long n = -1;
    try {
        n = std::stoll(text, &used);
    } catch (const std::exception&) {
    }
    const std::string unit = text.substr(used);
    const long long scale = unit.empty() || unit == "ms" ? 1
                            : unit == "s"                 ? 1000
                            : unit == "m"                 ? 60'000
                            : unit == "h"                 ? 3'600'000
                            : unit == "d"                 ? 86'400'000
                                                          : -1;
    if (n < 0 || scale < 0) {
        throw rtcrm::error(rtcrm::errc::invalid_config,
                           fmt::format("--{} '{}': expected a duration like 30d, 12h, 15m, 10s or 250ms", option, text));
    }
    return std::chrono::milliseconds(n * scale);
}

// What the Kafka parts of a run need after the topology is built.
struct kafka_parts {
    rtcrm::kafka_properties properties;
    rtcrm::kafka_source* source = nullptr;  // owned by the topology
    rtcrm::gateway_source* gateway = nullptr;  // owned by the topology (--source http)
    std::shared_ptr<rtcrm::kafka_sink> triggers;
    std::shared_ptr<rtcrm::kafka_sink> dead_letters;
    std::shared_ptr<rtcrm::webhook_sink> webhook;
};

std::string need_brokers(const settings& s, std::string_view what) {
    if (s.brokers.empty()) {
        throw rtcrm::error(rtcrm::errc::invalid_config, fmt::format("{} needs --brokers HOST:PORT", what));
    }
    return s.brokers;
}

rtcrm::topology build(const settings& s, std::shared_ptr<rtcrm::lua_engine>& engine, kafka_parts& kafka) {
    rtcrm::topology t;
    for (const auto& kv : s.kafka_properties) {
        rtcrm::set_property(kafka.properties, kv);
    }
    if (s.source == "kafka") {
        rtcrm::kafka_source_options o{.brokers = need_brokers(s, "--source kafka"), .topic = s.topic, .group = s.group};
        rtcrm::parse_kafka_start(s.start, o.start, o.start_timestamp_ms);
        o.revoke_timeout = std::chrono::milliseconds(s.revoke_timeout_ms);
        o.properties = kafka.properties;
        auto src = std::make_unique<rtcrm::kafka_source>(std::move(o));
        kafka.source = src.get();
        t.add_source(std::move(src));
    } else if (s.source == "http") {
        rtcrm::gateway_options o{.listen = s.listen, .queue_capacity = s.http_queue};
        o.parse.key_field = s.key_field;
        o.parse.max_size = s.max_event_size;
        auto src = std::make_unique<rtcrm::gateway_source>(std::move(o));
        kafka.gateway = src.get();
        t.add_source(std::move(src));
    } else if (s.source == "generator") {
        t.add_source(std::make_unique<rtcrm::generator_source>(rtcrm::generator_options{
            .events = s.events, .players = s.players, .seed = s.seed, .rate = s.rate, .scenario = s.scenario}));
    } else if (s.source == "ndjson") {
        t.add_source(std::make_unique<rtcrm::ndjson_source>(rtcrm::ndjson_source_options{.path = s.input}));
    } else {
        throw rtcrm::error(rtcrm::errc::invalid_config, fmt::format("--source: unknown source '{}' (generator|ndjson|kafka|http)", s.source));
    }
    if (!s.schemas.empty()) {
        t.add_ingest_bolt(rtcrm::validation_bolt::factory({.schema_dir = s.schemas, .reject_unknown_types = s.reject_unknown}));
    }
    if (!s.scripts.empty() || !s.handlers_topic.empty()) {
        engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = s.scripts, .watch = s.watch});
        t.add_shard_bolt(engine->make_bolt_factory());
    } else if (s.watch) {
        throw rtcrm::error(rtcrm::errc::invalid_config, "--watch needs --scripts");
    }
    if (s.store == "memory") {
        t.with_store(std::make_shared<rtcrm::memory_store>());
    } else if (s.store == "lmdb") {
        if (s.store_path.empty()) {
            throw rtcrm::error(rtcrm::errc::invalid_config, "--store lmdb needs --store-path DIR");
        }
        t.with_store(std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = s.store_path, .sync = !s.store_no_sync}));
    } else {
        throw rtcrm::error(rtcrm::errc::invalid_config, fmt::format("--store: unknown store '{}' (memory|lmdb)", s.store));
    }
    std::shared_ptr<rtcrm::sink> dead_letter_sink;
    if (!s.dead_letter_topic.empty()) {
        kafka.dead_letters = std::make_shared<rtcrm::kafka_sink>(rtcrm::kafka_sink_options{
            .brokers = need_brokers(s, "--dead-letter-topic"), .topic = s.dead_letter_topic, .properties = kafka.properties});
        dead_letter_sink = kafka.dead_letters;
    } else {
        dead_letter_sink = std::make_shared<rtcrm::ndjson_sink>(rtcrm::ndjson_sink_options{.path = s.dead_letter});
    }
    t.add_sink(rtcrm::stream::dead_letter, dead_letter_sink);
    if (s.sink == "kafka") {
        kafka.triggers = std::make_shared<rtcrm::kafka_sink>(rtcrm::kafka_sink_options{
            .brokers = need_brokers(s, "--sink kafka"), .topic = s.trigger_topic, .properties = kafka.properties});
        t.add_sink(rtcrm::stream::main, kafka.triggers);
    } else if (s.sink == "webhook") {
        if (s.webhook_url.empty()) {
            throw rtcrm::error(rtcrm::errc::invalid_config, "--sink webhook needs --webhook-url http://HOST:PORT/PATH");
        }
        kafka.webhook = std::make_shared<rtcrm::webhook_sink>(
            rtcrm::webhook_options{.url = s.webhook_url, .batch = !s.webhook_one_by_one, .dead_letter = dead_letter_sink});
        t.add_sink(rtcrm::stream::main, kafka.webhook);
    } else if (s.sink == "ndjson") {
        t.add_sink(rtcrm::stream::main, std::make_shared<rtcrm::ndjson_sink>(rtcrm::ndjson_sink_options{.path = s.output}));
    } else {
        throw rtcrm::error(rtcrm::errc::invalid_config, fmt::format("--sink: unknown sink '{}' (ndjson|kafka|webhook)", s.sink));
    }
    if (!s.shadow.empty()) {
        t.add_sink(rtcrm::stream::shadow, std::make_shared<rtcrm::ndjson_sink>(rtcrm::ndjson_sink_options{.path = s.shadow}));
    }
    rtcrm::runtime_options options;
    options.shards = s.shards;
    options.cache_max_profiles = s.cache_max;
    options.parse.key_field = s.key_field;
    options.parse.max_size = s.max_event_size;
    if (!s.profile_ttl.empty()) {
        options.expiry.profile_ttl = parse_duration("profile-ttl", s.profile_ttl);
    }
    if (!s.history_ttl.empty()) {
        options.expiry.history_ttl = parse_duration("history-ttl", s.history_ttl);
    }
    options.ttl_sweep_interval = parse_duration("ttl-sweep-interval", s.ttl_sweep_interval);
    t.with_options(options);
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    settings s;
    po::options_description desc("rtcrm-topology: run a real-time CRM topology\n\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("source", po::value(&s.source)->default_value(s.source), "event source: generator | ndjson | kafka | http")
        ("input", po::value(&s.input)->default_value(s.input), "NDJSON input file, or - for stdin (--source ndjson)")
        ("events", po::value(&s.events)->default_value(s.events), "events to generate; 0 = until stopped (--source generator)")
        ("players", po::value(&s.players)->default_value(s.players), "distinct players (--source generator)")
        ("seed", po::value(&s.seed)->default_value(s.seed), "generator seed: same seed, same events")
        ("rate", po::value(&s.rate)->default_value(s.rate), "events per second; 0 = as fast as possible")
        ("scenario", po::value(&s.scenario), "scripted scenario mixed into the stream: bob")
        ("shards", po::value(&s.shards)->default_value(s.shards), "shard threads; 0 = one per hardware thread")
        ("store", po::value(&s.store)->default_value(s.store), "profile store: memory | lmdb (durable; a file source resumes after a restart)")
        ("store-path", po::value(&s.store_path), "LMDB environment directory (--store lmdb)")
        ("store-no-sync", po::bool_switch(&s.store_no_sync), "LMDB without fsync per commit: survives a process crash, not a power loss")
        ("cache-max-profiles", po::value(&s.cache_max)->default_value(s.cache_max), "profiles cached per shard (least recently used leave); 0 = all")
        ("schemas", po::value(&s.schemas), "directory of <type>.json JSON Schemas to validate events against")
        ("reject-unknown-types", po::bool_switch(&s.reject_unknown), "dead-letter event types without a schema")
        ("scripts", po::value(&s.scripts), "directory of Lua handler scripts (*.lua): updaters and campaigns")
        ("watch", po::bool_switch(&s.watch), "reload the scripts when the directory changes (a broken set is refused)")
        ("shadow", po::value(&s.shadow), "dry-run trigger output (NDJSON): a file, - or stderr; default: discarded")
        ("output", po::value(&s.output)->default_value(s.output), "trigger output (NDJSON): a file, or - for stdout")
        ("dead-letter", po::value(&s.dead_letter)->default_value(s.dead_letter), "dead-letter output (NDJSON): a file, - or stderr")
        ("key-field", po::value(&s.key_field)->default_value(s.key_field), "JSON field holding the player key")
        ("max-event-size", po::value(&s.max_event_size)->default_value(s.max_event_size), "larger events are dead-lettered")
        ("listen", po::value(&s.listen)->default_value(s.listen), "HOST:PORT of the event gateway, POST /events (--source http; port 0: any, printed)")
        ("http-queue", po::value(&s.http_queue)->default_value(s.http_queue), "events the gateway holds for the runtime before it answers 503")
        ("admin", po::value(&s.admin)->default_value(s.admin), "HOST:PORT of the admin API (metrics, profiles, handlers, kill switch, audience); port 0: any, printed; '' for none")
        ("admin-token-file", po::value(&s.admin_token_file), "file holding the admin API's bearer token (else $RTCRM_ADMIN_TOKEN; without one, loopback only)")
        ("profile-ttl", po::value(&s.profile_ttl), "a profile with no event for this long (event time: 30d, 12h, ...) starts afresh and is swept from the store")
        ("history-ttl", po::value(&s.history_ttl), "recent events, firing times and counter buckets older than this are swept from stored profiles")
        ("ttl-sweep-interval", po::value(&s.ttl_sweep_interval)->default_value(s.ttl_sweep_interval), "how often the TTL sweep runs")
        ("brokers", po::value(&s.brokers), "Kafka bootstrap servers HOST:PORT[,...] (for every Kafka option below)")
        ("topic", po::value(&s.topic)->default_value(s.topic), "Kafka topic of the events (--source kafka)")
        ("group", po::value(&s.group)->default_value(s.group), "Kafka consumer group: instances of one group share the partitions")
        ("start", po::value(&s.start)->default_value(s.start), "where new partitions start: committed | earliest | latest | a timestamp (ms, or YYYY-MM-DDTHH:MM:SSZ) to replay from")
        ("revoke-timeout-ms", po::value(&s.revoke_timeout_ms)->default_value(s.revoke_timeout_ms), "on a rebalance, the longest wait for in-flight events before giving partitions up")
        ("sink", po::value(&s.sink)->default_value(s.sink), "trigger sink: ndjson (--output) | kafka (--trigger-topic) | webhook (--webhook-url)")
        ("webhook-url", po::value(&s.webhook_url), "http://HOST:PORT/PATH that triggers are POSTed to (--sink webhook), NDJSON batches; after retries, to the dead-letter output")
        ("webhook-one-by-one", po::bool_switch(&s.webhook_one_by_one), "one request per trigger instead of NDJSON batches")
        ("trigger-topic", po::value(&s.trigger_topic)->default_value(s.trigger_topic), "Kafka topic of the triggers (--sink kafka)")
        ("dead-letter-topic", po::value(&s.dead_letter_topic), "Kafka topic of the dead letters (reason in header rtcrm-reason); default: --dead-letter")
        ("maintenance-topic", po::value(&s.maintenance_topic)->default_value(s.maintenance_topic), "Kafka topic of the status messages (with --brokers); '' for none")
        ("maintenance-interval-ms", po::value(&s.maintenance_interval_ms)->default_value(s.maintenance_interval_ms), "between status messages")
        ("instance-id", po::value(&s.instance_id), "this instance's name in status messages (default host-pid)")
        ("handlers-topic", po::value(&s.handlers_topic), "compacted Kafka topic of Lua scripts (key = name, value = source, empty = delete) followed by every instance")
        (",X", po::value(&s.kafka_properties)->composing(), "librdkafka property key=value for every Kafka client (repeatable); secrets are masked in logs");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        fmt::print(stderr, "rtcrm-topology: {}\n{}", e.what(), (std::ostringstream{} << desc).str());
        return 2;
    }
    if (vm.count("help") != 0U) {
        std::cout << desc << '\n';
        return 0;
    }

    try {
        std::shared_ptr<rtcrm::lua_engine> engine;
        kafka_parts kafka;
        rtcrm::runtime rt{build(s, engine, kafka)};
        if (!kafka.properties.empty()) {
            fmt::print(stderr, "rtcrm-topology: kafka properties: {}\n", rtcrm::describe(kafka.properties));
        }

        // Status on the maintenance topic, and the group's handler scripts.
        std::unique_ptr<rtcrm::maintenance_reporter> reporter;
        std::unique_ptr<rtcrm::kafka_handler_feed> feed;
        if (!s.handlers_topic.empty()) {
            feed = std::make_unique<rtcrm::kafka_handler_feed>(
                rtcrm::handler_feed_options{.brokers = need_brokers(s, "--handlers-topic"), .topic = s.handlers_topic,
                                            .properties = kafka.properties},
                [&engine](const rtcrm::kafka_handler_feed::script_set& set) -> std::optional<std::string> {
                    std::vector<rtcrm::lua_script> scripts;
                    for (const auto& [name, source] : set) {
                        scripts.push_back({name, source});
                    }
                    if (auto r = engine->load(std::move(scripts)); !r) {
                        return r.error().reason;
                    }
                    return std::nullopt;
                },
                [&reporter](const std::string& why) {
                    if (reporter) {
                        reporter->report("handler_refused", {{"error", why}});
                    }
                });
        }
        if (!s.brokers.empty() && !s.maintenance_topic.empty()) {
            reporter = std::make_unique<rtcrm::maintenance_reporter>(
                rtcrm::maintenance_options{.brokers = s.brokers, .topic = s.maintenance_topic, .instance_id = s.instance_id,
                                           .interval = std::chrono::milliseconds(s.maintenance_interval_ms),
                                           .properties = kafka.properties},
                [&rt, &kafka, &engine, &feed] {
                    const auto stats = rt.stats();
                    rtcrm::maintenance_status m{.events_in = stats.events_in, .processed = stats.processed,
                                                .dead_lettered = stats.dead_lettered, .handler_errors = stats.handler_errors,
                                                .store_errors = stats.store_errors, .nacked = stats.nacked};
                    if (kafka.source != nullptr) {
                        const auto k = kafka.source->status();
                        m.assigned = k.assigned;
                        m.lag = k.lag;
                    }
                    if (engine) {
                        m.handlers_version = engine->version();
                    }
                    if (feed) {
                        m.handlers_digest = feed->digest();
                    }
                    return m;
                });
        }
        if (feed) {
            feed->start();  // the group's scripts are loaded before the first event
        }

        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        const auto start = std::chrono::steady_clock::now();
        rt.start();
        if (kafka.gateway != nullptr) {
            fmt::print(stderr, "rtcrm-topology: listening on {}:{}\n", s.listen.substr(0, s.listen.rfind(':')), kafka.gateway->port());
        }
        std::unique_ptr<rtcrm::admin_server> admin;
        if (!s.admin.empty()) {
            admin = std::make_unique<rtcrm::admin_server>(rtcrm::admin_options{.listen = s.admin, .token = admin_token(s)}, rt, engine);
            if (auto* gw = kafka.gateway) {
                admin->add_metrics([gw](std::string& out) {
                    const auto g = gw->stats();
                    out += fmt::format("# HELP rtcrm_gateway_events_accepted_total Events accepted by POST /events.\n"
                                       "# TYPE rtcrm_gateway_events_accepted_total counter\nrtcrm_gateway_events_accepted_total {}\n"
                                       "# HELP rtcrm_gateway_busy_total Requests answered 503 (queue full).\n"
                                       "# TYPE rtcrm_gateway_busy_total counter\nrtcrm_gateway_busy_total {}\n",
                                       g.accepted, g.busy);
                });
            }
            if (auto* ks = kafka.source) {
                admin->add_metrics([ks](std::string& out) {
                    const auto k = ks->status();
                    out += fmt::format("# HELP rtcrm_kafka_lag Messages behind the end of the assigned partitions.\n"
                                       "# TYPE rtcrm_kafka_lag gauge\nrtcrm_kafka_lag {}\n", k.lag);
                });
                admin->add_readiness([ks]() -> std::optional<std::string> {
                    if (ks->status().assigned.empty()) {
                        return "no Kafka partition assigned yet";
                    }
                    return std::nullopt;
                });
            }
            fmt::print(stderr, "rtcrm-topology: admin API on {}:{}\n", s.admin.substr(0, s.admin.rfind(':')), admin->port());
        }
        while (!rt.wait_for(std::chrono::milliseconds(100))) {
            if (stop_signal.load()) {
                rt.stop();
            }
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const auto stats = rt.stats();
        fmt::print(stderr, "rtcrm-topology: {} shards, store {}, {:.3f} s, {:.0f} events/s\nrtcrm-topology: {}\n", rt.shards(),
                   rt.store()->name(), seconds, seconds > 0 ? static_cast<double>(stats.events_in) / seconds : 0.0,
                   stats.summary());
        if (engine) {
            for (const auto& h : engine->stats()) {
                if (h.errors > 0 || h.disabled) {
                    fmt::print(stderr, "rtcrm-topology: {} '{}' ({}): {} errors{}; last: {}\n", h.kind, h.id, h.where, h.errors,
                               h.disabled ? ", disabled" : "", h.last_error);
                }
                if (h.kind == "campaign") {
                    fmt::print(stderr, "rtcrm-topology: campaign '{}': {} triggers, {} dry-run, suppressed: {} by cap, {} by rate, {} by kill switch\n",
                               h.id, h.triggers, h.shadow_triggers, h.suppressed_cap, h.suppressed_rate, h.suppressed_kill);
                }
            }
        }
        if (kafka.gateway != nullptr) {
            const auto g = kafka.gateway->stats();
            fmt::print(stderr, "rtcrm-topology: gateway: {} requests, {} events accepted, {} bad lines, {} answered 503\n",
                       g.requests, g.accepted, g.bad_lines, g.busy);
        }
        if (kafka.source != nullptr) {
            const auto k = kafka.source->status();
            fmt::print(stderr, "rtcrm-topology: kafka source: {} messages, {} rebalances, {} commits ({} failed)\n", k.messages,
                       k.rebalances, k.committed, k.commit_failures);
        }
        if (kafka.webhook) {
            const auto w = kafka.webhook->stats();
            fmt::print(stderr, "rtcrm-topology: webhook: {} requests, {} delivered, {} retries, {} given up\n", w.requests,
                       w.delivered, w.retries, w.given_up);
        }
        for (const auto* snk : {kafka.triggers.get(), kafka.dead_letters.get()}) {
            if (snk != nullptr) {
                const auto k = snk->stats();
                fmt::print(stderr, "rtcrm-topology: {}: {} produced, {} delivered, {} failed\n", snk->name(), k.produced,
                           k.delivered, k.failed);
            }
        }
        return stats.nacked == 0 ? 0 : 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "rtcrm-topology: {}\n", e.what());
        return 1;
    }
}
