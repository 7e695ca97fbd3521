/// @file cql_connection.hpp
/// The CQL session's connections over Boost.Asio: `tcp_connection` (TCP, the handshake,
/// stream ids, frames in and out, per-request timeouts), `tcp_host` (where a host's
/// connections go and when they reconnect), and resolving the contact points.
///
/// Connections and hosts live on the session's I/O thread; the contact points are resolved
/// on the thread that connects.
///
/// Caveats:
/// - Including this header brings in Asio, whose units are slow to compile: only the
///   session's I/O units include it.
/// - A timed-out request's stream stays taken until its late answer arrives or the
///   connection closes, so a late answer is never mistaken for another request's.
#pragma once

#include "cql/cql_host.hpp"
#include "cql/cql_protocol.hpp"
#include "cql/cql_request.hpp"
#include "cql/cql_session.hpp"

#include <rtcrm/core/result.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

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

/// A host as the I/O side sees it: where its connections go, and when they reconnect.
struct tcp_host : host {
    tcp::endpoint endpoint;                                             ///< where its connections go
    std::vector<std::unique_ptr<asio::steady_timer>> reconnect_timers;  ///< one per pool slot, once pooled
    std::vector<std::chrono::milliseconds> backoff;                     ///< the next reconnect wait, per slot
};

/// A connection over TCP: frames written in batches, one write per turn of the I/O loop,
/// and read into one growing buffer; a FIFO of deadlines for request timeouts.
class tcp_connection final : public connection {
public:
    /// A connection to `h`, not open yet. Everything passed must outlive it.
    tcp_connection(asio::io_context& io, const session_options& options, session_counters& counters,
                   connection_listener& listener, tcp_host& h);

    void open(open_handler done) override;
    [[nodiscard]] bool ready() const noexcept override { return state_ == state::ready; }
    [[nodiscard]] bool has_capacity() const noexcept override;
    [[nodiscard]] std::size_t in_flight() const noexcept override { return in_flight_; }
    [[nodiscard]] host& owner() const noexcept override { return *host_; }
    void send(const request& r, response_handler handler, bool timed) override;
    void close(const failure& why) override;

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
    std::shared_ptr<tcp_connection> shared_self() {
        return std::static_pointer_cast<tcp_connection>(shared_from_this());
    }

    const session_options& options_;
    session_counters& counters_;
    connection_listener& listener_;
    tcp_host* host_;
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

// --- addresses ------------------------------------------------------------------------------

/// A contact point of the options, resolved.
struct contact {
    std::string text;                       ///< as the options spell it
    std::optional<tcp::endpoint> endpoint;  ///< none: it cannot be used
    std::string error;                      ///< why it could not be resolved or used
};

/// Resolves every contact point, on the calling thread (names are looked up once, at
/// connect), preferring an IPv4 address where a name has several.
std::vector<contact> resolve_contact_points(asio::io_context& io, const session_options& options);

/// "address:port", "[v6 address]:port" for IPv6.
std::string endpoint_text(const tcp::endpoint& ep);

/// [inet] bytes (4 or 16, as node_info holds them) as an address.
asio::ip::address address_of(const std::string& inet_bytes);

}  // namespace rtcrm::detail::cql
