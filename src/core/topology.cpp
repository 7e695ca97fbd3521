#include "topology_defaults.hpp"

#include <rtcrm/core/error.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/ndjson_sink.hpp>
#include <rtcrm/core/output.hpp>
#include <rtcrm/core/runtime_stats.hpp>
#include <rtcrm/core/topology.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <thread>

namespace rtcrm {

std::string_view stream_name(stream s) noexcept {
    switch (s) {
    case stream::main: return "main";
    case stream::shadow: return "shadow";
    case stream::dead_letter: return "dead_letter";
    case stream::archive: return "archive";
    }
    return "unknown";
}

void runtime_options::validate() const {
    auto require = [](bool ok, const char* what) {
        if (!ok) {
            throw error(errc::invalid_config, fmt::format("runtime_options: {}", what));
        }
    };
    require(shards <= 1024, "shards must be at most 1024");
    require(batch_size > 0, "batch_size must be > 0");
    require(queue_batches > 0, "queue_batches must be > 0");
    require(max_in_flight >= batch_size, "max_in_flight must be >= batch_size");
    require(flush_interval.count() > 0, "flush_interval must be > 0");
    require(store_interval.count() > 0, "store_interval must be > 0");
    require(durable_store_interval.count() > 0, "durable_store_interval must be > 0");
    require(store_max_batch > 0, "store_max_batch must be > 0");
    require(commit_interval.count() > 0, "commit_interval must be > 0");
    require(drain_timeout.count() >= 0, "drain_timeout must be >= 0");
    require(stuck_after.count() >= 0, "stuck_after must be >= 0 (0 = no watchdog)");
    require(submit_capacity <= (std::size_t{1} << 24), "submit_capacity must be at most 16777216");
    require(expiry.profile_ttl.count() >= 0, "expiry.profile_ttl must be >= 0");
    require(expiry.history_ttl.count() >= 0, "expiry.history_ttl must be >= 0");
    require(ttl_sweep_interval.count() > 0, "ttl_sweep_interval must be > 0");
    parse.validate();
    require(shard_scheduling.policy != thread_policy::fifo ||
                (shard_scheduling.priority >= 1 && shard_scheduling.priority <= 99),
            "shard_scheduling.priority must be 1 to 99 with policy fifo");
}

std::uint32_t runtime_options::resolved_shards() const noexcept {
    if (shards > 0) {
        return shards;
    }
    const auto hw = std::thread::hardware_concurrency();
    return hw > 0 ? hw : 1;
}

topology& topology::add_source(std::unique_ptr<source> src) {
    if (!src) {
        throw error(errc::invalid_config, "topology: null source");
    }
    sources_.push_back(std::move(src));
    return *this;
}

topology& topology::add_ingest_bolt(bolt_factory factory) {
    if (!factory) {
        throw error(errc::invalid_config, "topology: empty ingest bolt factory");
    }
    ingest_bolts_.push_back(std::move(factory));
    return *this;
}

topology& topology::add_shard_bolt(bolt_factory factory) {
    if (!factory) {
        throw error(errc::invalid_config, "topology: empty shard bolt factory");
    }
    shard_bolts_.push_back(std::move(factory));
    return *this;
}

topology& topology::add_sink(stream on, std::shared_ptr<sink> snk) {
    if (!snk) {
        throw error(errc::invalid_config, "topology: null sink");
    }
    sinks_.emplace_back(on, std::move(snk));
    return *this;
}

topology& topology::with_store(std::shared_ptr<profile_store> store) {
    store_ = std::move(store);
    return *this;
}

topology& topology::with_options(runtime_options options) {
    options.validate();
    options_ = std::move(options);
    return *this;
}

namespace detail {

topology& with_defaults(topology& t) {
    if (!t.store()) {
        t.with_store(std::make_shared<memory_store>());
    }
    const bool has_dead_letter_sink = std::any_of(t.sinks().begin(), t.sinks().end(), [](const auto& bound) {
        return bound.first == stream::dead_letter;
    });
    if (!has_dead_letter_sink) {
        t.add_sink(stream::dead_letter, std::make_shared<ndjson_sink>(ndjson_sink_options{.path = "stderr"}));
    }
    return t;
}

}  // namespace detail

std::string runtime_stats::summary() const {
    std::string reasons;
    for (const auto& [code, n] : dead_lettered_by_reason) {
        reasons += fmt::format("{}{}={}", reasons.empty() ? "" : ",", errc_name(code), n);
    }
    return fmt::format("in={} processed={} dropped={} replayed={} dead_lettered={}{} outputs={} shadow={} nacked={} "
                       "handler_errors={} store_errors={} unstored={} cached={} evicted={} expired={} trimmed={} timers_fired={}",
                       events_in, processed, dropped, replayed, dead_lettered, reasons.empty() ? "" : " (" + reasons + ")",
                       outputs[static_cast<std::size_t>(stream::main)], outputs[static_cast<std::size_t>(stream::shadow)],
                       nacked, handler_errors, store_errors, unstored, cached_profiles, evicted_profiles, expired_profiles,
                       trimmed_profiles, timers_fired);
}

}  // namespace rtcrm
