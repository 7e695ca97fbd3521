/// @file kafka_topic.hpp
/// Kafka's rule for topic names, checked wherever rtcrm is given a topic (the options of
/// `kafka_source`, `kafka_sink`, `kafka_handler_feed`, `maintenance_reporter`, and the
/// topology configuration), so a bad name fails at start with a reason instead of
/// reading nothing or producing nowhere.
///
/// The rule (Kafka's own, `org.apache.kafka.common.internals.Topic`): 1 to 249
/// characters, each one of `a-z A-Z 0-9 . _ -`, and neither "." nor "..". A broker
/// refuses other names; librdkafka would accept them and then see no partitions.
///
/// Caveats: Kafka also warns when two topic names differ only by '.' against '_' (their
/// metric names collide); that is allowed here, as it is by the broker.
///
/// Example:
/// @code
///   rtcrm::kafka_topic_problem("crm_trigger");  // ""
///   rtcrm::validate_kafka_topic(std::string(300, 'a'), "kafka_sink");  // throws invalid_config
/// @endcode
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rtcrm {

/// The longest topic name Kafka accepts.
inline constexpr std::size_t kafka_topic_max_length = 249;

/// "" when `name` is a valid Kafka topic name; else one sentence naming the topic and the
/// rule it breaks, e.g. `topic "a b": ' ' at position 2 is not allowed (a topic name is 1
/// to 249 characters of a-z A-Z 0-9 . _ -, and not "." or "..")`. A long or unprintable
/// name is shown shortened and escaped. Pure; thread-safe.
[[nodiscard]] std::string kafka_topic_problem(std::string_view name);

/// @throws rtcrm::error(invalid_config) "`who`: `kafka_topic_problem(name)`" when the name
///         is not a valid topic name.
void validate_kafka_topic(std::string_view name, std::string_view who);

}  // namespace rtcrm
