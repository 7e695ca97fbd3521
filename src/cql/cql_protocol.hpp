/// @file cql_protocol.hpp
/// The CQL native protocol, version 4: every request and response message as a plain
/// struct, with the client's side of the codec: requests are encoded, responses decoded.
/// The server's side (decoding requests, encoding responses) belongs to the test peer
/// (tests/support/cql_server_codec.hpp). Frames and the primitive notation are in
/// cql_frame.hpp.
///
/// Spec: doc/native_protocol_v4.spec in apache/cassandra. Section numbers below refer to it.
///
/// Caveats:
/// - Values are kept as the bytes of their CQL serialisation (`value`); the helpers in
///   cql_values.hpp convert C++ values to and from those bytes.
/// - Decoders never read past the body they are given: a truncated or malformed body comes
///   back as a failure (`errc::io_error`, reason naming the field), never as UB.
#pragma once

#include "cql/cql_frame.hpp"

#include <rtcrm/core/result.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rtcrm::detail::cql {

// --- Types and metadata (§4.2.5.2) -------------------------------------------------------

/// §4.2.5.2: the [option] ids of column types.
enum class type_id : std::uint16_t {
    custom = 0x0000,
    ascii = 0x0001,
    bigint = 0x0002,
    blob = 0x0003,
    boolean = 0x0004,
    counter = 0x0005,
    decimal = 0x0006,
    double_ = 0x0007,
    float_ = 0x0008,
    int_ = 0x0009,
    timestamp = 0x000B,
    uuid = 0x000C,
    varchar = 0x000D,
    varint = 0x000E,
    timeuuid = 0x000F,
    inet = 0x0010,
    date = 0x0011,
    time = 0x0012,
    smallint = 0x0013,
    tinyint = 0x0014,
    list = 0x0020,
    map = 0x0021,
    set = 0x0022,
    udt = 0x0030,
    tuple = 0x0031,
};

/// An [option] naming a column type, with its parameters for collections, UDTs and tuples.
struct data_type {
    type_id id = type_id::blob;
    std::string custom_class;        ///< for `custom`
    std::vector<data_type> params;   ///< list/set: 1, map: 2, tuple: n, udt: the field types
    std::string udt_keyspace;        ///< for `udt`
    std::string udt_name;            ///< for `udt`
    std::vector<std::string> udt_field_names;  ///< for `udt`, parallel to `params`
    /// Member-wise.
    friend bool operator==(const data_type&, const data_type&) = default;
};

/// A column of a result or a bound variable of a prepared statement.
struct column_spec {
    std::string keyspace;  ///< ks_name
    std::string table;     ///< table_name
    std::string name;      ///< column (or bind marker) name
    data_type type;        ///< its type
    /// Member-wise.
    friend bool operator==(const column_spec&, const column_spec&) = default;
};

/// The metadata of a Rows result (§4.2.5.2).
struct rows_metadata {
    static constexpr std::int32_t global_tables_spec = 0x0001;  ///< flag: one keyspace/table for all columns
    static constexpr std::int32_t has_more_pages = 0x0002;      ///< flag: a paging state follows
    static constexpr std::int32_t no_metadata = 0x0004;         ///< flag: no column specs

    /// Columns per row. Decoded: from the wire. Encoded: `columns.size()`, except with
    /// `no_metadata_flag`, where this field is written.
    std::int32_t column_count = 0;
    std::optional<std::string> paging_state;  ///< set: more pages follow (flag has_more_pages)
    bool no_metadata_flag = false;            ///< columns are absent (the request asked to skip them)
    /// The columns (empty with no_metadata). Encoded with global_tables_spec when every
    /// column has the same keyspace and table.
    std::vector<column_spec> columns;
};

/// The metadata of a Prepared result (§4.2.5.4): bound variables with the indexes of the
/// partition key columns among them (what token-aware routing needs).
struct prepared_metadata {
    std::vector<std::uint16_t> pk_indexes;  ///< positions in `columns` of the partition key, in key order
    std::vector<column_spec> columns;       ///< the bound variables
};

// --- Requests (§4.1) --------------------------------------------------------------------

/// §4.1.4 <query_parameters>, shared by QUERY and EXECUTE.
struct query_parameters {
    cql::consistency consistency = cql::consistency::local_quorum;
    std::vector<value> values;  ///< positional; the flag 0x01 is set when non-empty
    bool skip_metadata = false;
    std::optional<std::int32_t> page_size;
    std::optional<std::string> paging_state;
    std::optional<cql::consistency> serial_consistency;
    std::optional<std::int64_t> default_timestamp;  ///< microseconds since the epoch
};

