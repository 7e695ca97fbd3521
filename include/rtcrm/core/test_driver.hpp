/// @file test_driver.hpp
/// Pushes events through a topology synchronously, on the calling thread, and shows what
/// each stream received: unit tests for topologies, as Kafka Streams' TopologyTestDriver.
///
/// The driver runs the same stages as the runtime (parsing, ingest bolts, routing to
/// shards, shard bolts with profile caches, sinks, ack tracking), without threads or
/// queues. Each piped event is fully processed, and its outputs delivered to the sinks,
/// before `pipe` returns. Sinks that the topology bound still receive their outputs; the
/// driver also captures every stream itself.
///
/// Example:
/// @code
///   rtcrm::topology t;
///   t.add_shard_bolt(my_bolt_factory).with_options({.shards = 2});
///   rtcrm::topology_test_driver driver{std::move(t)};
///   driver.pipe(R"({"player_id":42,"type":"fight","ts":1,"data":{"result":"loss"}})");
///   auto triggers = driver.read(rtcrm::stream::main);   // bodies, oldest first
/// @endcode
///
/// Caveats: the topology's sources are ignored. Not thread-safe.
#pragma once

#include <rtcrm/core/runtime_stats.hpp>
#include <rtcrm/core/topology.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm {

/// Synchronous topology runner for tests. Not thread-safe; not copyable or movable.
class topology_test_driver {
public:
    /// @throws rtcrm::error as `runtime`'s constructor does.
    explicit topology_test_driver(topology topo);
    ~topology_test_driver();
    topology_test_driver(const topology_test_driver&) = delete;
    topology_test_driver& operator=(const topology_test_driver&) = delete;

    /// Processes one event (its bytes) completely. Its offset is the next in partition 0.
    void pipe(std::string bytes);
    /// Processes a record as given (with its key and origin; `origin.source` is 0).
    void pipe(record rec);

    /// The virtual clock of the players' timers: moves it to `ms` (event time; never back)
    /// and fires every timer due by then, as a watermark reaching `ms` does. Each `pipe`
    /// also moves it, to the event's `ts` (the event-time clock), and fires what is due.
    void advance_time(std::int64_t ms);
    /// The pending timers of `player` (as `profile_of` finds the profile).
    [[nodiscard]] std::vector<pending_timer> timers_of(const player_key& player) const;

    /// Output bodies received on `s` since the last `read` of it, oldest first.
    std::vector<std::string> read(stream s);
    /// The profile of `player` as the owning shard holds it (or, if it left the cache, as
    /// the store has it), or nullopt if never seen.
    [[nodiscard]] std::optional<profile> profile_of(const player_key& player) const;
    /// Writes dirty profiles to the store and flushes sinks, as the runtime's timers do.
    void flush();
    /// The safe position of partition `partition` of the (single) source, if any.
    [[nodiscard]] std::optional<std::int64_t> committed(std::int32_t partition = 0);
    /// The counters.
    [[nodiscard]] runtime_stats stats() const;

private:
    void fire_due();
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
