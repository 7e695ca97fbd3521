/// @file runtime.hpp
/// Runs a topology: a thread per source, a thread per shard, bounded queues between them.
///
/// Each source thread polls its source, finds each record's player key with a cheap scan
/// of its bytes, and routes it (murmur2, as Kafka's partitioner) to the shard that owns
/// the player, so one player's events are processed in order. Each shard thread parses
/// its records, runs the ingest bolts (validation), loads profiles and runs the shard
/// bolts; it owns its bolts, its profile cache and its buffers: nothing on the per-event
/// path takes a lock, and parsing and validation scale with the shard count. Queues are bounded: a slow sink blocks its shard, the
/// shard's queues fill, and the sources wait, so memory stays bounded.
///
/// Every event is tracked from the moment it is read until it is processed and every
/// output it caused is acked by its sinks; sources are told the positions that are safe
/// to commit (see source.hpp and ack.hpp).
///
/// Caveats:
/// - Neither copyable nor movable; `start()` once. `stop()` (or the end of every
///   source) drains: every event already read is processed and its outputs flushed.
/// - The destructor calls `stop()`.
///
/// Example:
/// @code
///   rtcrm::runtime rt{std::move(topology)};
///   rt.start();
///   ...            // or rt.wait() until the sources end
///   rt.stop();
///   std::cerr << rt.stats().summary() << '\n';
/// @endcode
#pragma once

#include <rtcrm/runtime_stats.hpp>
#include <rtcrm/topology.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <system_error>

namespace rtcrm {

/// A running topology. Thread-safe: `stop`, `wait`, `stats` may be called from any thread.
class runtime {
public:
    /// Builds the stages (bolt instances, stores, queues) but starts no thread.
    /// @throws rtcrm::error(errc::invalid_config) for a topology without sources or bad options,
    ///         or whatever a bolt factory throws.
    explicit runtime(topology topo);
    ~runtime();
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;
    runtime(runtime&&) = delete;
    runtime& operator=(runtime&&) = delete;

    /// Opens the sources and starts the threads. @throws rtcrm::error if a source fails to open.
    void start();
    /// Asks the sources to stop, drains everything in flight, flushes sinks and the
    /// store, commits the final positions, and joins the threads. Idempotent.
    void stop();
    /// Blocks until every source has ended and the pipeline has drained (or `stop()`).
    void wait();
    /// `wait()` with a limit; true if it finished.
    bool wait_for(std::chrono::milliseconds timeout);
    /// `start()` then `wait()`.
    void run();

    /// A snapshot of the counters.
    [[nodiscard]] runtime_stats stats() const;
    /// The number of shards.
    [[nodiscard]] std::uint32_t shards() const noexcept;
    /// The profile store.
    [[nodiscard]] const std::shared_ptr<profile_store>& store() const noexcept;

    /// A player's current profile, as its shard holds it (asked on the shard's thread,
    /// between two batches), else as the store has it; nullopt for an unknown player.
    /// @throws rtcrm::error(timeout) if the shard does not answer within `timeout`, or
    ///         error(store_error) if the store fails.
    [[nodiscard]] std::optional<profile> profile_of(const player_key& key,
                                                    std::chrono::milliseconds timeout = std::chrono::seconds(5));
    /// Visits every profile once: those the shards hold (on their threads, visitor
    /// `make(shard)`, pausing their events meanwhile), then the stored ones no shard
    /// holds (`scan_parallel` with `store_workers` workers, visitors `make(shards() + w)`).
    /// A visitor returning false stops its own part. Profiles written meanwhile may be seen
    /// in either version.
    std::error_code scan_profiles(const visitor_factory& make, std::size_t store_workers,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
