/// @file kafka_sink.hpp
/// Outputs to a Kafka topic: triggers to `crm_trigger`, dead letters to a dead-letter
/// topic, each bound to its stream in the topology.
///
/// Each output is one message, keyed by the player id (Kafka's murmur2 partitioner, as
/// the Java client, so one player's messages share a partition and stay in order). The
/// producer is idempotent, so librdkafka's retries neither duplicate nor reorder.
/// Messages are batched by librdkafka (`linger.ms`, default 5 ms here). An output's ack
/// share completes on its delivery report: the causing event is committed only after
/// every message it caused is on the broker. A message that cannot be delivered (after
/// librdkafka's retries, `message.timeout.ms`) nacks its event, whose position then
/// stays uncommitted.
///
/// Dead-letter outputs carry their reason in a header (`rtcrm-reason: schema_violation`),
/// so a consumer can filter without parsing the body. Triggers carry their `trigger_id`
/// (core/trigger_id.hpp) in a header too (`rtcrm-trigger-id: 3:42:e:e-1`): delivery is
/// at least once (an event read again after a crash or a rebalance emits its triggers
/// again, with the same ids), so a consumer deduplicates on it.
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
    std::string name;                              ///< default "kafka:<topic>"

    /// @throws rtcrm::error(invalid_config) naming the bad field.
    void validate() const;
};

/// Counters of a `kafka_sink`.
struct kafka_sink_stats {
    std::uint64_t produced = 0;   ///< messages handed to librdkafka
    std::uint64_t delivered = 0;  ///< messages the broker acknowledged
    std::uint64_t failed = 0;     ///< messages given up (their events nacked)
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
