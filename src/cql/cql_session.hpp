/// @file cql_session.hpp
/// A CQL native-protocol (v4) client session over Boost.Asio: a connection pool per host,
/// many requests in flight per connection (stream ids), authentication, retries, timeouts,
/// reconnection, peer discovery and token-aware routing.
///
/// The session runs one I/O thread of its own; every callback runs on it. Requests may be
/// started from any thread. Sync helpers (`*_sync`) block the calling thread and must not
/// be called from a callback.
///
/// Caveats:
/// - Retries: a request that failed with a retriable error (OVERLOADED, UNAVAILABLE,
///   IS_BOOTSTRAPPING, read/write timeouts, a lost connection or a client timeout) is
///   retried up to `max_retries` times on another host where there is one, with backoff,
///   *only if the statement is idempotent*. Syntax, invalid, unauthorized and the like
///   fail at once. UNPREPARED is answered by re-preparing on that host and re-executing,
///   which does not count as a retry.
/// - Errors come back as a `failure` whose code is an `rtcrm::errc`: `timeout` (client or
///   server timeout), `unavailable` (UNAVAILABLE, OVERLOADED, IS_BOOTSTRAPPING, a lost
///   connection, no host reachable), `store_error` (every other server error), `io_error`
///   (protocol violations), `stopped` (the session closed). The reason holds the server's
///   message, its CQL error name and the host.
/// - A request that finds no host up waits in the client (up to `request_timeout`) for a
///   connection to come back, rather than failing during a short reconnect.
/// - A timed-out request's stream id stays taken until its late answer arrives or the
///   connection closes, so a late answer is never mistaken for another request's.
/// - Requests started after `close()` fail at once with `stopped`, on the calling thread.
/// - Do not call `close()` from a callback, and do not let a callback drop the last
///   reference to the session: both would have the I/O thread join itself. (`close()` from
///   a callback only starts the shutdown; the join then happens in the destructor.)
/// - A callback must not throw; an exception it throws is swallowed.
/// - The topology is read once, at connect (no TOPOLOGY_CHANGE events are registered).
///
/// Example:
/// @code
///   auto s = session::connect({.contact_points = {"10.0.0.5"}, .keyspace = "crm"});
///   auto ins = s->prepare_sync("INSERT INTO profiles (player, body) VALUES (?, ?)");
///   statement st{.prepared = ins.value(), .values = {text_value("p1"), text_value("{}")}};
///   s->execute(std::move(st), [](result<result_body> r) { ... });  // on the I/O thread
/// @endcode
#pragma once

#include "cql/cql_protocol.hpp"

#include <rtcrm/core/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rtcrm::detail::cql {

