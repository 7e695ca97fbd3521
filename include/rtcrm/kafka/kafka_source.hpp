/// @file kafka_source.hpp
/// Events from a Kafka topic, read as a member of a consumer group: run more instances
/// with the same `group` and Kafka shares the topic's partitions among them.
///
/// At-least-once: auto-commit is off; the source commits an offset only when the runtime
/// says every event below it is processed and its outputs acked (the safe position), so
/// a crash re-delivers at most what was in flight. Messages' keys, when present, are the
/// player keys (a producer keyed by player keeps each player on one partition).
///
/// Keys and values: a message's value is the event's bytes, unchanged (a null value is
/// the empty event, dead-lettered as a parse error). Its key is the player key, and routes
/// the event to its shard, when it is 1 to 256 bytes of UTF-8 without control characters.
/// Any other key (binary, not UTF-8, control characters, longer) is not used: it is
/// counted (`kafka_source_status::unused_keys`) and logged, and the event's key field
/// names the player, as for a message without a key. So a player key is always text that
/// triggers and dead letters can carry in JSON. Headers are not read.
///
/// Rebalances (eager by default; `partition.assignment.strategy=cooperative-sticky` makes
/// them incremental, and the source follows either): when partitions are revoked, the source waits up to `revoke_timeout` for
/// their in-flight events to complete, commits what is safe, and only then gives them up;
/// events still in flight after the wait are finished here but not committed (the new
/// owner reads them again). The shards then write back and drop the profiles they cache
/// for events of those partitions (`source_control::forget_profiles`), and again when a
/// partition comes back, so its players are read afresh from the store, with whatever the
/// partition's other owners wrote meanwhile. Newly assigned partitions start from the
/// committed offsets.
/// While the runtime's queues are full, the source pauses its partitions and keeps
/// answering the group (heartbeats, rebalances) from `idle()`.
///
/// Start positions (`start`): `committed` (the group's offsets; where there are none,
/// `auto.offset.reset`, default earliest), `earliest`, `latest`, or `timestamp`: replay
/// from the first message at or after `start_timestamp_ms` (Kafka's offsetsForTimes).
/// The start applies to the first assignment of each partition in this process; later
/// reassignments (after a rebalance) continue from the committed offsets.
///
/// Caveats:
/// - One topic per source; add one source per topic (they share a group fine).
/// - A durable profile store still keeps its own positions and skips replayed events
///   (see profile_store.hpp); a shared store across instances needs Cassandra.
/// - The mock cluster's first group join takes ~3 s; use `session.timeout.ms=6000` in tests.
///
/// Example:
/// @code
///   topology.add_source(std::make_unique<rtcrm::kafka_source>(rtcrm::kafka_source_options{
///       .brokers = "localhost:9092", .topic = "raw", .group = "crm"}));
/// @endcode
#pragma once

#include <rtcrm/core/source.hpp>
#include <rtcrm/kafka/kafka_properties.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rtcrm {

/// Where a partition starts the first time this process is assigned it.
enum class kafka_start : std::uint8_t { committed, earliest, latest, timestamp };

/// Parses "committed", "earliest", "latest" or a timestamp (ms since the epoch, or
/// ISO 8601 `YYYY-MM-DDTHH:MM:SS[.mmm]Z`) into `start` and `timestamp_ms`.
/// @throws rtcrm::error(invalid_config) for anything else.
void parse_kafka_start(std::string_view text, kafka_start& start, std::int64_t& timestamp_ms);

/// Options of `kafka_source`. An aggregate: use designated initialisers.
struct kafka_source_options {
    std::string brokers;                        ///< bootstrap.servers
    std::string topic;                          ///< the topic to read
    std::string group = "rtcrm";                ///< group.id
    kafka_start start = kafka_start::committed; ///< see the file comment
    std::int64_t start_timestamp_ms = 0;        ///< for kafka_start::timestamp
    bool key_from_message = true;               ///< a usable message key is the player key (else the JSON field)
    std::chrono::milliseconds revoke_timeout{5000};  ///< the longest wait for in-flight events on revoke
    kafka_properties properties;                ///< librdkafka consumer properties (they win over rtcrm's defaults)
    std::string name;                           ///< the source's name; default "kafka:<topic>"

    /// @throws rtcrm::error(invalid_config) naming the bad field.
    void validate() const;
};

/// What a `kafka_source` is doing, for status reports. A snapshot.
struct kafka_source_status {
    std::vector<std::int32_t> assigned;  ///< partitions assigned to this instance, ascending
    std::int64_t lag = 0;                ///< messages between the last read and the end, summed over `assigned` (-1 if unknown)
    std::uint64_t messages = 0;          ///< messages read since open
    std::uint64_t rebalances = 0;        ///< assignments and revocations seen
    std::uint64_t committed = 0;         ///< offset commits sent
    std::uint64_t commit_failures = 0;   ///< commits the broker refused (e.g. during a rebalance)
    std::uint64_t unused_keys = 0;       ///< message keys not used as player keys (binary, control characters, too long)
    bool paused = false;                 ///< partitions paused (the runtime's queues are full)
};

/// A consumer-group source. See the file comment.
class kafka_source final : public source {
public:
    /// @throws rtcrm::error(invalid_config) for bad options or properties.
    explicit kafka_source(kafka_source_options options);
    ~kafka_source() override;
    kafka_source(const kafka_source&) = delete;
    kafka_source& operator=(const kafka_source&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override;
    [[nodiscard]] bool resumable() const noexcept override { return true; }
    void attach(source_control& control) override;
    void open() override;
    poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) override;
    void commit(std::span<const source_position> positions) override;
    void idle() override;
    void close() override;
    void wakeup() override;

    /// Thread-safe snapshot (updated by the source's thread about once a second).
    [[nodiscard]] kafka_source_status status() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
