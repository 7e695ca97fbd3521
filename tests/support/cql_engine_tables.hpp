/// @file cql_engine_tables.hpp
/// The CQL test peer's data: keyspaces, tables, partitions, rows and cells with their
/// write timestamps and expiry times, the schema that holds them, and what a statement
/// runs against (`exec_env`, `eval_ctx`).
#pragma once

#include "cql/cql_protocol.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_engine_syntax.hpp"
#include "support/cql_engine_values.hpp"
#include "support/cql_table_engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcrm::test {
namespace engine {

enum class column_kind { partition_key, clustering, regular };

struct column_def {
    std::string name;
    cql::data_type type;
    column_kind kind = column_kind::regular;
    bool desc = false;      // clustering order
    std::size_t position = 0;  // within the partition or clustering key
};

struct cell {
    cql::value v;
    std::int64_t expires_ms = 0;  // 0: never
    std::int64_t ts = std::numeric_limits<std::int64_t>::min();
};

struct row {
    bool marker = false;  // INSERT writes a row marker, so the row lives on with all cells null
    std::int64_t marker_expires_ms = 0;
    std::int64_t marker_ts = std::numeric_limits<std::int64_t>::min();
    std::map<std::size_t, cell> cells;  // by column index
};

struct clustering_spec {
    cql::data_type type;
    bool desc = false;
};

struct clustering_less {
    std::shared_ptr<const std::vector<clustering_spec>> specs;
    bool operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const {
        for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
            int c = compare_values((*specs)[i].type, a[i], b[i]);
            if ((*specs)[i].desc) {
                c = -c;
            }
            if (c != 0) {
                return c < 0;
            }
        }
        return a.size() < b.size();
    }
};

using row_map = std::map<std::vector<std::string>, row, clustering_less>;

struct partition {
    std::vector<std::string> key;
    row_map rows;
};

using partition_key = std::pair<std::int64_t, std::string>;  // token, routing key

inline bool cell_live(const cell& c, std::int64_t now) { return c.v.has_value() && (c.expires_ms == 0 || c.expires_ms > now); }

inline bool row_live(const row& r, std::int64_t now) {
    if (r.marker && (r.marker_expires_ms == 0 || r.marker_expires_ms > now)) {
        return true;
    }
    return std::any_of(r.cells.begin(), r.cells.end(), [&](const auto& c) { return cell_live(c.second, now); });
}

struct table {
    std::string keyspace;
    std::string name;
    std::vector<column_def> columns;
    std::vector<std::size_t> pk;
    std::vector<std::size_t> ck;
    std::shared_ptr<const std::vector<clustering_spec>> ck_specs;
    std::int32_t default_ttl = 0;
    std::map<partition_key, partition> partitions;

    [[nodiscard]] std::optional<std::size_t> find(std::string_view col) const {
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (columns[i].name == col) {
                return i;
            }
        }
        return std::nullopt;
    }
    [[nodiscard]] std::size_t column(std::string_view col) const {
        const auto i = find(col);
        if (!i) {
            invalid(fmt::format("Undefined column name {} in table {}.{}", col, keyspace, name));
        }
        return *i;
    }
    [[nodiscard]] cql::column_spec spec(std::size_t i) const { return {keyspace, name, columns[i].name, columns[i].type}; }
    // SELECT * order: partition key, clustering key, then the other columns by name.
    [[nodiscard]] std::vector<std::size_t> star() const {
        std::vector<std::size_t> out = pk;
        out.insert(out.end(), ck.begin(), ck.end());
        std::vector<std::size_t> rest;
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (columns[i].kind == column_kind::regular) {
                rest.push_back(i);
            }
        }
        std::sort(rest.begin(), rest.end(), [&](auto a, auto b) { return columns[a].name < columns[b].name; });
        out.insert(out.end(), rest.begin(), rest.end());
        return out;
    }
    [[nodiscard]] std::unique_ptr<table> empty_copy() const {
        auto t = std::make_unique<table>();
        t->keyspace = keyspace;
        t->name = name;
        t->columns = columns;
        t->pk = pk;
        t->ck = ck;
        t->ck_specs = ck_specs;
        t->default_ttl = default_ttl;
        return t;
    }
    [[nodiscard]] std::size_t live_rows(std::int64_t now) const {
        std::size_t n = 0;
        for (const auto& [k, p] : partitions) {
            for (const auto& [ck_values, r] : p.rows) {
                n += row_live(r, now) ? 1 : 0;
            }
        }
        return n;
    }
};

struct keyspace_def {
    std::string name;
    std::map<std::string, std::string> replication;
    bool durable_writes = true;
    std::map<std::string, std::unique_ptr<table>> tables;
};


inline bool is_system_keyspace(std::string_view ks) {
    return ks == "system" || ks == "system_schema" || ks == "system_auth" || ks == "system_distributed" ||
           ks == "system_traces";
}

/// Where a partition key's values put the partition: its token and routing key.
partition_key key_of(const std::vector<std::string>& pk_values);

}  // namespace engine

struct cql_table_engine::schema {
    std::map<std::string, engine::keyspace_def> keyspaces;
    std::uint64_t version = 1;  // bumped by every DDL; becomes schema_version

    [[nodiscard]] cql::uuid_bytes version_uuid() const {
        cql::uuid_bytes u{0x5c, 0x4e, 0x3a, 0x10, 0x77, 0x21, 0x40, 0x00, 0x80, 0x00};
        for (std::size_t i = 0; i < 6; ++i) {
            u[15 - i] = static_cast<std::uint8_t>((version >> (8 * i)) & 0xFFU);
        }
        return u;
    }
};

/// A statement as PREPARE registered it.
struct cql_statement {
    std::string text;
    std::string keyspace;  // the connection's keyspace at PREPARE time
    engine::statement parsed;
    std::size_t markers = 0;
};

namespace engine {

using schema_t = cql_table_engine::schema;

inline std::string uuid_string(const cql::uuid_bytes& u) { return std::string(reinterpret_cast<const char*>(u.data()), u.size()); }

// What a statement runs against: the engine's state for one request.
struct exec_env {
    schema_t& schema;
    const std::vector<cql_node_info>& nodes;
    const cql_engine_options& options;
    std::int64_t now_ms = 0;
    std::int64_t write_ts_us = 0;  // used when neither USING TIMESTAMP nor the request gives one
    std::size_t node = 0;
};

// Evaluates terms; with no values it is describing a statement for PREPARE: it records the
// column each marker binds and returns nulls.
struct eval_ctx {
    const std::vector<cql::value>* values = nullptr;
    std::vector<std::optional<cql::column_spec>> specs;
    std::map<std::size_t, std::size_t> pk_markers;  // partition key position -> marker index
    std::int64_t now_ms = 0;

    [[nodiscard]] bool describing() const { return values == nullptr; }

    /// A term's value for `target`: a bound value (checked against the type's size) or a
    /// literal; records the column a marker binds.
    cql::value eval(const term& t, const cql::column_spec& target);
    // An integer parameter (TTL, TIMESTAMP, LIMIT); nullopt while describing or when null.
    std::optional<std::int64_t> eval_int(const term& t, const std::string& name, type_id id);
};

/// The keyspace named; throws invalid when there is none.
keyspace_def& find_keyspace(schema_t& s, const std::string& name);
/// The keyspace of `n`: its own, else the connection's; throws invalid when neither is set.
std::string keyspace_of(const qualified_name& n, const std::string& current);
/// The table named; throws invalid when there is none.
table& find_table(schema_t& s, const qualified_name& n, const std::string& current);

}  // namespace engine
}  // namespace rtcrm::test
