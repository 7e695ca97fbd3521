// assemble(): the source, store and sinks are built by the registrations of their kinds
// (source_kinds.cpp, store_kinds.cpp, sink_kinds.cpp); what every topology has is here.
#include "config/schema.hpp"

#include <rtcrm/archive/archive_bolt.hpp>
#include <rtcrm/archive/archive_sink.hpp>
#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/core/validation_bolt.hpp>
#include <rtcrm/lua/lua_engine.hpp>

namespace rtcrm {

assembled_topology assemble(const topology_config& c) {
    // Kinds, values and the rules between fields first, so nothing is half built when a
    // setting is wrong (a gateway bound, a Kafka client connected, ...).
    c.validate();
    assembled_topology a;
    auto& t = a.topology;
    for (const auto& kv : c.kafka.properties) {
        set_property(a.properties, kv);
    }

    detail::registered(detail::source_kinds(), c.source.kind).build(c, a);

    if (!c.validation.schemas.empty()) {
        t.add_ingest_bolt(validation_bolt::factory(
            {.schema_dir = c.validation.schemas, .reject_unknown_types = c.validation.reject_unknown_types}));
    }
    // After validation: the archive holds exactly the events that passed it.
    if (!c.archive.dir.empty()) {
        t.add_ingest_bolt(archive_bolt::factory());
        t.add_sink(stream::archive, std::make_shared<archive_sink>(archive_sink_options{.dir = c.archive.dir,
                                                                                        .sync = c.archive.sync,
                                                                                        .keep = c.archive.keep,
                                                                                        .flush_interval =
                                                                                            c.archive.flush_interval}));
    }
    // A handlers topic needs an engine even without a script directory: the feed loads into it.
    if (detail::uses_engine(c)) {
        const auto& g = c.scripts.guards;
        a.engine = std::make_shared<lua_engine>(lua_options{.script_dir = c.scripts.dir,
                                                            .watch = c.scripts.watch,
                                                            .instruction_budget = g.instruction_budget,
                                                            .call_deadline = g.call_deadline,
                                                            .load_deadline = g.load_deadline,
                                                            .call_memory_budget = g.call_memory_budget,
                                                            .memory_limit = g.memory_limit,
                                                            .max_consecutive_errors = g.max_consecutive_errors,
                                                            .max_error_share = g.max_error_share,
                                                            .max_failure_time_share = g.max_failure_time_share});
        for (const auto& id : g.disabled_campaigns) {
            a.engine->disable(id);
        }
        t.add_shard_bolt(a.engine->make_bolt_factory());
    }

    t.with_store(detail::registered(detail::store_kinds(), c.store.kind).build(c));

    const auto& sinks = c.sinks;
    const auto dead_letters =
        detail::registered(detail::dead_letter_sink_kinds(), sinks.dead_letters.kind).build(c, a, nullptr);
    t.add_sink(stream::dead_letter, dead_letters);
    t.add_sink(stream::main,
               detail::registered(detail::trigger_sink_kinds(), sinks.triggers.kind).build(c, a, dead_letters));
    if (auto shadow = detail::registered(detail::shadow_sink_kinds(), sinks.shadow.kind).build(c, a, dead_letters)) {
        t.add_sink(stream::shadow, std::move(shadow));
    }

    runtime_options options;
    options.shards = c.shards;
    options.shard_scheduling = {.policy = c.shard_policy, .priority = static_cast<int>(c.shard_priority)};
    options.cache_max_profiles = c.store.cache_max_profiles;
    options.parse.key_field = c.parse.key_field;
    options.parse.max_size = c.parse.max_event_size;
    options.parse.max_lead = c.parse.max_event_lead;
    options.parse.max_age = c.parse.max_event_age;
    if (c.store.profile_ttl) {
        options.expiry.profile_ttl = *c.store.profile_ttl;
    }
    if (c.store.history_ttl) {
        options.expiry.history_ttl = *c.store.history_ttl;
    }
    options.ttl_sweep_interval = c.store.ttl_sweep_interval;
    options.drain_timeout = c.drain_timeout;
    options.stuck_after = c.stuck_after;
    options.timer_clock = c.timer_clock;
    options.timer_lateness = c.timer_lateness;
    options.idle_partition = std::chrono::milliseconds{static_cast<std::int64_t>(c.idle_partition_ms)};
    t.with_options(options);
    return a;
}

}  // namespace rtcrm
