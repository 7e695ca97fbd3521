/// @file cql_host.hpp
/// The CQL session's view of a node and its connections, without the I/O: `connection`,
/// the interface of one connection (its Asio implementation is in cql_connection.hpp),
/// and `host`, a node with its pool of them and the requests waiting for a free stream.
///
/// Everything here is used on the session's I/O thread only.
#pragma once

#include "cql/cql_protocol.hpp"
#include "cql/cql_request.hpp"

#include <rtcrm/core/result.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rtcrm::detail::cql {

struct host;

/// What a connection hands back for one request: the decoded response, or why there is
/// none (client timeout, connection lost, undecodable answer).
using response_handler = std::function<void(result<response>)>;

/// One connection to a host, many requests in flight on it (stream ids).
class connection : public std::enable_shared_from_this<connection> {
public:
    /// How `open` reports: true once ready, or why not.
    using open_handler = std::function<void(result<bool>)>;

    virtual ~connection() = default;

    /// Connects and runs the handshake (OPTIONS, STARTUP, authentication, USE); `done` runs
    /// once. A failure of authentication or of USE comes back as invalid_config.
    virtual void open(open_handler done) = 0;
    /// Open, handshake done, not closed.
    [[nodiscard]] virtual bool ready() const noexcept = 0;
    /// Can take one more request (below max_in_flight_per_connection and the stream limit).
    [[nodiscard]] virtual bool has_capacity() const noexcept = 0;
    /// Requests sent and not answered (timed-out ones until their late answer).
    [[nodiscard]] virtual std::size_t in_flight() const noexcept = 0;
    /// The host it connects to.
    [[nodiscard]] virtual host& owner() const noexcept = 0;
    /// Queues `r` on a free stream; `handler` runs once, also when the connection is closed
    /// or out of streams (with `unavailable`). `timed`: subject to request_timeout.
    virtual void send(const request& r, response_handler handler, bool timed) = 0;
    /// Closes the connection and fails every pending request with `why`.
    virtual void close(const failure& why) = 0;
};

/// What a connection tells its session, on the I/O thread.
class connection_listener {
public:
    /// A stream of a connection to `h` came free, or the connection became ready.
    virtual void on_capacity(host& h) = 0;
    /// `c`, which was ready, closed (requests on it have failed already).
    virtual void on_connection_lost(connection& c) = 0;

protected:
    ~connection_listener() = default;
};

/// A node of the cluster and its pool of connections.
struct host {
    std::size_t index = 0;                          ///< in the session's host list
    std::string name;                               ///< "address:port", for messages
    std::string datacenter;                         ///< as system.local / system.peers say
    std::vector<std::int64_t> tokens;               ///< its Murmur3 tokens
    std::vector<std::shared_ptr<connection>> pool;  ///< connections_per_host slots; null until opened
    std::deque<op_ptr> waiting;                     ///< routed here, waiting for a free stream

    /// At least one connection is ready.
    [[nodiscard]] bool up() const {
        return std::any_of(pool.begin(), pool.end(), [](const auto& c) { return c && c->ready(); });
    }
    /// The ready connection with the fewest requests in flight that can take one more.
    [[nodiscard]] connection* least_loaded() const {
        connection* best = nullptr;
        for (const auto& c : pool) {
            if (c && c->ready() && c->has_capacity() && (best == nullptr || c->in_flight() < best->in_flight())) {
                best = c.get();
            }
        }
        return best;
    }
};

}  // namespace rtcrm::detail::cql
