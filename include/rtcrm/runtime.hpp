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
/// A host process (a game server) can also hand events in directly: with
/// `runtime_options::submit_capacity` set, `submit` takes records from any thread into a
/// bounded lock-free queue per shard (the host thread finds the event's shard, as a source
/// thread would; each queue holds its share of `submit_capacity`), never blocking longer
/// than the timeout it is given; each shard thread
/// takes them from its queue between the batches of the other sources, tracked and
/// acked like any source's records.
///
/// Caveats:
/// - Neither copyable nor movable; `start()` once. `stop()` (or the end of every
///   source) drains: every event already read or accepted by `submit` is processed and
///   its outputs flushed.
/// - The destructor calls `stop()`.
/// - `stop()` waits for the sinks to ack: do not call it on a thread a sink waits for
///   (the event loop a uv or Asio bridge delivers to); use `stop_async` there.
///
/// Example:
/// @code
///   rtcrm::runtime rt{std::move(topology)};
///   rt.start();
///   ...            // or rt.wait() until the sources end
///   rt.stop();
///   std::cerr << rt.stats().summary() << '\n';
/// @endcode
///
/// Submitting from a host thread:
/// @code
///   topology.with_options({.shards = 2, .submit_capacity = 65536});
///   rtcrm::runtime rt{std::move(topology)};
///   rt.start();
///   auto ev = rtcrm::event_builder{}.player(42).type("fight").field("result", "loss").build();
///   if (rt.submit(ev, std::chrono::milliseconds(5)) != rtcrm::submit_status::accepted) {
///       // full for 5 ms (or stopping): the host decides: drop it, retry later, or count it
///   }
/// @endcode
#pragma once

#include <rtcrm/runtime_stats.hpp>
#include <rtcrm/topology.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>

namespace rtcrm {

/// What `runtime::submit` did with an event.
enum class submit_status {
    accepted,  ///< queued: it will be processed, even if `stop()` follows at once
    full,      ///< the queue stayed full for the whole timeout: not taken (drop, retry or wait longer)
    stopped,   ///< the runtime is stopping or stopped: not taken
};

/// "accepted", "full" or "stopped".
std::string_view submit_status_name(submit_status s) noexcept;

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
    /// `stop()` on a thread of the runtime's own, then `on_stopped` on that thread; returns
    /// at once. For hosts whose event loop must keep running (delivering triggers, so that
    /// the drain completes) while the runtime stops. The destructor waits for it.
    void stop_async(std::function<void()> on_stopped = {});

    /// Hands one event to the runtime from any thread (needs
    /// `runtime_options::submit_capacity`). Waits at most `timeout` for room when the
    /// queue is full (zero: never waits). `rec` is moved from only when accepted, so the
    /// host may retry it. Submitting before `start()` is fine (up to the capacity).
    /// Malformed bytes are accepted and go to the dead-letter stream with their reason,
    /// like any source's. A record's `key`, when set, names the player (no scan of the
    /// bytes). @throws rtcrm::error(invalid_config) if submission is off.
    submit_status submit(record& rec, std::chrono::milliseconds timeout = {});
    /// The same for a temporary: not kept when refused.
    submit_status submit(record&& rec, std::chrono::milliseconds timeout = {}) { return submit(rec, timeout); }
    /// The same for JSON text (one event object).
    submit_status submit(std::string json, std::chrono::milliseconds timeout = {});
    /// Hands several events over, in order, waiting at most `timeout` in all. Returns how
    /// many were accepted: always a prefix of `records`, those moved from; the rest are
    /// untouched (full, or stopping). @throws rtcrm::error(invalid_config) if submission is off.
    std::size_t submit(std::span<record> records, std::chrono::milliseconds timeout = {});
    /// Events accepted by `submit` and not yet taken by the runtime.
    [[nodiscard]] std::size_t submit_queue_depth() const noexcept;

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
