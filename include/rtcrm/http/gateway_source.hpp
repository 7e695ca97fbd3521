/// @file gateway_source.hpp
/// Events from games over HTTP: `POST /events` with one JSON event or an NDJSON batch.
///
/// Answers:
/// - `202 {"accepted":N}` when every line is an event;
/// - `400 {"accepted":G,"rejected":[{"line":3,"reason":"parse_error","detail":"..."}]}` when
///   some lines are not: the good lines of the batch are accepted all the same, and the bad
///   ones go through the pipeline to the dead-letter sink with the same reason;
/// - `413` over the body limit, `431` over the header limit (then the connection closes);
/// - `503` with `Retry-After: 1` when the runtime cannot take the batch now (its queue is
///   full): backpressure reaches the client, nothing is buffered without bound;
/// - `404`/`405` for other paths and methods; `GET /healthz` answers 200.
///
/// A 202/400 is sent only after the runtime has taken the batch's events (their ack tokens
/// exist), so an accepted event is tracked to the end. Keep-alive and pipelining work; a
/// request must arrive whole within `request_timeout` (slow-loris clients are cut off);
/// past `max_connections` open connections, new ones get 503.
///
/// Caveats: HTTP events have no replayable position (the source is not resumable): a
/// client that got no answer must retry, so deliveries are at least once end to end.
///
/// Example:
/// @code
///   topology.add_source(std::make_unique<rtcrm::gateway_source>(rtcrm::gateway_options{.listen = "0.0.0.0:8080"}));
/// @endcode
#pragma once

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/source.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace rtcrm {

/// Options of `gateway_source`. An aggregate: use designated initialisers.
struct gateway_options {
    std::string listen = "127.0.0.1:8080";           ///< HOST:PORT (port 0: any free port, see `port()`)
    std::size_t body_limit = 16 * 1024 * 1024;       ///< bytes per request body (413 past it)
    std::size_t header_limit = 8 * 1024;             ///< bytes of request headers (431 past it)
    std::size_t max_connections = 1024;              ///< open connections (503 past it)
    std::chrono::milliseconds request_timeout{10000};///< for a whole request to arrive
    std::size_t queue_capacity = 65536;              ///< events accepted but not yet taken by the runtime (503 past it)
    unsigned threads = 1;                            ///< I/O threads
    struct parse_options parse;                      ///< how lines are checked (as the runtime parses them)
    std::string name = "http";                       ///< the source name

    /// @throws rtcrm::error(invalid_config) naming the bad field.
    void validate() const;
};

/// Counters of a `gateway_source`.
struct gateway_stats {
    std::uint64_t requests = 0;    ///< POST /events requests answered
    std::uint64_t accepted = 0;    ///< events accepted (202 and the good lines of 400)
    std::uint64_t bad_lines = 0;   ///< lines answered as rejected
    std::uint64_t busy = 0;        ///< requests answered 503 (queue full)
};

/// The HTTP event gateway. See the file comment.
class gateway_source final : public source {
public:
    /// @throws rtcrm::error(invalid_config) for bad options.
    explicit gateway_source(gateway_options options);
    ~gateway_source() override;
    gateway_source(const gateway_source&) = delete;
    gateway_source& operator=(const gateway_source&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override;
    /// Starts listening. @throws rtcrm::error(io_error) naming the address.
    void open() override;
    poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) override;
    /// Stops listening; requests not yet taken are answered 503.
    void close() override;
    void wakeup() override;

    /// The port it listens on (after `open`).
    [[nodiscard]] std::uint16_t port() const noexcept;
    [[nodiscard]] gateway_stats stats() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
