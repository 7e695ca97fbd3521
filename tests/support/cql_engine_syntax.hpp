/// @file cql_engine_syntax.hpp
/// The CQL test peer's statements as parsed: tokens, the syntax tree of the CQL 3 subset
/// the table engine runs (cql_table_engine.hpp lists it), and the parser's entry point.
/// Errors travel as `statement_error` exceptions, here and in the engine.
#pragma once

#include "cql/cql_protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rtcrm::test {
namespace cql = rtcrm::detail::cql;
}  // namespace rtcrm::test

namespace rtcrm::test::engine {

using cql::type_id;

// Errors travel as exceptions inside the engine: the parser and planners are deeply nested
// and a test fixture gains nothing from threading results through them. Every public entry
// point catches them and answers with the ERROR response they carry.
struct statement_error {
    cql::error_response response;
};

/// Throws an ERROR response with `code` and `message`.
[[noreturn]] inline void fail(cql::error_code code, std::string message) {
    cql::error_response e;
    e.code = code;
    e.message = std::move(message);
    throw statement_error{std::move(e)};
}
/// Throws an `invalid` ERROR (Cassandra's InvalidRequest).
[[noreturn]] inline void invalid(std::string message) { fail(cql::error_code::invalid, std::move(message)); }
/// Throws a `syntax_error` ERROR.
[[noreturn]] inline void syntax(std::string message) { fail(cql::error_code::syntax_error, std::move(message)); }

/// `s` with ASCII letters lower-cased (CQL keywords and unquoted names are case-blind).
std::string lower(std::string_view s);

// --- Tokens -------------------------------------------------------------------------------

enum class tk { ident, quoted, string, integer, floating, hex, uuid, marker, symbol, end };

struct token {
    tk kind = tk::end;
    std::string text;  // identifiers lower-cased; quoted identifiers and strings unescaped
    std::size_t pos = 0;
};

/// Splits a statement into tokens, ending with one of kind `end`; throws a syntax error on
/// a character no token starts with, or an unterminated string or comment.
std::vector<token> lex(std::string_view s);

// --- Syntax tree ---------------------------------------------------------------------------

enum class term_kind { marker, string, integer, floating, hex, uuid, boolean, null, set_or_map, list, function };

struct term {
    term_kind kind = term_kind::null;
    std::string text;         // the literal, or the function name
    std::size_t marker = 0;   // index of a bind marker
    std::vector<term> items;  // collection elements (map: key, value, key, value, ...)
    bool is_map = false;
};

struct relation {
    std::vector<std::string> columns;  // one column, or token()'s arguments
    bool token = false;
    std::string op;
    term value;
};

struct qualified_name {
    std::string keyspace;  // empty: the connection's keyspace
    std::string table;
};

struct create_keyspace_st {
    std::string name;
    bool if_not_exists = false;
    std::map<std::string, std::string> replication;
    bool durable_writes = true;
};
struct use_st {
    std::string name;
};
struct drop_st {
    bool keyspace = false;
    bool if_exists = false;
    qualified_name name;
};
struct truncate_st {
    qualified_name name;
};
struct column_decl {
    std::string name;
    cql::data_type type;
};
struct create_table_st {
    qualified_name name;
    bool if_not_exists = false;
    std::vector<column_decl> columns;
    std::vector<std::string> partition_key;
    std::vector<std::string> clustering_key;
    std::vector<std::pair<std::string, bool>> clustering_order;  // name, descending
    std::int32_t default_ttl = 0;
};
struct insert_st {
    qualified_name name;
    std::vector<std::string> columns;
    std::vector<term> values;
    std::optional<term> ttl;
    std::optional<term> timestamp;
    bool if_not_exists = false;  // a lightweight transaction: applied only if the row is absent
};
struct update_st {
    qualified_name name;
    std::vector<std::pair<std::string, term>> set;
    std::vector<relation> where;
    std::optional<term> ttl;
    std::optional<term> timestamp;
    // A lightweight transaction: applied only if the row exists (IF EXISTS) or every
    // condition on its regular columns holds (IF col op value AND ...).
    bool if_exists = false;
    std::vector<relation> conditions;
};
struct delete_st {
    qualified_name name;
    std::vector<std::string> columns;
    std::vector<relation> where;
    std::optional<term> timestamp;
};
struct selector {
    std::string column;
    std::string alias;
};
struct select_st {
    qualified_name name;
    bool star = false;
    bool count = false;
    std::string count_alias = "count";
    std::vector<selector> columns;
    std::vector<relation> where;
    std::vector<std::pair<std::string, bool>> order_by;  // name, descending
    std::optional<term> limit;
    bool allow_filtering = false;
};
using write_st = std::variant<insert_st, update_st, delete_st>;
struct batch_st {
    std::vector<write_st> statements;
    std::optional<term> timestamp;
};

using statement = std::variant<create_keyspace_st, use_st, drop_st, truncate_st, create_table_st, insert_st,
                               update_st, delete_st, select_st, batch_st>;

/// A statement and the number of bind markers (`?`) in it.
struct parsed_statement {
    statement st;
    std::size_t markers = 0;
};
/// Parses one statement (a trailing ';' is allowed); throws a syntax error (or invalid, for
/// what the peer does not support) naming the problem.
parsed_statement parse(std::string_view text);

}  // namespace rtcrm::test::engine
