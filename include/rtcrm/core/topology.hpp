/// @file topology.hpp
/// Describes a pipeline: sources, ingest bolts, shard bolts, sinks per stream, the
/// profile store and the runtime options. A `runtime` (runtime.hpp) runs it; a
/// `topology_test_driver` (test_driver.hpp) pushes events through it synchronously.
///
/// @code
///   rtcrm::topology t;
///   t.add_source(std::make_unique<rtcrm::ndjson_source>(rtcrm::ndjson_source_options{.path = "events.ndjson"}))
///    .add_ingest_bolt(rtcrm::validation_bolt::factory({.schema_dir = "schemas"}))
///    .add_shard_bolt([](const rtcrm::bolt_placement&) { return std::make_unique<my_bolt>(); })
///    .add_sink(rtcrm::stream::main, std::make_shared<rtcrm::ndjson_sink>(rtcrm::ndjson_sink_options{.path = "-"}))
///    .with_options({.shards = 4});
///   rtcrm::runtime rt{std::move(t)};
///   rt.run();
/// @endcode
///
/// Caveats: a topology is a description; it is consumed (moved) by the runtime or test
/// driver. With no sink on `stream::dead_letter`, dead letters go to standard error, so
/// nothing is ever lost silently; with no sink on `main` or `shadow`, their outputs are
/// acked and discarded.
#pragma once

#include <rtcrm/core/bolt.hpp>
#include <rtcrm/core/event.hpp>
#include <rtcrm/core/output.hpp>
#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/profile_store.hpp>
#include <rtcrm/core/sink.hpp>
#include <rtcrm/core/source.hpp>
#include <rtcrm/core/thread_scheduling.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rtcrm {

/// How the runtime runs a topology. An aggregate: set fields with designated initialisers.
/// What advances the clock of the players' timers (runtime_options::timer_clock).
enum class timer_clock_mode : std::uint8_t { automatic, event, wall };

struct runtime_options {
    std::uint32_t shards = 0;                        ///< shard threads; 0 = std::thread::hardware_concurrency()
    std::size_t batch_size = 256;                    ///< records per poll, and the most events per queue hand-off
    std::size_t queue_batches = 64;                  ///< capacity of each source→shard queue, in batches
    std::size_t max_in_flight = 1 << 16;             ///< in-flight events per source partition (then the source waits)
    std::chrono::milliseconds flush_interval{10};    ///< how often shards flush sinks, call bolt ticks and check the store timers
    std::chrono::milliseconds store_interval{1000};  ///< how often shards write dirty profiles back to a volatile store (copied while they idle)
    std::chrono::milliseconds durable_store_interval{10};  ///< group-commit interval with a durable store (acks wait for it)
    std::size_t store_max_batch = 4096;              ///< durable store: a shard with this many dirty profiles writes back at once (a volatile store gets its rounds by store_interval only)
    std::size_t cache_max_profiles = 0;              ///< per shard: past this, least recently used profiles leave the cache (down to 90%, after a write-back); 0 = unbounded
    std::chrono::milliseconds commit_interval{200};  ///< how often sources get their safe positions
    /// At stop (from the first `runtime::stop`), or once every source has ended, the longest
    /// wait for in-flight acks; a durable store's writes still failing then are given up
    /// (the events are counted as `runtime_stats::unstored` and not committed).
    std::chrono::milliseconds drain_timeout{30000};
    /// A shard whose current step (a batch, a tick, a write-back) has run this long is
    /// *stuck*: `runtime::shard_health` says so and what it is doing, a watchdog reports
    /// each such episode (and its end) in the log (`rtcrm/core/log.hpp`), the admin API's /readyz fails.
    /// Longer than any batch should take, including a slow store or sink's worst case; 0 =
    /// no watchdog (shard_health still reports how long each step has run).
    std::chrono::milliseconds stuck_after{5000};
    /// Events the in-process submit queues hold together (`runtime::submit` from host
    /// threads): one queue per shard, each with its share (rounded up to a power of two),
    /// so one player's events can fill only their shard's share; 0 = no in-process submission. With it on, the runtime runs until `stop()` (the host
    /// may always submit more), and a topology needs no other source.
    std::size_t submit_capacity = 0;
    struct parse_options parse;                      ///< how bytes become events (key field, size limit)
    profile_limits limits;                           ///< profile ring and bucket sizes
    bool record_history = true;                      ///< append each processed event to its profile's recent ring
    /// TTLs in event time (profile_store.hpp): a profile inactive longer than
    /// `expiry.profile_ttl` starts afresh at its next event (checked by the shards as they
    /// take it, so a replay gives the same answer) and is deleted from the store by a
    /// background sweep every `ttl_sweep_interval`, which also drops history older than
    /// `expiry.history_ttl`. "Now" is the newest event time the shards have seen.
    expiry_policy expiry;
    std::chrono::milliseconds ttl_sweep_interval{60000};
    /// The players' timers (profile.hpp) fire by the event-time watermark: per source, the
    /// highest `ts` read (with partitions: the lowest of the partitions' highest, leaving
    /// out partitions with nothing new for `idle_partition`), minus `timer_lateness`,
    /// carried to every shard in order with the records. A timer due at T fires before any
    /// record read after the watermark reached T. `wall` also advances the clock with the
    /// wall clock (minus the lateness), so timers fire when no event arrives; `event` only
    /// by the watermark (exact under replay); `automatic`: `event` when every source ends
    /// by itself (`source::bounded`: a file, a generator), else `wall`.
    timer_clock_mode timer_clock = timer_clock_mode::automatic;
    std::chrono::milliseconds timer_lateness{0};
    std::chrono::milliseconds idle_partition{5000};
    /// The most timer events a shard fires between two batches of records, so a million
    /// timers due at once never hold a player's events for long.
    std::size_t timer_batch = 256;
    /// How the kernel schedules the shard threads (thread_scheduling.hpp): by default as the
    /// thread calling `start()`; `fifo` or `batch` for a shorter latency tail on a busy
    /// machine, with the host's own pipeline threads at the same level. `start()` throws
    /// if the kernel refuses it.
    thread_scheduling shard_scheduling;

