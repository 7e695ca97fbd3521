/// @file cql_engine_statements.hpp
/// Running the CQL test peer's statements against its tables: writes planned as mutations
/// (checked whole before any is applied) and applied; SELECT planned and read; DDL; and
/// the system tables, computed for each read.
#pragma once

#include "support/cql_engine_syntax.hpp"
#include "support/cql_engine_tables.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::test::engine {

// --- Writes ------------------------------------------------------------------------------

struct filter {
    std::size_t column = 0;
    std::string op;
    cql::value value;
};

/// True when `have` relates to `want` by `op` (=, <, <=, >, >=) in `type`'s order.
bool matches(const cql::data_type& type, const cql::value& have, const std::string& op, const cql::value& want);

enum class mutation_kind { upsert, delete_cells, delete_rows };

struct mutation {
    table* target = nullptr;
    mutation_kind kind = mutation_kind::upsert;
    std::vector<std::string> pk;
    std::vector<std::string> ck;        // upsert, delete_cells: the row
    std::vector<filter> ck_filters;     // delete_rows: rows matching all; none: the whole partition
    bool marker = false;
    std::vector<std::pair<std::size_t, cql::value>> cells;
    std::int64_t ttl_s = 0;
    std::int64_t ts = 0;
};

// The WHERE clause of a statement, taken apart.
struct where_plan {
    std::vector<std::optional<std::string>> pk_eq;  // per partition key position
    std::size_t pk_restricted = 0;
    std::vector<filter> ck_filters;
    std::vector<filter> regular_filters;
    bool has_token = false;
    std::optional<std::int64_t> token_lo;  // exclusive unless lo_inclusive
    bool lo_inclusive = false;
    std::optional<std::int64_t> token_hi;  // inclusive unless !hi_inclusive
    bool hi_inclusive = true;

    [[nodiscard]] bool full_pk() const { return pk_restricted == pk_eq.size(); }
};


/// Sorts the relations of a WHERE clause onto the key columns (and filters on others).
where_plan plan_where(const table& t, const std::vector<relation>& where, eval_ctx& ctx);
/// Plans an INSERT, UPDATE or DELETE; throws for what Cassandra would refuse. With
/// `default_ts`, the request's timestamp is used where the statement gives none.
mutation plan_write(const write_st& w, const std::string& current_ks, schema_t& s, eval_ctx& ctx,
                    const exec_env& env, std::optional<std::int64_t> default_ts);
/// Applies a planned mutation at `now_ms` (for TTLs).
void apply(const mutation& m, std::int64_t now_ms);

/// What a lightweight transaction (INSERT ... IF NOT EXISTS, UPDATE ... IF EXISTS or IF
/// col op value AND ...) found: whether its write applies, and Cassandra's answer, a row
/// of `[applied]` and, when it does not apply, the current values of the columns its
/// conditions name (null for an absent row). The engine runs one request at a time, so
/// the check and the write are atomic.
struct condition_outcome {
    bool applied = false;
    cql::rows_result answer;
};
/// True for INSERT ... IF NOT EXISTS and UPDATE ... IF ...
bool is_conditional(const write_st& w);
/// Checks `w`'s conditions against the row `m` writes; nullopt for an unconditional write.
/// While `ctx` is describing (PREPARE), only the conditions' markers are typed.
std::optional<condition_outcome> check_conditions(const write_st& w, const mutation& m, eval_ctx& ctx,
                                                  std::int64_t now_ms);

// --- Schema ------------------------------------------------------------------------------

/// The system keyspaces and tables, created at construction.
extern const std::vector<std::string_view> system_ddl;
/// Refuses to modify a system keyspace, except while `bootstrapping` (creating them).
void refuse_system(const std::string& ks, bool bootstrapping);
/// CREATE KEYSPACE.
cql::result_body create_keyspace(schema_t& s, const create_keyspace_st& st, bool bootstrapping);
/// CREATE TABLE.
cql::result_body create_table(schema_t& s, const create_table_st& st, const std::string& current, bool bootstrapping);
/// DROP KEYSPACE / DROP TABLE.
cql::result_body drop(schema_t& s, const drop_st& st, const std::string& current);
/// system.local, system.peers and system_schema.* as of now, for the node `env` is about;
/// null for any other table.
std::unique_ptr<table> virtual_table(const table& def, const exec_env& env);

// --- SELECT ------------------------------------------------------------------------------

struct select_plan {
    table* target = nullptr;
    std::unique_ptr<table> owned;  // a system table computed for this read
    std::vector<std::size_t> columns;
    std::vector<cql::column_spec> result_columns;
    where_plan where;
    bool reverse = false;
    std::optional<std::int64_t> limit;
};

/// Plans a SELECT (for PREPARE too, where `ctx` is describing).
select_plan plan_select(const select_st& st, const std::string& current_ks, const exec_env& env, eval_ctx& ctx);
/// Rows metadata for `columns`; without the columns when `skip` (skip_metadata).
cql::rows_metadata rows_metadata_of(const std::vector<cql::column_spec>& columns, bool skip);
/// Runs a planned SELECT: the page `params` asks for, or the count.
cql::rows_result select_rows(const select_st& st, const select_plan& p, const cql::query_parameters& params,
                             std::int64_t now);

}  // namespace rtcrm::test::engine
