/// @file gateway_source.hpp
/// Events from games over HTTP: `POST /events` with one JSON event or an NDJSON batch.
///
/// Answers:
/// - `202 {"accepted":N}` when every line is an event;
/// - `400 {"accepted":G,"rejected":[{"line":3,"reason":"parse_error","detail":"..."}]}` when
///   some lines are not: the good lines of the batch are accepted all the same, and the bad
///   ones go through the pipeline to the dead-letter sink with the same reason; at most
///   `gateway_source::max_listed_rejections` lines are listed, and past them
///   `"rejected_not_listed":K` counts the others;
/// - `413` over the body limit, `431` over the header limit (then the connection closes),
///   each naming its limit in bytes;
/// - `413` for a batch of more events than `max_lines` (or than `queue_capacity`, if that
///   is smaller: such a batch could never be queued), naming the limit; nothing of it is
///   taken, so split it and send the parts;
/// - `415` for a body with a `Content-Encoding` other than `identity` (e.g. gzip): bodies
///   are taken uncompressed only;
/// - `503` with `Retry-After: 1` when the runtime cannot take the batch now (its queue is
///   full): backpressure reaches the client, nothing is buffered without bound;
/// - `404`/`405` for other paths and methods; `GET /healthz` answers 200.
///
/// A 202/400 is sent only after the runtime has taken the batch's events (their ack tokens
/// exist), so an accepted event is tracked to the end. Keep-alive and pipelining work; a
/// request must arrive whole within `request_timeout` (slow-loris clients are cut off);
/// past `max_connections` open connections, new ones get 503.
///
/// Blank (whitespace-only) lines are skipped: they are no events and do not count towards
/// `max_lines`, but lines are numbered as sent.
///
/// Cost of a request: its body, one copy of its events and one `record` per event (the
/// body goes once the copies are made), so memory is bounded by about twice `body_limit`
/// plus `max_lines` records. The body is split and checked on the I/O thread in slices of
/// a few hundred lines, each posted behind the other connections' work, so a big batch
/// does not hold up `GET /healthz` or other clients.
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
    std::size_t max_lines = 65536;                   ///< events per request (413 past it, or past queue_capacity if smaller)
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
    std::uint64_t too_many_lines = 0; ///< requests answered 413 for more events than the line limit
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

    /// The most rejected lines a 400 answer lists (each with its reason), so that the
    /// answer stays small whatever the batch.
    static constexpr std::size_t max_listed_rejections = 1000;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