    /// @throws rtcrm::error(errc::invalid_config) naming the bad field.
    void validate() const;
    /// The shard count after resolving 0 to the hardware thread count.
    [[nodiscard]] std::uint32_t resolved_shards() const noexcept;
};

/// A pipeline description. Move-only (it owns its sources).
class topology {
public:
    topology() = default;
    topology(topology&&) noexcept = default;
    topology& operator=(topology&&) noexcept = default;

    /// Adds a source; each runs on a thread of its own. Its index is its order here.
    topology& add_source(std::unique_ptr<source> src);
    /// Adds a bolt that runs on each shard first, before profiles are loaded (validation, filters).
    topology& add_ingest_bolt(bolt_factory factory);
    /// Adds a bolt that runs on each shard, after routing, with profile access.
    topology& add_shard_bolt(bolt_factory factory);
    /// Binds a sink to a stream. A stream may have several sinks (each gets every output);
    /// a sink may serve several streams.
    topology& add_sink(stream on, std::shared_ptr<sink> snk);
    /// Sets the profile store (default: a new memory_store).
    topology& with_store(std::shared_ptr<profile_store> store);
    /// Sets the runtime options.
    topology& with_options(runtime_options options);

    // Read by the runtime and the test driver.
    [[nodiscard]] std::vector<std::unique_ptr<source>>& sources() noexcept { return sources_; }
    [[nodiscard]] const std::vector<bolt_factory>& ingest_bolts() const noexcept { return ingest_bolts_; }
    [[nodiscard]] const std::vector<bolt_factory>& shard_bolts() const noexcept { return shard_bolts_; }
    [[nodiscard]] const std::vector<std::pair<stream, std::shared_ptr<sink>>>& sinks() const noexcept { return sinks_; }
    [[nodiscard]] const std::shared_ptr<profile_store>& store() const noexcept { return store_; }
    [[nodiscard]] const runtime_options& options() const noexcept { return options_; }

private:
    std::vector<std::unique_ptr<source>> sources_;
    std::vector<bolt_factory> ingest_bolts_;
    std::vector<bolt_factory> shard_bolts_;
    std::vector<std::pair<stream, std::shared_ptr<sink>>> sinks_;
    std::shared_ptr<profile_store> store_;
    runtime_options options_;
};

}  // namespace rtcrm
