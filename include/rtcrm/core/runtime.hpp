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
/// A shard can get stuck: a bolt, a store or a sink that never returns holds its thread,
/// and a thread cannot be interrupted. The runtime makes that visible and survivable: each
/// shard publishes when its current step (a batch, a tick, a write-back) began and which
/// bolt, sink or store call it is in; a watchdog thread reports a shard busy longer than
/// `runtime_options::stuck_after` in the log (`rtcrm/core/log.hpp`: a warning of component
/// `runtime`), once per episode and again when it recovers, with what it is doing
/// (`bolt::activity()`, e.g. a Lua handler and its `file:line`); `shard_health()` and
/// `stuck_episodes()` give the same to the host (the admin API's /healthz, /readyz and
/// /metrics). `stop()` waits for a stuck shard no longer than the drain timeout (and a
/// second to settle): it returns a `stop_report` of what was not committed and what the
/// shard is doing.
///
/// A durable store whose writes fail is retried (with backoff) while the runtime runs:
/// the events wait unacked, `store_failure()` names the failure (the first time each
/// distinct reason is seen it is logged as an error of component `store`), and
/// `runtime_stats::store_errors` counts the attempts. At the drain deadline (the first
/// stop()'s, or `drain_timeout` after the last source ended) the writes still failing are
/// given up: those events are counted as `runtime_stats::unstored` and in the
/// `stop_report`, and not committed.
///
/// Caveats:
/// - Neither copyable nor movable; `start()` once. `stop()` (or the end of every
///   source) drains: every event already read or accepted by `submit` is processed and
///   its outputs flushed.
/// - The destructor calls `stop()`. If a shard is still stuck then, the destructor does
///   not wait for it: it leaves the thread running and the runtime's own state allocated
///   (see `~runtime`); the host should report and end the process.
/// - `stop()` waits for the sinks to ack: do not call it on a thread a sink waits for
///   (the event loop a uv or Asio bridge delivers to); use `stop_async` there.
///
/// Example:
/// @code
///   rtcrm::runtime rt{std::move(topology)};
///   rt.start();
///   ...            // or rt.wait() until the sources end
///   if (const auto report = rt.stop(); !report.stopped) {
///       std::cerr << report.summary();  // a shard is stuck: say what was lost, then end the process
///   }
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

#include <rtcrm/core/result.hpp>
#include <rtcrm/core/runtime_stats.hpp>
#include <rtcrm/core/submit_status.hpp>
#include <rtcrm/core/topology.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace rtcrm {

/// What one shard is doing, as `runtime::shard_health` saw it (a snapshot).
struct shard_health {
    std::uint32_t shard = 0;                ///< the shard's index
    bool stuck = false;                     ///< its current step has run longer than `runtime_options::stuck_after`
    bool finished = false;                  ///< its thread has ended (the pipeline drained)
    std::chrono::milliseconds busy_for{0};  ///< how long its current step has run; 0 while it waits for work
    /// What that step is doing, "" while it waits for work: the part of the step (a bolt, a
    /// sink, the store) and, from the first bolt whose `bolt::activity()` answers, the
    /// bolt's name and answer; e.g. "shard bolt 'crm': updater 'fight-stats'
    /// (fight_stats.lua:3), at fight_stats.lua:7" or "sink 'webhook' (stream main)".
    std::string doing;
};

/// What a source had left undone when `runtime::stop` returned.
struct source_drain {
    std::string name;        ///< the source's name
    bool closed = false;     ///< its thread ended: it stopped waiting, committed what completed and closed the source
    std::uint64_t read = 0;  ///< records it read (for "submit": accepted and taken by a shard)
    /// Read and still in flight when it stopped waiting, so not committed: per partition,
    /// the oldest incomplete event and every one after it, plus records read at stop and
    /// never handed on (for "submit": accepted and never taken by a shard).
    std::uint64_t unacked = 0;
    /// Read and failed (given up at stop, or a sink or the store gave up): the committed
    /// position stays below each (they may be among `unacked` too).
    std::uint64_t nacked = 0;
    /// Why the source ended early: the error its `poll` threw (a read failed), "" if it
    /// did not fail. What it read before was processed as usual.
    std::string failure;
};

/// What `runtime::stop` achieved, and what it left undone.
struct stop_report {
    /// Every thread of the runtime finished and the sinks were closed. False: a shard (or
    /// a source) is still running, stuck; see `unfinished`.
    bool stopped = true;
    std::vector<source_drain> sources;     ///< one per source, in the topology's order
    std::vector<shard_health> unfinished;  ///< the shards whose thread was still running, and what each was doing
    /// Events read and not yet processed, dropped or dead-lettered by a shard (those of a
    /// stuck step included) when stop() returned.
    std::uint64_t in_flight = 0;
    /// Events processed whose profile writes a durable store never took: its writes kept
    /// failing until the drain deadline, so they were given up (nacked, not committed:
    /// they come again after a restart). `store_failure` is the store's last reason.
    std::uint64_t unstored = 0;
    std::string store_failure;

