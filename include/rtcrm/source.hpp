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
/// - `resume` and `open` run on the thread that calls `runtime::start`; `poll`, `commit`
///   and `close` run on the source's thread.
/// - `poll` appends at most `max` records and blocks at most `timeout` when it has
///   none; it returns `poll_status::end` when no record will ever come again.
/// - Records of one partition come with increasing offsets.
/// - `wakeup` may be called from any thread to make a blocking `poll` return early.
///
/// Caveats: a source must not call back into the runtime.
#pragma once

#include <rtcrm/event.hpp>
#include <rtcrm/profile_store.hpp>

#include <chrono>
#include <span>
#include <string_view>
#include <vector>

namespace rtcrm {

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
    /// Called before `open` with the positions a durable store kept for this source:
    /// produce only what comes after them. Only called when `resumable()`.
    virtual void resume(std::span<const source_position> positions) { (void)positions; }
    /// Prepares to produce (open a file, join a group). @throws rtcrm::error on failure.
    virtual void open() {}
    /// Appends up to `max` records to `out`.
    virtual poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) = 0;
    /// Positions that are safe to commit (only partitions whose position moved).
    virtual void commit(std::span<const source_position> positions) { (void)positions; }
    /// Called once after the final commit.
    virtual void close() {}
    /// Makes a blocking `poll` return soon. Any thread.
    virtual void wakeup() {}
};

}  // namespace rtcrm