/// How a session connects and behaves; an aggregate built with designated initialisers.
struct session_options {
    std::vector<std::string> contact_points;          ///< "host" or "host:port" (IPv4, IPv6 in [..], or a name)
    std::uint16_t default_port = 9042;                ///< for contact points without a port
    std::string username;                             ///< PasswordAuthenticator, if the server asks
    std::string password;                             ///< sent only in AUTH_RESPONSE; never logged
    std::string keyspace;                             ///< `USE`d on every connection if not empty
    std::size_t connections_per_host = 1;             ///< each carries up to 32768 streams
    std::size_t max_in_flight_per_connection = 1024;  ///< 1..32768; further requests queue in the client
    std::chrono::milliseconds connect_timeout{5000};  ///< TCP connect plus handshake, per connection
    std::chrono::milliseconds request_timeout{5000};  ///< per attempt; 0 = none
    std::chrono::milliseconds reconnect_min{100};     ///< backoff doubles up to reconnect_max
    std::chrono::milliseconds reconnect_max{10'000};  ///< the longest wait between reconnects
    int max_retries = 3;                              ///< attempts after the first, idempotent statements only
    consistency default_consistency = consistency::local_quorum;  ///< for statements without their own
    bool discover_peers = true;                                   ///< read system.peers and connect to them too
    bool token_aware = true;                                      ///< route by the Murmur3 token of the partition key

    /// Checks the values. @throws rtcrm::error(invalid_config) for no contact points, a
    /// contact point that cannot be parsed, zero connections, an in-flight limit outside
    /// 1..32768, a non-positive connect timeout or reconnect backoff, negative retries.
    void validate() const;
};

/// A prepared statement, shared by every host (re-prepared per host on demand). Immutable
/// once made; share it freely between threads.
struct prepared_statement {
    std::string query;              ///< the CQL text, for re-preparing
    std::string id;                 ///< the server's statement id
    prepared_metadata metadata;     ///< bound variables and the partition key's indexes
    rows_metadata result_metadata;  ///< the columns of its Rows results
};
/// How prepared statements are handed around.
using prepared_ptr = std::shared_ptr<const prepared_statement>;

/// One statement to run: text with positional values, or a prepared statement.
struct statement {
    std::string query;                            ///< used when `prepared` is null
    prepared_ptr prepared;                        ///< executed by id when set
    std::vector<value> values;                    ///< positional bound values
    std::optional<cql::consistency> consistency;  ///< default: session_options::default_consistency
    std::optional<std::int32_t> page_size;        ///< rows per page; none: the server's default
    std::optional<std::string> paging_state;      ///< from the previous page's rows_metadata
    bool idempotent = true;                       ///< retried after retriable errors only when true
    /// The serialized partition key, for routing; derived from `prepared` and `values`
    /// when not given. Without either the request goes round-robin.
    std::optional<std::string> routing_key;
};

/// An unlogged (or logged) batch of statements. Routed by its own key, else by the first
/// statement's.
struct batch {
    batch_type type = batch_type::unlogged;       ///< logged, unlogged or counter
    std::vector<statement> statements;            ///< each prepared or with text
    std::optional<cql::consistency> consistency;  ///< default: session_options::default_consistency
    bool idempotent = true;                       ///< retried after retriable errors only when true
    std::optional<std::string> routing_key;       ///< see statement::routing_key
};

/// What a request gives back: the RESULT body, or a failure (see the Caveats). Runs on the
/// I/O thread (or on the caller's thread when the session is already closed).
using response_callback = std::function<void(result<result_body>)>;
/// What `prepare` gives back; runs where a response_callback does.
using prepared_callback = std::function<void(result<prepared_ptr>)>;

/// Counters, read at any time.
struct session_stats {
    std::uint64_t requests = 0;    ///< requests completed (success or failure)
    std::uint64_t retries = 0;     ///< attempts made again after a retriable failure
    std::uint64_t timeouts = 0;    ///< attempts that hit request_timeout
    std::uint64_t reprepares = 0;  ///< UNPREPARED answered by re-preparing
    std::uint64_t reconnects = 0;  ///< connections (re-)established after a loss or a failed first try
    std::uint64_t failures = 0;    ///< requests that failed after retries
    std::size_t in_flight = 0;     ///< requests sent and not answered yet (timed-out ones until their late answer)
    std::size_t hosts_up = 0;      ///< hosts with at least one open connection
    std::size_t hosts = 0;         ///< hosts known (contact point plus discovered peers)
};

/// A connected session. Made by `connect`; thread-safe; see the file comment.
class session {
public:
    /// Connects to the contact points (the first that answers), authenticates, discovers
    /// peers and opens the pools (returns once every host's first connections have
    /// succeeded or failed). @throws rtcrm::error(unavailable) naming every contact point
    /// and why, when none can be reached; rtcrm::error(invalid_config) on bad options,
    /// bad credentials or a missing keyspace.
    static std::shared_ptr<session> connect(session_options options);

    /// Calls `close()` in the implementation.
    virtual ~session() = default;

    /// Starts a request; `done` runs once, on the I/O thread. Thread-safe.
    virtual void execute(statement s, response_callback done) = 0;
    /// Starts a batch; `done` runs once, on the I/O thread. Thread-safe.
    virtual void execute(batch b, response_callback done) = 0;
    /// Prepares on the host the request goes to (others prepare on UNPREPARED). Thread-safe.
    virtual void prepare(std::string query, prepared_callback done) = 0;

    /// Blocking form of `execute`. Not from the I/O thread (fails with invalid_config there).
    result<result_body> execute_sync(statement s);
    /// Blocking form of `execute(batch)`. Not from the I/O thread.
    result<result_body> execute_sync(batch b);
    /// Blocking form of `prepare`. Not from the I/O thread.
    result<prepared_ptr> prepare_sync(std::string query);

    /// The Murmur3 token ranges of the ring, as (start exclusive, end inclusive] pairs that
    /// together cover it once (for parallel scans by token range). The range that wraps
    /// around is split in two at the ends of the token space, so start < end always.
    /// Without known tokens: one range, (INT64_MIN, INT64_MAX]. Thread-safe.
    [[nodiscard]] virtual std::vector<std::pair<std::int64_t, std::int64_t>> token_ranges() const = 0;

    /// A snapshot of the counters. Thread-safe.
    [[nodiscard]] virtual session_stats stats() const = 0;

    /// Fails every pending request with `stopped`, closes the connections and joins the I/O
    /// thread. Idempotent; the destructor calls it. From any thread but the I/O thread.
    virtual void close() = 0;

protected:
    /// True on the session's I/O thread (where the blocking forms would deadlock).
    [[nodiscard]] virtual bool on_io_thread() const noexcept = 0;
};

}  // namespace rtcrm::detail::cql
