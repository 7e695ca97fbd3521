/// @file handler_feed.hpp
/// Handler scripts for a whole consumer group, from a compacted Kafka topic
/// (`crm_handlers`): key = script name, value = Lua source, empty value = delete.
///
/// Every instance reads the whole topic (it is not a group member for it), so every
/// instance sees the same script set in the same order: publishing one message
/// hot-reloads that script everywhere. The feed keeps the set (name → source) and hands
/// the whole of it to `apply` after each batch of changes; `apply` validates and swaps
/// (e.g. `lua_engine::load`) and returns an error text to refuse it, which goes to
/// `refused` (e.g. a maintenance report) while the old scripts keep running.
///
/// `start` reads the topic to its end before it returns and applies that set once, so an
/// instance begins with the group's handlers, not with a partial set.
///
/// Example:
/// @code
///   rtcrm::kafka_handler_feed feed{{.brokers = b},
///       [&](const auto& scripts) { return load_into(engine, scripts); },   // nullopt = applied
///       [&](const std::string& why) { reporter.report("handler_refused", {{"error", why}}); }};
///   feed.start();
/// @endcode
#pragma once

#include <rtcrm/kafka/kafka_properties.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace rtcrm {

/// Options of `kafka_handler_feed`. An aggregate: use designated initialisers.
struct handler_feed_options {
    std::string brokers;                                ///< bootstrap.servers
    std::string topic = "crm_handlers";
    std::chrono::milliseconds catch_up_timeout{15000};  ///< `start`'s longest wait for the topic's end
    kafka_properties properties;                        ///< librdkafka consumer properties

    /// @throws rtcrm::error(invalid_config) naming the bad field.
    void validate() const;
};

/// Follows the handlers topic on a thread of its own. See the file comment.
class kafka_handler_feed {
public:
    /// The whole script set, by name.
    using script_set = std::map<std::string, std::string, std::less<>>;
    /// Applies a set; returns why it was refused, or nullopt when applied.
    using apply_fn = std::function<std::optional<std::string>(const script_set& scripts)>;
    using refused_fn = std::function<void(const std::string& why)>;

    /// @throws rtcrm::error(invalid_config) for bad options.
    kafka_handler_feed(handler_feed_options options, apply_fn apply, refused_fn refused = {});
    ~kafka_handler_feed();
    kafka_handler_feed(const kafka_handler_feed&) = delete;
    kafka_handler_feed& operator=(const kafka_handler_feed&) = delete;

    /// Reads to the end, applies once, then follows the topic in the background.
    /// @throws rtcrm::error(io_error or timeout) if the topic cannot be read to its end.
    void start();

    /// The set as last read from the topic (applied or not).
    [[nodiscard]] script_set scripts() const;
    /// A digest of `scripts()` (hex FNV-1a over names and sources): the same on every
    /// instance that read the same topic.
    [[nodiscard]] std::string digest() const;
    /// Sets applied and sets refused so far (a refusal counts once its callback returned).
    [[nodiscard]] std::uint64_t applied() const noexcept;
    [[nodiscard]] std::uint64_t refused() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
