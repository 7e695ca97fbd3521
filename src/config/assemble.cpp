#include <rtcrm/cassandra/cassandra_store.hpp>
#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/core/duration.hpp>
#include <rtcrm/core/error.hpp>
#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/ndjson_sink.hpp>
#include <rtcrm/core/ndjson_source.hpp>
#include <rtcrm/core/validation_bolt.hpp>
#include <rtcrm/http/gateway_source.hpp>
#include <rtcrm/http/webhook_sink.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>
#include <rtcrm/kafka/kafka_source.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>
#include <rtcrm/lua/lua_engine.hpp>

namespace rtcrm {

namespace {

// validate() has checked every duration in use.
std::chrono::milliseconds duration(const std::string& text) { return parse_duration(text).value(); }


}  // namespace

assembled_topology assemble(const topology_config& s) {
    // Kinds, values and the rules between fields first, so nothing is half built when a
    // setting is wrong (a gateway bound, a Kafka client connected, ...).
    s.validate();
    assembled_topology a;
    auto& t = a.topology;
    for (const auto& kv : s.kafka_properties) {
        set_property(a.properties, kv);
    }

    if (s.source == "kafka") {
        kafka_source_options o{.brokers = s.brokers, .topic = s.topic, .group = s.group};
        parse_kafka_start(s.start, o.start, o.start_timestamp_ms);
        o.revoke_timeout = std::chrono::milliseconds(s.revoke_timeout_ms);
        o.properties = a.properties;
        auto src = std::make_unique<kafka_source>(std::move(o));
        a.kafka = src.get();
        t.add_source(std::move(src));
    } else if (s.source == "http") {
        gateway_options o{.listen = s.listen, .queue_capacity = s.http_queue};
        o.parse.key_field = s.key_field;
        o.parse.max_size = s.max_event_size;
        auto src = std::make_unique<gateway_source>(std::move(o));
        a.gateway = src.get();
        t.add_source(std::move(src));
    } else if (s.source == "generator") {
        t.add_source(std::make_unique<generator_source>(generator_options{
            .events = s.events, .players = s.players, .seed = s.seed, .rate = s.rate, .scenario = s.scenario}));
    } else {  // ndjson (validate() knows no other kind)
        t.add_source(std::make_unique<ndjson_source>(ndjson_source_options{.path = s.input}));
    }

    if (!s.schemas.empty()) {
        t.add_ingest_bolt(
            validation_bolt::factory({.schema_dir = s.schemas, .reject_unknown_types = s.reject_unknown}));
    }
    // A handlers topic needs an engine even without a script directory: the feed loads into it.
    if (!s.scripts.empty() || !s.handlers_topic.empty()) {
        a.engine = std::make_shared<lua_engine>(lua_options{.script_dir = s.scripts,
                                                            .watch = s.watch,
                                                            .instruction_budget = s.instruction_budget,
                                                            .call_deadline = duration(s.call_deadline),
                                                            .load_deadline = duration(s.load_deadline),
                                                            .call_memory_budget = s.call_memory_budget,
                                                            .memory_limit = s.memory_limit,
                                                            .max_consecutive_errors = s.max_consecutive_errors,
                                                            .max_error_share = s.max_error_share,
                                                            .max_failure_time_share = s.max_failure_time_share});
        for (const auto& id : s.disabled_campaigns) {
            a.engine->disable(id);
        }
        t.add_shard_bolt(a.engine->make_bolt_factory());
    }

    if (s.store == "lmdb") {
        t.with_store(std::make_shared<lmdb_store>(lmdb_options{.path = s.store_path, .sync = !s.store_no_sync}));
    } else if (s.store == "cassandra") {
        cassandra_options o{.hosts = parse_cassandra_hosts(s.cassandra_hosts),
                            .keyspace = s.keyspace,
                            .replication = s.cassandra_replication,
                            .username = s.cassandra_username,
                            .password = s.cassandra_password,
                            .consistency = parse_cassandra_consistency(s.cassandra_consistency).value()};
        if (!s.instance_id.empty()) {
            o.instance = s.instance_id;
        }
        o.event_ttl = std::chrono::duration_cast<std::chrono::seconds>(s.event_ttl.empty() ? std::chrono::milliseconds(0) : duration(s.event_ttl));
        t.with_store(std::make_shared<cassandra_store>(std::move(o)));
    } else {
        t.with_store(std::make_shared<memory_store>());
    }

    std::shared_ptr<sink> dead_letter_sink;
    if (!s.dead_letter_topic.empty()) {
        a.kafka_dead_letters = std::make_shared<kafka_sink>(
            kafka_sink_options{.brokers = s.brokers, .topic = s.dead_letter_topic, .properties = a.properties});
        dead_letter_sink = a.kafka_dead_letters;
    } else {
        dead_letter_sink = std::make_shared<ndjson_sink>(ndjson_sink_options{.path = s.dead_letter});
    }
    t.add_sink(stream::dead_letter, dead_letter_sink);
    if (s.sink == "kafka") {
        a.kafka_triggers = std::make_shared<kafka_sink>(
            kafka_sink_options{.brokers = s.brokers, .topic = s.trigger_topic, .properties = a.properties});
        t.add_sink(stream::main, a.kafka_triggers);
    } else if (s.sink == "webhook") {
        // Deliveries given up after the retries go to the dead-letter output.
        a.webhook = std::make_shared<webhook_sink>(
            webhook_options{.url = s.webhook_url, .batch = !s.webhook_one_by_one, .dead_letter = dead_letter_sink});
        t.add_sink(stream::main, a.webhook);
    } else {
        t.add_sink(stream::main, std::make_shared<ndjson_sink>(ndjson_sink_options{.path = s.output}));
    }
    if (!s.shadow.empty()) {
        t.add_sink(stream::shadow, std::make_shared<ndjson_sink>(ndjson_sink_options{.path = s.shadow}));
    }

    runtime_options options;
    options.shards = s.shards;
    options.shard_scheduling = {.policy = parse_thread_policy(s.shard_policy).value_or(thread_policy::inherit),
                                .priority = static_cast<int>(s.shard_priority)};
    options.cache_max_profiles = s.cache_max;
    options.parse.key_field = s.key_field;
    options.parse.max_size = s.max_event_size;
    if (!s.profile_ttl.empty()) {
        options.expiry.profile_ttl = duration(s.profile_ttl);
    }
    if (!s.history_ttl.empty()) {
        options.expiry.history_ttl = duration(s.history_ttl);
    }
    options.ttl_sweep_interval = duration(s.ttl_sweep_interval);
    options.drain_timeout = duration(s.drain_timeout);
    options.stuck_after = duration(s.stuck_after);
    t.with_options(options);
    return a;
}

}  // namespace rtcrm
