/// @file cql_connection.hpp
/// One connection of the CQL session, over Boost.Asio: TCP, the handshake, stream ids,
/// frames in and out, per-request timeouts; and `host`, a node with its pool of them.
///
/// Everything here runs on the session's I/O thread.
///
/// Caveats:
/// - Including this header brings in Asio, whose units are slow to compile: only the
///   session's I/O units include it.
/// - A timed-out request's stream stays taken until its late answer arrives or the
///   connection closes, so a late answer is never mistaken for another request's.
#pragma once

#include "cql/cql_protocol.hpp"
#include "cql/cql_request.hpp"
#include "cql/cql_session.hpp"

#include <rtcrm/result.hpp>

#include <boost/asio.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::detail::cql {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

class connection;
struct host;

/// What a connection hands back for one request: the decoded response, or why there is
/// none (client timeout, connection lost, undecodable answer).
using response_handler = std::function<void(result<response>)>;

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

/// One TCP connection to a host, many requests in flight on it (stream ids).
class connection : public std::enable_shared_from_this<connection> {
public:
    using open_handler = std::function<void(result<bool>)>;

    /// A connection to `h`, not open yet. Everything passed must outlive it.
    connection(asio::io_context& io, const session_options& options, session_counters& counters,
               connection_listener& listener, host& h);

    /// Connects and runs the handshake (OPTIONS, STARTUP, authentication, USE); `done` runs
    /// once. A failure of authentication or of USE comes back as invalid_config.
    void open(open_handler done);
    /// Open, handshake done, not closed.
    [[nodiscard]] bool ready() const noexcept { return state_ == state::ready; }
    /// Can take one more request (below max_in_flight_per_connection and the stream limit).
    [[nodiscard]] bool has_capacity() const noexcept;
    /// Requests sent and not answered (timed-out ones until their late answer).
    [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
    /// The host it connects to.
    [[nodiscard]] host& owner() const noexcept { return *host_; }
    /// Queues `r` on a free stream; `handler` runs once. `timed`: subject to request_timeout.
    void send(const request& r, response_handler handler, bool timed);
    /// Closes the socket and fails every pending request with `why`.
    void close(const failure& why);

private:
    enum class state { idle, connecting, handshaking, ready, closed };
    struct slot {
        response_handler handler;
        std::uint64_t seq = 0;
        bool in_use = false;
        bool orphaned = false;  // timed out: the stream waits for its late answer
    };
    struct deadline {
        steady::time_point at;
        std::int16_t stream;
        std::uint64_t seq;
    };

    void handshake();
    void on_startup_answer(result<response> r);
    void authenticate(const authenticate_response& a);
    void use_keyspace();
    void finish_open(result<bool> r);
    std::int16_t acquire_stream();
    void release_stream(std::int16_t stream);
    void schedule_flush();
    void write_pending();
    void read_more();
    void parse_frames();
    void on_frame(const frame_header& h, std::string_view body);
    void arm_sweep();
    void sweep();
    failure lost(const boost::system::error_code& ec) const;

    const session_options& options_;
    session_counters& counters_;
    connection_listener& listener_;
    host* host_;
    std::string name_;
    tcp::socket socket_;
    asio::steady_timer connect_timer_;
    asio::steady_timer sweep_timer_;
    state state_ = state::idle;
    open_handler open_done_;
    std::optional<failure> close_reason_;

    std::vector<slot> slots_;
    std::vector<std::int16_t> free_streams_;
    std::size_t in_flight_ = 0;
    std::size_t orphans_ = 0;
    std::uint64_t next_seq_ = 1;
    std::deque<deadline> deadlines_;
    bool sweep_armed_ = false;

    std::string write_buf_;    // frames queued during this turn
    std::string writing_buf_;  // frames being written
    bool writing_ = false;
    bool flush_posted_ = false;

    std::vector<char> read_buf_;
    std::size_t read_begin_ = 0;
    std::size_t read_end_ = 0;
    std::size_t read_want_ = 0;  // bytes the frame being received still needs
};

// --- host ---------------------------------------------------------------------------------

/// A node of the cluster and its pool of connections (I/O thread only).
struct host {
    std::size_t index = 0;                          ///< in the session's host list
    tcp::endpoint endpoint;                         ///< where its connections go
    std::string name;                               ///< "address:port", for messages
    std::string datacenter;                         ///< as system.local / system.peers say
    std::vector<std::int64_t> tokens;               ///< its Murmur3 tokens
    std::vector<std::shared_ptr<connection>> pool;  ///< connections_per_host slots; null until opened
    std::vector<std::unique_ptr<asio::steady_timer>> reconnect_timers;  ///< one per slot
    std::vector<std::chrono::milliseconds> backoff;                     ///< the next reconnect wait, per slot
    std::deque<op_ptr> waiting;                                         ///< routed here, waiting for a free stream

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
