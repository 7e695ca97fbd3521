/// @file kafka_sink.hpp
/// Outputs to a Kafka topic: triggers to `crm_trigger`, dead letters to a dead-letter
/// topic, each bound to its stream in the topology.
///
/// Each output is one message, keyed by the player id (Kafka's murmur2 partitioner, as
/// the Java client, so one player's messages share a partition and stay in order). The
/// producer is idempotent, so librdkafka's retries neither duplicate nor reorder.
/// Messages are batched by librdkafka (`linger.ms`, default 5 ms here). An output's ack
/// share completes on its delivery report: the causing event is committed only after
/// every message it caused is on the broker. A trigger that cannot be delivered (after
/// librdkafka's retries, `message.timeout.ms`) nacks its event, whose position then
/// stays uncommitted; a dead letter is cut to fit or written to a fallback file (below).
///
/// Dead-letter outputs carry their reason in a header (`rtcrm-reason: schema_violation`),
/// so a consumer can filter without parsing the body. Triggers carry their `trigger_id`
/// (core/trigger_id.hpp) in a header too (`rtcrm-trigger-id: 3:42:e:e-1`): delivery is
/// at least once (an event read again after a crash or a rebalance emits its triggers
/// again, with the same ids), so a consumer deduplicates on it.
///
/// A dead letter never pins its partition: it is always delivered, cut if need be, or
/// kept in a local fallback file, and only then acked.
/// - Size. A dead letter larger than the producer's `message.max.bytes` (librdkafka's
///   default: 1,000,000) is cut before it is sent: its record keeps every member but
///   the raw event, whose text is cut to the longest prefix that fits (at a UTF-8
///   character, or at a whole base64 group for "raw_base64"), and it gains
///   `"truncated":true,"original_size":N` (N: the raw event's size in bytes); the
///   message gains the headers `rtcrm-truncated: true` and `rtcrm-original-size: N`. The
///   record is cut to `message.max.bytes` minus the key, the headers (the two above
///   counted even when absent) and 1024 bytes for Kafka's framing. When the broker
///   refuses a dead letter for its size anyway (`MSG_SIZE_TOO_LARGE`,
///   `RECORD_LIST_TOO_LARGE`: the topic's `max.message.bytes` is smaller), it is sent
///   again cut to half the refused size, up to 16 times, and later dead letters start
///   at that size.
/// - Fallback. A dead letter that cannot be delivered at all goes to `fallback_path`:
///   one JSON line appended and fsync'd, then its share is acked. That is the case for
///   a permanent error (any error but those below: unknown topic or partition after
///   librdkafka's wait, authorization, invalid record, a fatal producer error...), a
///   record that does not fit even with an empty raw event (a huge key, or a record
///   without a raw member), 16 size refusals, and size retries still waiting at close.
/// - Transient errors still nack, so the event is read again once the broker is back:
///   timeouts (`message.timeout.ms`: librdkafka retried until then), transport and
///   broker availability errors (`__TRANSPORT`, `__ALL_BROKERS_DOWN`,
///   `NOT_ENOUGH_REPLICAS`, `NOT_LEADER_FOR_PARTITION`, ...), and purges at close. So do
///   a failed write of the fallback file and an empty `fallback_path`.
/// Triggers (stream main and shadow) are never cut nor written to the file: an
/// undeliverable trigger nacks its event.
///
/// Fallback file line (NDJSON, one per dead letter):
/// @code
///   {"time_ms":1763800000000,"topic":"crm_dead_letter","key":"7","error":"Broker: Topic authorization failed",
///    "record":{"reason":"parse_error","detail":"...","source":"kafka:raw","partition":0,"offset":12,"raw":"..."}}
/// @endcode
/// `key_base64` replaces `key` for a key that is not UTF-8; `record_text` (or
/// `record_base64`) replaces `record` for a record that is not JSON.
///
/// Caveats:
/// - `consume` blocks while librdkafka's queue is full (`queue.buffering.max.messages`):
///   that is the backpressure on the shards.
/// - `close` (called by the runtime at stop) waits up to `close_timeout` for the
///   outstanding deliveries, then gives up on the rest (nacked).
///
/// Example:
/// @code
///   auto triggers = std::make_shared<rtcrm::kafka_sink>(rtcrm::kafka_sink_options{
///       .brokers = "localhost:9092", .topic = "crm_trigger"});
///   topology.add_sink(rtcrm::stream::main, triggers);
/// @endcode
#pragma once

#include <rtcrm/core/sink.hpp>
#include <rtcrm/kafka/kafka_properties.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace rtcrm {

/// Options of `kafka_sink`. An aggregate: use designated initialisers.
struct kafka_sink_options {
    std::string brokers;                           ///< bootstrap.servers
    std::string topic;                             ///< the topic written to
    kafka_properties properties;                   ///< librdkafka producer properties (they win over rtcrm's defaults)
    std::string reason_header = "rtcrm-reason";    ///< header naming a dead letter's reason
    std::string trigger_id_header = "rtcrm-trigger-id"; ///< header holding a trigger's id; empty: none
    std::chrono::milliseconds close_timeout{30000};///< the longest wait for deliveries at close
    /// Where undeliverable dead letters are appended (see the file comment); relative to
    /// the working directory; "" = nowhere (they are nacked instead).
    std::string fallback_path = "rtcrm-dead-letter-fallback.ndjson";
    std::string name;                              ///< default "kafka:<topic>"

    /// @throws rtcrm::error(invalid_config) naming the bad field.
    void validate() const;
};

/// Counters of a `kafka_sink`.
struct kafka_sink_stats {
    std::uint64_t produced = 0;   ///< messages handed to librdkafka
    std::uint64_t delivered = 0;  ///< messages the broker acknowledged
    std::uint64_t failed = 0;     ///< messages given up (their events nacked)
    std::uint64_t truncated = 0;  ///< dead letters delivered cut (header rtcrm-truncated)
    std::uint64_t fallback_written = 0;  ///< dead letters written to the fallback file instead
};

/// A Kafka producer sink. Thread-safe. See the file comment.
class kafka_sink final : public sink {
public:
    /// @throws rtcrm::error(invalid_config) for bad options or properties.
    explicit kafka_sink(kafka_sink_options options);
    ~kafka_sink() override;
    kafka_sink(const kafka_sink&) = delete;
    kafka_sink& operator=(const kafka_sink&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override;
    void consume(std::span<output> batch) override;
    void close() override;

    [[nodiscard]] kafka_sink_stats stats() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
