/// @file cql_topology.hpp
/// What the CQL session knows of the cluster, without the I/O: contact points as the
/// options spell them, the nodes that system.local and system.peers describe, and the
/// token ring that routes a request to the node owning its partition key.
///
/// Caveats:
/// - The topology is read once, at connect: nothing here changes afterwards.
/// - Not synchronised; the session guards what it shares between threads.
#pragma once

#include "cql/cql_protocol.hpp"

#include <rtcrm/core/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcrm::detail::cql {

/// A contact point, split.
struct host_port {
    std::string host;        ///< a name or an address (IPv6 without its brackets)
    std::uint16_t port = 0;  ///< the contact point's, else the default
};

/// Parses "host", "host:port", "[v6]" or "[v6]:port"; a bare IPv6 address (two colons or
/// more) has no port. nullopt for an empty host, a port outside 1..65535, or text after
/// the brackets that is not ":port".
std::optional<host_port> parse_contact_point(std::string_view s, std::uint16_t default_port);

/// What the session reads of system.local at connect (at consistency ONE).
inline constexpr std::string_view local_query = "SELECT data_center, rpc_address, tokens FROM system.local WHERE key='local'";
/// The same for servers that do not know that column list.
inline constexpr std::string_view local_query_all = "SELECT * FROM system.local WHERE key='local'";
/// What the session reads of system.peers at connect.
inline constexpr std::string_view peers_query = "SELECT peer, rpc_address, data_center, tokens FROM system.peers";
/// The same for servers that do not know that column list.
inline constexpr std::string_view peers_query_all = "SELECT * FROM system.peers";

/// A node as the system tables describe it.
struct node_info {
    std::string address;               ///< [inet] bytes: 4 (IPv4) or 16 (IPv6); empty for system.local
    std::string datacenter;            ///< data_center; empty when not given
    std::vector<std::int64_t> tokens;  ///< its Murmur3 tokens, as listed
};

/// The Rows of a response, or nullptr (a failure, an ERROR, or another kind of result).
const rows_result* rows_in(const result<response>& r);
/// The local node of a system.local result (its first row); nullopt without rows.
std::optional<node_info> local_node(const rows_result& rows);
/// The nodes of a system.peers result. A node is reached at its rpc_address, or at its
/// `peer` address where rpc_address is missing or 0.0.0.0 (listen on all); rows with
/// neither are left out.
std::vector<node_info> peer_nodes(const rows_result& rows);

/// The ring: which host owns which token.
class token_ring {
public:
    /// An empty ring.
    token_ring() = default;
    /// A ring of (token, host index) pairs, in any order.
    explicit token_ring(std::vector<std::pair<std::int64_t, std::size_t>> entries);

    /// True when no host announced a token.
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
    /// The host that owns `token`: the host of the first ring token >= it, wrapping to the
    /// first. The ring must not be empty.
    [[nodiscard]] std::size_t owner(std::int64_t token) const;
    /// Every token of the ring, sorted, without repeats.
    [[nodiscard]] std::vector<std::int64_t> tokens() const;

private:
    std::vector<std::pair<std::int64_t, std::size_t>> entries_;  // sorted
};

/// The ranges between sorted, distinct `tokens`, as session::token_ranges describes them.
std::vector<std::pair<std::int64_t, std::int64_t>> token_ranges(const std::vector<std::int64_t>& tokens);

}  // namespace rtcrm::detail::cql
