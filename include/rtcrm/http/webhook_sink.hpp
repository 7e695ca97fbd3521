/// @file webhook_sink.hpp
/// Triggers POSTed to a URL (another service's webhook), with a Boost.Beast HTTP client.
///
/// Outputs go out in order, on one kept-alive connection: batched as NDJSON (one request
/// per up to `max_batch` outputs, `Content-Type: application/x-ndjson`) or one request per
/// output (`batch = false`, `application/json`). An output's ack completes only after a
/// 2xx answer. Anything else (a refused connection, a timeout, a non-2xx status) is retried
/// with exponential backoff and jitter; after `max_attempts`, the outputs go to the
/// dead-letter sink (reason `delivery_failed`, the original body in `raw`), or are nacked
/// when there is none. A retrying request holds up the ones behind it, so order is kept.
///
/// Delivery is at least once: a request whose answer was lost (a timeout) is sent again,
/// and after a crash or restart the events not yet committed emit their triggers again.
/// Each trigger carries its `trigger_id` (core/trigger_id.hpp), the same every time, in
/// its JSON body; the receiver deduplicates on it (per line of a batch). With `batch =
/// false` a trigger's request also has the header `Idempotency-Key: <trigger_id>`.
///
/// Caveats: plain HTTP only (put a TLS proxy in front for https); `consume` blocks while
/// `max_queued` outputs wait (backpressure on the shards).
///
/// Example:
/// @code
///   topology.add_sink(rtcrm::stream::main, std::make_shared<rtcrm::webhook_sink>(
///       rtcrm::webhook_options{.url = "http://127.0.0.1:8081/triggers"}));
/// @endcode
#pragma once

#include <rtcrm/core/sink.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace rtcrm {

/// Options of `webhook_sink`. An aggregate: use designated initialisers.
struct webhook_options {
    std::string url;                                   ///< http://HOST:PORT/PATH
    bool batch = true;                                 ///< NDJSON batches (else one request per output)
    std::size_t max_batch = 500;                       ///< outputs per request when batching
    std::size_t max_queued = 10000;                    ///< outputs waiting before `consume` blocks
    std::chrono::milliseconds timeout{5000};           ///< per request (connect, send, answer)
    std::uint32_t max_attempts = 6;                    ///< tries per request before giving up
    std::chrono::milliseconds backoff_initial{100};    ///< first wait between tries (doubles, with jitter)
    std::chrono::milliseconds backoff_max{5000};       ///< longest wait between tries
    std::shared_ptr<sink> dead_letter;                 ///< where given-up outputs go; nullptr: nack them

    /// @throws rtcrm::error(invalid_config) naming the bad field (e.g. an https URL).
    void validate() const;
};

/// Counters of a `webhook_sink`.
struct webhook_stats {
    std::uint64_t requests = 0;     ///< requests sent (tries included)
    std::uint64_t delivered = 0;    ///< outputs acked after a 2xx
    std::uint64_t retries = 0;      ///< tries that failed and were retried
    std::uint64_t given_up = 0;     ///< outputs sent to the dead-letter sink (or nacked)
};

/// The webhook sink. Thread-safe. See the file comment.
class webhook_sink final : public sink {
public:
    /// @throws rtcrm::error(invalid_config) for bad options.
    explicit webhook_sink(webhook_options options);
    ~webhook_sink() override;
    webhook_sink(const webhook_sink&) = delete;
    webhook_sink& operator=(const webhook_sink&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override { return "webhook"; }
    void consume(std::span<output> batch) override;
    /// Delivers what is queued (within the retry budget), then stops.
    void close() override;

    [[nodiscard]] webhook_stats stats() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
