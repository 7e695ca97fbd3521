/// @file source.hpp
/// Where events come from: Kafka, an HTTP gateway, a file, the host process, a generator.
///
/// The runtime runs each source on a thread of its own. It calls `poll` for batches of
/// records, parses and validates them, routes each event to the shard that owns its
/// player, and tracks every event until it is fully processed. Every `commit_interval`
/// it calls `commit` with the positions that are safe: every event at or below them is
/// processed and its outputs acked by the sinks. A Kafka source commits those offsets; a
/// file source remembers the byte offset; a generator ignores them.
///
/// Contract:
/// - `resume`, `attach` and `open` run on the thread that calls `runtime::start`; `poll`,
///   `commit`, `idle` and `close` run on the source's thread, and so do the calls a
///   source makes on its `source_control`.
/// - `poll` appends at most `max` records and blocks at most `timeout` when it has
///   none; it returns `poll_status::end` when no record will ever come again.
/// - Records of one partition come with increasing offsets.
/// - `wakeup` may be called from any thread to make a blocking `poll` return early.
///
/// Caveats: a source must not call back into the runtime.
#pragma once

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/source_position.hpp>

#include <chrono>
#include <span>
#include <string_view>
#include <vector>

namespace rtcrm {

/// What the runtime offers a source that must manage its partitions itself (a Kafka
/// consumer in a group: partitions are revoked and assigned while it runs). Use it only
/// on the source's thread (inside `poll`, `commit` or `idle`).
class source_control {
public:
    virtual ~source_control() = default;
    /// The current safe position of every partition that has one (completed events are
    /// retired first). Unlike `commit`, it answers now, e.g. before giving a partition up.
    [[nodiscard]] virtual std::vector<source_position> safe_positions() = 0;
    /// Events of `partition` read and not yet complete (0 for an unknown partition).
    [[nodiscard]] virtual std::size_t in_flight(std::int32_t partition) = 0;
    /// Stops tracking `partition` (revoked): its in-flight events still run and complete,
    /// but no position of it is reported again, and its next record (after a new
    /// assignment, from any offset) starts afresh.
    virtual void release(std::int32_t partition) = 0;
    /// Says that this process gave `partitions` up (revoked; call it once their in-flight
    /// events completed) or got them back (assigned again after a revoke). Every shard
    /// writes back, then drops, the profiles it caches that events of those partitions
    /// touched (a profile remembers the partitions of the events applied to it), so the
    /// next event of such a player reads its profile afresh from the store. Without it, an
    /// instance that gets a partition back would apply its events to the copies it cached
    /// before, and write those over the updates the partition's owner made meanwhile.
    /// Blocks until every shard did it, at most `timeout`; false if one did not answer in
    /// time (it still does it when it gets there).
    virtual bool forget_profiles(std::span<const std::int32_t> partitions, std::chrono::milliseconds timeout) = 0;
};

/// What `poll` says about the source after it returns.
enum class poll_status {
    more,  ///< call again
    end,   ///< the source is exhausted (end of file, generator done); records returned with it still count
};

/// A producer of records. See the contract above.
class source {
public:
    virtual ~source() = default;
    /// A stable name: it keys the committed positions (e.g. "ndjson", "kafka:raw").
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
    /// True if the source can restart after its committed positions (a file, a Kafka
    /// topic), so a durable store may use them to resume and to skip replayed events. A
    /// generator or an in-process queue is not resumable.
    [[nodiscard]] virtual bool resumable() const noexcept { return false; }
    /// True if the source ends by itself (a file, a generator): a runtime whose sources all
    /// end fires timers by event time only, unless told otherwise
    /// (`runtime_options::timer_clock`).
    [[nodiscard]] virtual bool bounded() const noexcept { return false; }
    /// Called before `open` with the positions a durable store kept for this source:
    /// produce only what comes after them. Only called when `resumable()`.
    virtual void resume(std::span<const source_position> positions) { (void)positions; }
    /// Called before `open` with the runtime's control of this source's partitions; it
    /// outlives the source's thread.
    virtual void attach(source_control& control) { (void)control; }
    /// Prepares to produce (open a file, join a group). @throws rtcrm::error on failure.
    virtual void open() {}
    /// Appends up to `max` records to `out`.
    virtual poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) = 0;
    /// Positions that are safe to commit (only partitions whose position moved).
    virtual void commit(std::span<const source_position> positions) { (void)positions; }
    /// Called instead of `poll`, every few milliseconds, while the runtime cannot take
    /// records (the shards' queues are full or a partition has `max_in_flight` events in
    /// flight): a source that must keep talking to its server (a group member's
    /// heartbeats and rebalances) does so here, without producing records.
    virtual void idle() {}
    /// Called once after the final commit.
    virtual void close() {}
    /// Makes a blocking `poll` return soon. Any thread.
    virtual void wakeup() {}
};

}  // namespace rtcrm
