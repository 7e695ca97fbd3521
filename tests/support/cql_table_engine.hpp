/// @file cql_table_engine.hpp
/// The table engine behind the CQL test peer (cql_peer.hpp): a parser for the subset of
/// CQL 3 that rtcrm and the DataStax Python driver use, and in-memory keyspaces and
/// tables, including the system tables a driver reads at connect. No sockets here: the
/// engine takes decoded requests and returns the responses to encode, so it can be tested
/// on its own.
///
/// Supported: CREATE/DROP KEYSPACE, USE, CREATE/DROP TABLE, TRUNCATE, INSERT, UPDATE
/// (`c = term`), DELETE (rows or columns), SELECT (columns, `*`, `count(*)`; equality on
/// the partition key or a `token(...)` range; relations on clustering columns; ORDER BY;
/// LIMIT; paging), with `?` markers or literals, USING TTL / TIMESTAMP, default TTLs;
/// lightweight transactions outside batches (INSERT ... IF NOT EXISTS, UPDATE ... IF
/// EXISTS or IF col op value AND ..., null equal to null; answered with `[applied]` and,
/// when not applied, the current values of the conditions' columns), checked and applied
/// atomically as every request is; system.local, system.peers,
/// system_schema.keyspaces/tables/columns.
///
/// Caveats:
/// - Deletes remove data at once (no tombstones): a later write with an older timestamp
///   is not shadowed by them.
/// - A paging state is the number of rows already returned, so rows written or deleted
///   between pages can shift the next page.
/// - IN relations, conditional statements in batches, DELETE ... IF, counters, secondary
///   indexes, user types and collection updates other than whole-value assignment are
///   refused with an error.
#pragma once

#include "cql/cql_protocol.hpp"
#include "cql/cql_values.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::test {

/// How the simulated cluster looks in the system tables.
struct cql_engine_options {
    std::vector<std::string> addresses{"127.0.0.1"};  ///< one node per address (IPv4 or IPv6)
    std::string cluster_name = "rtcrm-test";         ///< system.local cluster_name
    std::string datacenter = "dc1";                  ///< data_center of every node
    std::size_t tokens_per_node = 8;                 ///< Murmur3 tokens per node, from a fixed seed
    std::uint64_t token_seed = 0x7274636d;           ///< seed of the token generator
};

/// One node as the system tables describe it.
struct cql_node_info {
    std::string address;                       ///< rpc, broadcast and listen address
    std::vector<std::int64_t> tokens;          ///< sorted ascending
    rtcrm::detail::cql::uuid_bytes host_id{};  ///< stable per node index
};

/// Per-connection state the engine reads and updates (USE changes the keyspace).
struct cql_connection_state {
    std::string keyspace;  ///< the current keyspace; empty: none
    std::size_t node = 0;  ///< the node the connection is to (system.local answers for it)
};

struct cql_statement;  // a parsed statement, bound to the schema when it was prepared

/// In-memory keyspaces and tables. Thread-safe: every public member locks one mutex.
class cql_table_engine {
public:
    /// Builds the nodes (tokens from `token_seed`) and the system keyspaces.
    explicit cql_table_engine(cql_engine_options options = {});
    ~cql_table_engine();
    cql_table_engine(const cql_table_engine&) = delete;
    cql_table_engine& operator=(const cql_table_engine&) = delete;

    /// Runs a QUERY. Returns a `result_response` (Void, Rows, Set_keyspace, Schema_change)
    /// or an `error_response` (syntax_error / invalid / already_exists naming the problem).
    rtcrm::detail::cql::response query(std::string_view cql, const rtcrm::detail::cql::query_parameters& params,
                                       cql_connection_state& conn);
    /// Runs a PREPARE: registers the statement and returns a `prepared_result` (id, bound
    /// variables with pk_indexes, result columns for a SELECT) or an error.
    rtcrm::detail::cql::response prepare(std::string_view cql, const cql_connection_state& conn);
    /// Runs an EXECUTE; an unknown id gets an `unprepared` error carrying the id.
    rtcrm::detail::cql::response execute(const rtcrm::detail::cql::execute_request& request,
                                         cql_connection_state& conn);
    /// Runs a BATCH: applies its statements in order (prepared ids or text), stopping at
    /// the first error, which is returned; otherwise a Void result.
    rtcrm::detail::cql::response batch(const rtcrm::detail::cql::batch_request& request, cql_connection_state& conn);

    /// The text of a prepared statement, or nullopt for an unknown id.
    [[nodiscard]] std::optional<std::string> prepared_text(std::string_view id) const;
    /// Forgets every prepared statement.
    void forget_prepared();

    /// Live (not expired) rows of `keyspace.table`; 0 if it does not exist.
    [[nodiscard]] std::size_t row_count(std::string_view keyspace, std::string_view table) const;
    /// The node that owns `token`: the node of the first token >= it, wrapping.
    [[nodiscard]] std::size_t owner_of(std::int64_t token) const;
    /// The nodes, in the order of `cql_engine_options::addresses`.
    [[nodiscard]] const std::vector<cql_node_info>& nodes() const noexcept { return nodes_; }
    /// Moves the engine's clock forward (TTL tests without sleeping).
    void advance_clock(std::chrono::milliseconds by);

    struct schema;  ///< keyspaces and tables (defined in cql_engine_tables.hpp)

private:
    [[nodiscard]] std::int64_t now_ms() const;
    std::int64_t next_write_timestamp_us();

    cql_engine_options options_;
    std::vector<cql_node_info> nodes_;
    mutable std::mutex mutex_;
    std::unique_ptr<schema> schema_;
    std::map<std::string, std::shared_ptr<const cql_statement>> prepared_;  // by id
    std::chrono::milliseconds clock_offset_{0};
    std::int64_t last_write_us_ = 0;
};

}  // namespace rtcrm::test