/// STARTUP (§4.1.1); CQL_VERSION is required.
struct startup_request {
    string_map options{{"CQL_VERSION", "3.0.0"}};
};
/// OPTIONS (§4.1.3): asks for SUPPORTED.
struct options_request {};
/// AUTH_RESPONSE (§4.1.2).
struct auth_response_request {
    value token;  ///< PasswordAuthenticator: "\0user\0password"
};
/// QUERY (§4.1.4).
struct query_request {
    std::string query;        ///< [long string] CQL text
    query_parameters params;  ///< consistency, values, paging, ...
};
/// PREPARE (§4.1.5).
struct prepare_request {
    std::string query;  ///< [long string] CQL text with bind markers
};
/// EXECUTE (§4.1.6).
struct execute_request {
    std::string id;  ///< [short bytes] from the Prepared result
    query_parameters params;  ///< as for QUERY
};
/// §4.1.7 BATCH <type>.
enum class batch_type : std::uint8_t { logged = 0, unlogged = 1, counter = 2 };
/// One statement of a BATCH.
struct batch_statement {
    bool prepared = false;     ///< true: `query_or_id` is a prepared id
    std::string query_or_id;  ///< [long string] query or [short bytes] id
    std::vector<value> values;  ///< positional bound values
};
/// BATCH (§4.1.7); named values (flag 0x40) are not supported.
struct batch_request {
    batch_type type = batch_type::unlogged;                          ///< logged, unlogged or counter
    std::vector<batch_statement> statements;                         ///< at most 65535
    cql::consistency consistency = cql::consistency::local_quorum;   ///< for the whole batch
    std::optional<cql::consistency> serial_consistency;              ///< flag 0x10
    std::optional<std::int64_t> default_timestamp;                   ///< flag 0x20; microseconds
};
/// REGISTER (§4.1.8).
struct register_request {
    std::vector<std::string> events;  ///< TOPOLOGY_CHANGE, STATUS_CHANGE, SCHEMA_CHANGE
};

/// Every request message.
using request = std::variant<startup_request, options_request, auth_response_request, query_request,
                             prepare_request, execute_request, batch_request, register_request>;

// --- Responses (§4.2) -------------------------------------------------------------------

/// §9 error codes.
enum class error_code : std::int32_t {
    server_error = 0x0000,
    protocol_error = 0x000A,
    bad_credentials = 0x0100,
    unavailable = 0x1000,
    overloaded = 0x1001,
    is_bootstrapping = 0x1002,
    truncate_error = 0x1003,
    write_timeout = 0x1100,
    read_timeout = 0x1200,
    read_failure = 0x1300,
    function_failure = 0x1400,
    write_failure = 0x1500,
    syntax_error = 0x2000,
    unauthorized = 0x2100,
    invalid = 0x2200,
    config_error = 0x2300,
    already_exists = 0x2400,
    unprepared = 0x2500,
};
/// The code's snake_case name ("write_timeout"); "unknown" for codes §9 does not list.
std::string_view error_code_name(error_code c) noexcept;

/// An ERROR response with the extra fields of its code (§9); fields a code does not have
/// stay at their defaults.
struct error_response {
    error_code code = error_code::server_error;
    std::string message;  ///< the server's text
    cql::consistency consistency = cql::consistency::any;  ///< unavailable, timeouts, failures
    std::int32_t required = 0;        ///< unavailable: required; timeouts/failures: blockfor
    std::int32_t alive = 0;           ///< unavailable: alive; timeouts/failures: received
    std::int32_t failures = 0;        ///< read/write failure: numfailures
    bool data_present = false;        ///< read timeout/failure
    std::string write_type;           ///< write timeout/failure
    std::string keyspace;             ///< already_exists; function_failure
    std::string table;                ///< already_exists; function_failure: function name
    std::vector<std::string> arg_types;  ///< function_failure
    std::string unprepared_id;        ///< unprepared: [short bytes]
};
/// READY (§4.2.2).
struct ready_response {};
/// AUTHENTICATE (§4.2.3).
struct authenticate_response {
    std::string authenticator;  ///< e.g. org.apache.cassandra.auth.PasswordAuthenticator
};
/// SUPPORTED (§4.2.4).
struct supported_response {
    string_multimap options;  ///< e.g. CQL_VERSION: [3.4.5], COMPRESSION: [lz4, snappy]
};
/// AUTH_CHALLENGE (§4.2.7).
struct auth_challenge_response {
    value token;  ///< [bytes], authenticator specific
};
/// AUTH_SUCCESS (§4.2.8).
struct auth_success_response {
    value token;  ///< [bytes], authenticator specific; may be null
};

