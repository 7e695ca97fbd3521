/// @file cql_peer.hpp
/// A CQL native protocol v4 test peer: a small server with an in-memory table engine
/// (cql_table_engine.hpp) that answers the statements rtcrm::cassandra uses, faithfully
/// enough for the DataStax Python driver to connect, create a schema, write and read.
///
/// One peer can pose as a cluster: one node per address (e.g. 127.0.0.1, 127.0.0.2, ...),
/// all listening on the same port and sharing one table engine, each announcing its own
/// Murmur3 tokens in system.local / system.peers so token-aware routing can be tested.
///
/// Faults (errors, delays, dropped connections, lost answers, forgotten prepared
/// statements) are injected through the methods below, from any thread.
///
/// Caveats:
/// - A test fixture, not a database: no replication, no consistency levels (accepted and
///   ignored), no lightweight transactions, no secondary indexes.
/// - Requests on one connection are answered in order of arrival; a delay holds back the
///   later answers of that connection only.
///
/// Example:
/// @code
/// rtcrm::test::cql_peer peer({.addresses = {"127.0.0.1", "127.0.0.2"}});
/// auto points = peer.contact_points();  // {"127.0.0.1:41234", "127.0.0.2:41234"}
/// peer.fail_next(1, {.code = rtcrm::detail::cql::error_code::write_timeout, .message = "timeout"}, "INSERT");
/// @endcode
#pragma once

#include "cql/cql_protocol.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::test {

/// How a `cql_peer` is set up.
struct cql_peer_options {
    /// One node per address; all nodes share one table engine (a "cluster"). With several
    /// nodes every node listens on the same port (the first node picks it), since
    /// system.peers in v4 has no port.
    std::vector<std::string> addresses{"127.0.0.1"};
    std::uint16_t port = 0;                   ///< 0: ephemeral
    std::string username;                     ///< non-empty: PasswordAuthenticator required
    std::string password;                     ///< the only password accepted for `username`
    std::string cluster_name = "rtcrm-test";  ///< system.local cluster_name
    std::string datacenter = "dc1";           ///< data_center of every node
    std::size_t tokens_per_node = 8;          ///< random Murmur3 tokens per node (seeded, deterministic)
};

/// A CQL v4 server on loopback for tests. Neither copyable nor movable.
class cql_peer {
public:
    /// Binds every node and serves on its own thread. Throws `rtcrm::error`
    /// (errc::io_error) if an address cannot be bound.
    explicit cql_peer(cql_peer_options options = {});
    /// Stops serving and closes every connection; joins the server thread.
    ~cql_peer();
    cql_peer(const cql_peer&) = delete;
    cql_peer& operator=(const cql_peer&) = delete;

    /// The port every node listens on.
    [[nodiscard]] std::uint16_t port() const;
    /// "address:port", one per node, in the order of `cql_peer_options::addresses`.
    [[nodiscard]] std::vector<std::string> contact_points() const;

    // --- faults (thread-safe, take effect on the next requests) ---

    /// The next `n` QUERY/EXECUTE/BATCH requests whose CQL text contains `match` (any if
    /// empty) are answered with `err` instead of being applied. For EXECUTE the text is
    /// the prepared statement's; for BATCH any statement's.
    void fail_next(std::size_t n, rtcrm::detail::cql::error_response err, std::string match = "");
    /// Every response is delayed by `d` (0 = none); other connections are not held up.
    void set_delay(std::chrono::milliseconds d);
    /// Closes every open client connection now (the nodes keep accepting).
    void drop_connections();
    /// The next `n` QUERY/EXECUTE/BATCH requests: the connection is closed instead of
    /// answering; if `applied`, the request is applied first (a write that happened but
    /// whose answer was lost).
    void drop_next(std::size_t n, bool applied);
    /// Forgets every prepared statement: the next EXECUTE of an old id gets UNPREPARED.
    void forget_prepared();

    // --- observation (thread-safe) ---

    /// QUERY/EXECUTE/BATCH requests served (answered, failed or dropped) by node `node`;
    /// 0 for a node that does not exist.
    [[nodiscard]] std::size_t requests(std::size_t node) const;
    /// Client connections accepted by all nodes since construction.
    [[nodiscard]] std::size_t connections_accepted() const;
    /// Live (not expired) rows of `keyspace.table`; 0 if it does not exist.
    [[nodiscard]] std::size_t row_count(std::string_view keyspace, std::string_view table) const;
    /// The node that owns `token` (the first node token >= it, wrapping), for routing tests.
    [[nodiscard]] std::size_t owner_of(std::int64_t token) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm::test