    /// True when nothing was left undone: stopped, nothing unstored, and no source failed
    /// or has unacked or nacked events.
    [[nodiscard]] bool clean() const noexcept;
    /// Lines for a log, each ending in a newline: the shards still running and what they
    /// are doing, the events not stored and why, then per source why it failed and what
    /// was not committed; "" when `clean()`.
    [[nodiscard]] std::string summary() const;
};

/// A running topology. Thread-safe: `stop`, `wait`, `stats` may be called from any thread.
class runtime {
public:
    /// Builds the stages (bolt instances, stores, queues) but starts no thread.
    /// @throws rtcrm::error(errc::invalid_config) for a topology without sources or bad options,
    ///         or whatever a bolt factory throws.
    explicit runtime(topology topo);
    /// Calls `stop()`, then releases everything. If a thread is still stuck (stop()
    /// returned `stopped == false`), it cannot be joined or interrupted: the destructor
    /// detaches the runtime's threads and leaves the runtime's own state (stages, bolts,
    /// queues, trackers) allocated, so that thread never touches freed memory; the sinks
    /// and the store it may be calling stay alive too. The host should end the process.
    ~runtime();
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;
    runtime(runtime&&) = delete;
    runtime& operator=(runtime&&) = delete;

    /// Opens the sources and starts the threads. @throws rtcrm::error if a source fails to open.
    void start();
    /// Asks the sources to stop, drains everything in flight, flushes sinks and the
    /// store, commits the final positions, joins the threads and closes the sinks.
    /// Bounded: the sources wait at most `runtime_options::drain_timeout` (from the first
    /// call) for what they read to complete, then commit what did and close. A shard that
    /// still has not finished its step is stuck; stop() then returns (at most a second
    /// after the drain timeout) with `stopped == false`, what each unfinished shard is
    /// doing and what was not committed, leaving that thread running and the sinks open
    /// (the thread may still be in them). After a clean drain it also waits for the sinks'
    /// `close()`. Idempotent: a later call waits again up to the same deadline, and
    /// finishes the stop if every thread has ended by then. Any thread.
    stop_report stop();
    /// Blocks until every source has ended and the pipeline has drained, or until a
    /// `stop()` has given up on a stuck shard. Without a `stop()`, it blocks as long as a
    /// shard is stuck: a host that must not hang uses `wait_for` and `shard_health`.
    void wait();
    /// `wait()` with a limit; true if it returned within it (finished, or stop() gave up).
    bool wait_for(std::chrono::milliseconds timeout);
    /// `start()` then `wait()`.
    void run();
    /// `stop()` on a thread of the runtime's own, then `on_stopped` on that thread; returns
    /// at once. For hosts whose event loop must keep running (delivering triggers, so that
    /// the drain completes) while the runtime stops. The destructor waits for it (a
    /// stop() is bounded: see `stop`).
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
    /// Each shard's current step and whether it is stuck (see `runtime_options::stuck_after`),
    /// one entry per shard in index order. Asks the bolts of busy shards for their
    /// `activity()`; reads only atomics otherwise. Any thread, any time (before `start()`
    /// every shard is idle).
    [[nodiscard]] std::vector<rtcrm::shard_health> shard_health() const;
    /// Stuck episodes so far: each time a shard's step passed `stuck_after`, as the watchdog
    /// noticed it (it looks every stuck_after / 4, at most every 250 ms). Any thread.
    [[nodiscard]] std::uint64_t stuck_episodes() const noexcept;
    /// The profile store.
    [[nodiscard]] const std::shared_ptr<profile_store>& store() const noexcept;
    /// While a durable store's writes fail (from a failed group commit to the next one
    /// that succeeds; the events wait unacked meanwhile): the failed attempts in a row and
    /// the store's last reason, e.g. "store lmdb: 12 write attempt(s) failed in a row;
    /// ...; last: lmdb_store /data: write: No space left on device ...". nullopt while
    /// the store works (and always for a volatile store). The admin API's /readyz
    /// answers 503 with it. Any thread.
    [[nodiscard]] std::optional<std::string> store_failure() const;

    /// A player's current profile, as its shard holds it (asked on the shard's thread,
    /// between two batches), else as the store has it; nullopt for an unknown player.
    /// @throws rtcrm::error(timeout) if the shard does not answer within `timeout`, or
    ///         error(store_error) if the store fails.
    [[nodiscard]] std::optional<profile> profile_of(const player_key& key,
                                                    std::chrono::milliseconds timeout = std::chrono::seconds(5));
    /// Visits every profile once, on the calling thread, while the shards keep processing
    /// events: first the shards' profiles not yet in the store (each shard copies its
    /// dirty ones between two batches; visitor `make(shard)`), then the store's
    /// (`scan_parallel` with `store_workers` workers, visitors `make(shards() + w)`),
    /// skipping the keys already visited. With a durable store it first waits until the
    /// write-backs the shards had handed to the committer are written. A visitor
    /// returning false stops its own part. Profiles changed during the scan may be seen
    /// in either version. Fails with `errc::timeout` if a shard does not answer (or the
    /// committer does not catch up) within `timeout`, or with the store's failure (its
    /// code and reason).
    result<void> scan_profiles(const visitor_factory& make, std::size_t store_workers,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