/// RESULT Void (§4.2.5.1).
struct void_result {};
/// RESULT Rows (§4.2.5.2).
struct rows_result {
    rows_metadata metadata;  ///< columns, paging state
    std::vector<std::vector<value>> rows;  ///< each of metadata.column_count values
};
/// RESULT Set_keyspace (§4.2.5.3).
struct set_keyspace_result {
    std::string keyspace;  ///< the keyspace now in use
};
/// RESULT Prepared (§4.2.5.4).
struct prepared_result {
    std::string id;  ///< [short bytes]
    prepared_metadata metadata;     ///< bound variables and partition key indexes
    rows_metadata result_metadata;  ///< columns of the rows an EXECUTE returns (none for writes)
};
/// Also the body of a SCHEMA_CHANGE event.
struct schema_change_result {
    std::string change_type;  ///< CREATED, UPDATED, DROPPED
    std::string target;       ///< KEYSPACE, TABLE, TYPE, FUNCTION, AGGREGATE
    std::string keyspace;                ///< the keyspace changed or holding the target
    std::string name;                    ///< table/type/function name (not for KEYSPACE)
    std::vector<std::string> arg_types;  ///< FUNCTION, AGGREGATE
};
/// The kinds of RESULT (§4.2.5).
using result_body = std::variant<void_result, rows_result, set_keyspace_result, prepared_result, schema_change_result>;
/// RESULT (§4.2.5).
struct result_response {
    result_body body;  ///< by kind
};

/// §4.2.6 EVENT.
struct event_response {
    std::string type;    ///< TOPOLOGY_CHANGE, STATUS_CHANGE, SCHEMA_CHANGE
    std::string change;  ///< NEW_NODE, REMOVED_NODE, UP, DOWN (not for SCHEMA_CHANGE)
    std::array<std::uint8_t, 16> address{};  ///< [inet] address bytes (4 or 16 used)
    std::uint8_t address_size = 0;
    std::int32_t port = 0;                   ///< [inet] port
    schema_change_result schema;  ///< SCHEMA_CHANGE only
};

/// Every response message.
using response = std::variant<error_response, ready_response, authenticate_response, supported_response,
                              result_response, event_response, auth_challenge_response, auth_success_response>;

/// The opcode a message is sent with.
opcode opcode_of(const request& r) noexcept;
opcode opcode_of(const response& r) noexcept;

/// §4.1.4 <query_parameters> flags (BATCH uses serial_consistency and default_timestamp).
namespace query_flag {
inline constexpr std::uint8_t values = 0x01;              ///< positional values follow
inline constexpr std::uint8_t skip_metadata = 0x02;       ///< Rows results come without column specs
inline constexpr std::uint8_t page_size = 0x04;           ///< an [int] page size follows
inline constexpr std::uint8_t paging_state = 0x08;        ///< a [bytes] paging state follows
inline constexpr std::uint8_t serial_consistency = 0x10;  ///< a serial [consistency] follows
inline constexpr std::uint8_t default_timestamp = 0x20;   ///< a [long] timestamp follows
inline constexpr std::uint8_t names_for_values = 0x40;    ///< named values (refused: no rtcrm client sends them)
}  // namespace query_flag

/// §4.2.5: the [int] kind in front of a RESULT body.
namespace result_kind {
inline constexpr std::int32_t void_ = 0x0001;          ///< void_result
inline constexpr std::int32_t rows = 0x0002;           ///< rows_result
inline constexpr std::int32_t set_keyspace = 0x0003;   ///< set_keyspace_result
inline constexpr std::int32_t prepared = 0x0004;       ///< prepared_result
inline constexpr std::int32_t schema_change = 0x0005;  ///< schema_change_result
}  // namespace result_kind

/// Appends a whole frame (header + body) carrying `r` on `stream` to `out`. Never fails;
/// [string]s over 65535 bytes and lists over 65535 entries are the caller's bug (the
/// length would wrap), values over 2 GiB likewise.
void encode_request(std::int16_t stream, const request& r, std::string& out);

/// Decodes a response body (the client's side). Skips the tracing id, warnings and custom
/// payload that the frame flags announce (`warnings`, if given, receives the warnings).
/// An ERROR with a code §9 does not list comes back with its code and message, and
/// whatever follows them is ignored (its layout is unknown).
result<response> decode_response(const frame_header& h, std::string_view body,
                                 std::vector<std::string>* warnings = nullptr);

}  // namespace rtcrm::detail::cql
