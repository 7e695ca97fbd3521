#include "cassandra/cql_protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace rtcrm::detail::cql {

namespace {

// Types nest (map<text, frozen<list<tuple<...>>>>); a garbage body could claim a nesting
// deep enough to exhaust the stack, so decoding stops at a depth no real schema reaches.
constexpr int max_type_depth = 32;

// The "not set" marker of a bound [value] (§3, §4.1.4): refused, see value's comment.
constexpr std::int32_t not_set_length = -2;

// Query parameter flags (§4.1.4).
constexpr std::uint8_t qp_values = 0x01;
constexpr std::uint8_t qp_skip_metadata = 0x02;
constexpr std::uint8_t qp_page_size = 0x04;
constexpr std::uint8_t qp_paging_state = 0x08;
constexpr std::uint8_t qp_serial_consistency = 0x10;
constexpr std::uint8_t qp_default_timestamp = 0x20;
constexpr std::uint8_t qp_names_for_values = 0x40;

// RESULT kinds (§4.2.5).
constexpr std::int32_t kind_void = 0x0001;
constexpr std::int32_t kind_rows = 0x0002;
constexpr std::int32_t kind_set_keyspace = 0x0003;
constexpr std::int32_t kind_prepared = 0x0004;
constexpr std::int32_t kind_schema_change = 0x0005;

failure io_failure(std::string reason) {
    return failure{make_error_code(errc::io_error), std::move(reason)};
}

// The common end of every decoder: the first unreadable field, or bytes nobody claimed.
template <typename T>
result<T> finish(const reader& r, T value, const char* message) {
    if (!r.ok()) {
        return io_failure(fmt::format("CQL {}: truncated or malformed field '{}'", message, r.failed_at()));
    }
    if (r.remaining() != 0) {
        return io_failure(fmt::format("CQL {}: {} trailing bytes after the body", message, r.remaining()));
    }
    return value;
}

bool valid_consistency(std::uint16_t v) noexcept { return v <= static_cast<std::uint16_t>(consistency::local_one); }

bool valid_opcode(std::uint8_t v) noexcept {
    // 0x04 (CREDENTIALS) is a v1 message that v4 no longer has.
    return v <= static_cast<std::uint8_t>(opcode::auth_success) && v != 0x04;
}

bool is_request_opcode(opcode o) noexcept {
    switch (o) {
        case opcode::startup:
        case opcode::options:
        case opcode::query:
        case opcode::prepare:
        case opcode::execute:
        case opcode::register_:
        case opcode::batch:
        case opcode::auth_response:
            return true;
        default:
            return false;
    }
}

// --- Types and metadata ------------------------------------------------------------------

void write_type(writer& w, const data_type& t) {
    w.short_(static_cast<std::uint16_t>(t.id));
    switch (t.id) {
        case type_id::custom:
            w.string(t.custom_class);
            break;
        case type_id::list:
        case type_id::set:
            if (t.params.empty()) {
                // An element type is mandatory on the wire; blob keeps the frame well-formed.
                write_type(w, data_type{});
            } else {
                write_type(w, t.params[0]);
            }
            break;
        case type_id::map:
            for (std::size_t i = 0; i < 2; ++i) {
                write_type(w, i < t.params.size() ? t.params[i] : data_type{});
            }
            break;
        case type_id::udt:
            w.string(t.udt_keyspace);
            w.string(t.udt_name);
            w.short_(static_cast<std::uint16_t>(t.params.size()));
            for (std::size_t i = 0; i < t.params.size(); ++i) {
                w.string(i < t.udt_field_names.size() ? t.udt_field_names[i] : std::string());
                write_type(w, t.params[i]);
            }
            break;
        case type_id::tuple:
            w.short_(static_cast<std::uint16_t>(t.params.size()));
            for (const auto& p : t.params) {
                write_type(w, p);
            }
            break;
        default:
            break;
    }
}

bool known_type_id(std::uint16_t v) noexcept {
    return (v <= 0x0014 && v != 0x000A) || v == 0x0020 || v == 0x0021 || v == 0x0022 || v == 0x0030 ||
           v == 0x0031;
}

data_type read_type(reader& r, int depth) {
    data_type t;
    if (depth > max_type_depth) {
        r.fail("type (nested too deep)");
        return t;
    }
    const std::uint16_t id = r.short_("type id");
    if (!r.ok()) {
        return t;
    }
    if (!known_type_id(id)) {
        r.fail("type id (unknown)");
        return t;
    }
    t.id = static_cast<type_id>(id);
    switch (t.id) {
        case type_id::custom:
            t.custom_class = r.string("custom type class");
            break;
        case type_id::list:
        case type_id::set:
            t.params.push_back(read_type(r, depth + 1));
            break;
        case type_id::map:
            t.params.push_back(read_type(r, depth + 1));
            t.params.push_back(read_type(r, depth + 1));
            break;
        case type_id::udt: {
            t.udt_keyspace = r.string("udt keyspace");
            t.udt_name = r.string("udt name");
            const std::uint16_t n = r.short_("udt field count");
            for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
                t.udt_field_names.push_back(r.string("udt field name"));
                t.params.push_back(read_type(r, depth + 1));
            }
            break;
        }
        case type_id::tuple: {
            const std::uint16_t n = r.short_("tuple field count");
            for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
                t.params.push_back(read_type(r, depth + 1));
            }
            break;
        }
        default:
            break;
    }
    return t;
}

bool same_table(const std::vector<column_spec>& cols) noexcept {
    if (cols.empty()) {
        return false;
    }
    return std::all_of(cols.begin(), cols.end(), [&](const column_spec& c) {
        return c.keyspace == cols.front().keyspace && c.table == cols.front().table;
    });
}

void write_column_specs(writer& w, const std::vector<column_spec>& cols, bool global) {
    if (global) {
        w.string(cols.front().keyspace);
        w.string(cols.front().table);
    }
    for (const auto& c : cols) {
        if (!global) {
            w.string(c.keyspace);
            w.string(c.table);
        }
        w.string(c.name);
        write_type(w, c.type);
    }
}

std::vector<column_spec> read_column_specs(reader& r, std::int32_t count, bool global) {
    std::vector<column_spec> cols;
    std::string ks;
    std::string table;
    if (global) {
        ks = r.string("global_tables_spec keyspace");
        table = r.string("global_tables_spec table");
    }
    for (std::int32_t i = 0; i < count && r.ok(); ++i) {
        column_spec c;
        if (global) {
            c.keyspace = ks;
            c.table = table;
        } else {
            c.keyspace = r.string("col_spec keyspace");
            c.table = r.string("col_spec table");
        }
        c.name = r.string("col_spec name");
        c.type = read_type(r, 0);
        cols.push_back(std::move(c));
    }
    return cols;
}

void write_rows_metadata(writer& w, const rows_metadata& m) {
    std::int32_t flags = 0;
    const bool global = !m.no_metadata_flag && same_table(m.columns);
    if (global) {
        flags |= rows_metadata::global_tables_spec;
    }
    if (m.paging_state) {
        flags |= rows_metadata::has_more_pages;
    }
    if (m.no_metadata_flag) {
        flags |= rows_metadata::no_metadata;
    }
    w.int_(flags);
    // With no_metadata the count still tells the reader how wide each row is.
    w.int_(m.no_metadata_flag ? m.column_count : static_cast<std::int32_t>(m.columns.size()));
    if (m.paging_state) {
        w.bytes(*m.paging_state);
    }
    if (!m.no_metadata_flag) {
        write_column_specs(w, m.columns, global);
    }
}

rows_metadata read_rows_metadata(reader& r) {
    rows_metadata m;
    const std::int32_t flags = r.int_("rows metadata flags");
    m.column_count = r.int_("rows metadata columns_count");
    if (!r.ok()) {
        return m;
    }
    if (m.column_count < 0) {
        r.fail("rows metadata columns_count (negative)");
        return m;
    }
    if ((flags & ~(rows_metadata::global_tables_spec | rows_metadata::has_more_pages | rows_metadata::no_metadata)) !=
        0) {
        r.fail("rows metadata flags (unknown bits)");
        return m;
    }
    if ((flags & rows_metadata::has_more_pages) != 0) {
        m.paging_state = r.bytes("rows metadata paging_state");
        if (r.ok() && !m.paging_state) {
            r.fail("rows metadata paging_state (null)");
        }
    }
    m.no_metadata_flag = (flags & rows_metadata::no_metadata) != 0;
    if (!m.no_metadata_flag) {
        m.columns = read_column_specs(r, m.column_count, (flags & rows_metadata::global_tables_spec) != 0);
    }
    return m;
}

void write_prepared_metadata(writer& w, const prepared_metadata& m) {
    const bool global = same_table(m.columns);
    w.int_(global ? rows_metadata::global_tables_spec : 0);
    w.int_(static_cast<std::int32_t>(m.columns.size()));
    w.int_(static_cast<std::int32_t>(m.pk_indexes.size()));
    for (const auto i : m.pk_indexes) {
        w.short_(i);
    }
    write_column_specs(w, m.columns, global);
}

prepared_metadata read_prepared_metadata(reader& r) {
    prepared_metadata m;
    const std::int32_t flags = r.int_("prepared metadata flags");
    const std::int32_t count = r.int_("prepared metadata columns_count");
    const std::int32_t pk_count = r.int_("prepared metadata pk_count");
    if (!r.ok()) {
        return m;
    }
    if (count < 0 || pk_count < 0) {
        r.fail("prepared metadata counts (negative)");
        return m;
    }
    if ((flags & ~rows_metadata::global_tables_spec) != 0) {
        r.fail("prepared metadata flags (unknown bits)");
        return m;
    }
    for (std::int32_t i = 0; i < pk_count && r.ok(); ++i) {
        m.pk_indexes.push_back(r.short_("prepared metadata pk_index"));
    }
    m.columns = read_column_specs(r, count, (flags & rows_metadata::global_tables_spec) != 0);
    return m;
}

// --- Requests -----------------------------------------------------------------------------

void write_values(writer& w, const std::vector<value>& values) {
    w.short_(static_cast<std::uint16_t>(values.size()));
    for (const auto& v : values) {
        w.bytes(v);
    }
}

std::vector<value> read_values(reader& r, const char* count_what) {
    std::vector<value> values;
    const std::uint16_t n = r.short_(count_what);
    for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
        values.push_back(r.bytes("value"));
    }
    return values;
}

void write_query_parameters(writer& w, const query_parameters& p) {
    w.consistency(p.consistency);
    std::uint8_t flags = 0;
    if (!p.values.empty()) {
        flags |= qp_values;
    }
    if (p.skip_metadata) {
        flags |= qp_skip_metadata;
    }
    if (p.page_size) {
        flags |= qp_page_size;
    }
    if (p.paging_state) {
        flags |= qp_paging_state;
    }
    if (p.serial_consistency) {
        flags |= qp_serial_consistency;
    }
    if (p.default_timestamp) {
        flags |= qp_default_timestamp;
    }
    w.byte(flags);
    if (!p.values.empty()) {
        write_values(w, p.values);
    }
    if (p.page_size) {
        w.int_(*p.page_size);
    }
    if (p.paging_state) {
        w.bytes(*p.paging_state);
    }
    if (p.serial_consistency) {
        w.consistency(*p.serial_consistency);
    }
    if (p.default_timestamp) {
        w.long_(*p.default_timestamp);
    }
}

query_parameters read_query_parameters(reader& r) {
    query_parameters p;
    p.consistency = r.consistency("query_parameters consistency");
    const std::uint8_t flags = r.byte("query_parameters flags");
    if (!r.ok()) {
        return p;
    }
    if ((flags & qp_names_for_values) != 0) {
        // Named values would need the prepared statement's names to be placed; no rtcrm
        // client sends them, and silently dropping the names would misplace values.
        r.fail("query_parameters flags (named values are not supported)");
        return p;
    }
    if ((flags & 0x80U) != 0) {
        r.fail("query_parameters flags (unknown bits)");
        return p;
    }
    if ((flags & qp_values) != 0) {
        p.values = read_values(r, "query_parameters values count");
    }
    p.skip_metadata = (flags & qp_skip_metadata) != 0;
    if ((flags & qp_page_size) != 0) {
        p.page_size = r.int_("query_parameters result_page_size");
    }
    if ((flags & qp_paging_state) != 0) {
        p.paging_state = r.bytes("query_parameters paging_state");
        if (r.ok() && !p.paging_state) {
            r.fail("query_parameters paging_state (null)");
        }
    }
    if ((flags & qp_serial_consistency) != 0) {
        p.serial_consistency = r.consistency("query_parameters serial_consistency");
    }
    if ((flags & qp_default_timestamp) != 0) {
        p.default_timestamp = r.long_("query_parameters timestamp");
    }
    return p;
}

void write_request_body(writer& w, const request& req) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, startup_request>) {
                w.string_map(m.options);
            } else if constexpr (std::is_same_v<T, options_request>) {
                // no body
            } else if constexpr (std::is_same_v<T, auth_response_request>) {
                w.bytes(m.token);
            } else if constexpr (std::is_same_v<T, query_request>) {
                w.long_string(m.query);
                write_query_parameters(w, m.params);
            } else if constexpr (std::is_same_v<T, prepare_request>) {
                w.long_string(m.query);
            } else if constexpr (std::is_same_v<T, execute_request>) {
                w.short_bytes(m.id);
                write_query_parameters(w, m.params);
            } else if constexpr (std::is_same_v<T, batch_request>) {
                w.byte(static_cast<std::uint8_t>(m.type));
                w.short_(static_cast<std::uint16_t>(m.statements.size()));
                for (const auto& s : m.statements) {
                    w.byte(s.prepared ? 1 : 0);
                    if (s.prepared) {
                        w.short_bytes(s.query_or_id);
                    } else {
                        w.long_string(s.query_or_id);
                    }
                    write_values(w, s.values);
                }
                w.consistency(m.consistency);
                std::uint8_t flags = 0;
                if (m.serial_consistency) {
                    flags |= qp_serial_consistency;
                }
                if (m.default_timestamp) {
                    flags |= qp_default_timestamp;
                }
                w.byte(flags);
                if (m.serial_consistency) {
                    w.consistency(*m.serial_consistency);
                }
                if (m.default_timestamp) {
                    w.long_(*m.default_timestamp);
                }
            } else if constexpr (std::is_same_v<T, register_request>) {
                w.string_list(m.events);
            }
        },
        req);
}

batch_request read_batch(reader& r) {
    batch_request b;
    const std::uint8_t type = r.byte("batch type");
    if (r.ok() && type > static_cast<std::uint8_t>(batch_type::counter)) {
        r.fail("batch type (unknown)");
    }
    b.type = static_cast<batch_type>(type);
    const std::uint16_t n = r.short_("batch statement count");
    for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
        batch_statement s;
        const std::uint8_t kind = r.byte("batch statement kind");
        if (r.ok() && kind > 1) {
            r.fail("batch statement kind (unknown)");
            break;
        }
        s.prepared = kind == 1;
        s.query_or_id = s.prepared ? r.short_bytes("batch statement id") : r.long_string("batch statement query");
        s.values = read_values(r, "batch statement values count");
        b.statements.push_back(std::move(s));
    }
    b.consistency = r.consistency("batch consistency");
    const std::uint8_t flags = r.byte("batch flags");
    if (r.ok() && (flags & ~(qp_serial_consistency | qp_default_timestamp)) != 0) {
        r.fail("batch flags (unsupported bits)");
    }
    if (r.ok() && (flags & qp_serial_consistency) != 0) {
        b.serial_consistency = r.consistency("batch serial_consistency");
    }
    if (r.ok() && (flags & qp_default_timestamp) != 0) {
        b.default_timestamp = r.long_("batch timestamp");
    }
    return b;
}

// --- Responses ----------------------------------------------------------------------------

bool has_consistency_fields(error_code c) noexcept {
    return c == error_code::unavailable || c == error_code::write_timeout || c == error_code::read_timeout ||
           c == error_code::read_failure || c == error_code::write_failure;
}

void write_error(writer& w, const error_response& e) {
    w.int_(static_cast<std::int32_t>(e.code));
    w.string(e.message);
    switch (e.code) {
        case error_code::unavailable:
            w.consistency(e.consistency);
            w.int_(e.required);
            w.int_(e.alive);
            break;
        case error_code::write_timeout:
            w.consistency(e.consistency);
            w.int_(e.alive);
            w.int_(e.required);
            w.string(e.write_type);
            break;
        case error_code::read_timeout:
            w.consistency(e.consistency);
            w.int_(e.alive);
            w.int_(e.required);
            w.byte(e.data_present ? 1 : 0);
            break;
        case error_code::read_failure:
            w.consistency(e.consistency);
            w.int_(e.alive);
            w.int_(e.required);
            w.int_(e.failures);
            w.byte(e.data_present ? 1 : 0);
            break;
        case error_code::function_failure:
            w.string(e.keyspace);
            w.string(e.table);
            w.string_list(e.arg_types);
            break;
        case error_code::write_failure:
            w.consistency(e.consistency);
            w.int_(e.alive);
            w.int_(e.required);
            w.int_(e.failures);
            w.string(e.write_type);
            break;
        case error_code::already_exists:
            w.string(e.keyspace);
            w.string(e.table);
            break;
        case error_code::unprepared:
            w.short_bytes(e.unprepared_id);
            break;
        default:
            break;
    }
}

// Returns false when the code is unknown (its extra fields cannot be known either).
bool read_error(reader& r, error_response& e) {
    e.code = static_cast<error_code>(r.int_("error code"));
    e.message = r.string("error message");
    if (!r.ok()) {
        return true;
    }
    if (has_consistency_fields(e.code)) {
        e.consistency = r.consistency("error consistency");
    }
    switch (e.code) {
        case error_code::unavailable:
            e.required = r.int_("error required");
            e.alive = r.int_("error alive");
            break;
        case error_code::write_timeout:
            e.alive = r.int_("error received");
            e.required = r.int_("error blockfor");
            e.write_type = r.string("error writeType");
            break;
        case error_code::read_timeout:
            e.alive = r.int_("error received");
            e.required = r.int_("error blockfor");
            e.data_present = r.byte("error data_present") != 0;
            break;
        case error_code::read_failure:
            e.alive = r.int_("error received");
            e.required = r.int_("error blockfor");
            e.failures = r.int_("error numfailures");
            e.data_present = r.byte("error data_present") != 0;
            break;
        case error_code::function_failure:
            e.keyspace = r.string("error keyspace");
            e.table = r.string("error function");
            e.arg_types = r.string_list("error arg_types");
            break;
        case error_code::write_failure:
            e.alive = r.int_("error received");
            e.required = r.int_("error blockfor");
            e.failures = r.int_("error numfailures");
            e.write_type = r.string("error writeType");
            break;
        case error_code::already_exists:
            e.keyspace = r.string("error keyspace");
            e.table = r.string("error table");
            break;
        case error_code::unprepared:
            e.unprepared_id = r.short_bytes("error unprepared id");
            break;
        case error_code::server_error:
        case error_code::protocol_error:
        case error_code::bad_credentials:
        case error_code::overloaded:
        case error_code::is_bootstrapping:
        case error_code::truncate_error:
        case error_code::syntax_error:
        case error_code::unauthorized:
        case error_code::invalid:
        case error_code::config_error:
            break;
        default:
            return false;
    }
    return true;
}

void write_schema_change(writer& w, const schema_change_result& s) {
    w.string(s.change_type);
    w.string(s.target);
    w.string(s.keyspace);
    if (s.target != "KEYSPACE") {
        w.string(s.name);
        if (s.target == "FUNCTION" || s.target == "AGGREGATE") {
            w.string_list(s.arg_types);
        }
    }
}

schema_change_result read_schema_change(reader& r) {
    schema_change_result s;
    s.change_type = r.string("schema change change_type");
    s.target = r.string("schema change target");
    s.keyspace = r.string("schema change keyspace");
    if (!r.ok()) {
        return s;
    }
    if (s.target == "KEYSPACE") {
        return s;
    }
    if (s.target != "TABLE" && s.target != "TYPE" && s.target != "FUNCTION" && s.target != "AGGREGATE") {
        r.fail("schema change target (unknown)");
        return s;
    }
    s.name = r.string("schema change name");
    if (s.target == "FUNCTION" || s.target == "AGGREGATE") {
        s.arg_types = r.string_list("schema change argument types");
    }
    return s;
}

void write_result(writer& w, const result_response& res) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, void_result>) {
                w.int_(kind_void);
            } else if constexpr (std::is_same_v<T, rows_result>) {
                w.int_(kind_rows);
                write_rows_metadata(w, m.metadata);
                w.int_(static_cast<std::int32_t>(m.rows.size()));
                for (const auto& row : m.rows) {
                    for (const auto& v : row) {
                        w.bytes(v);
                    }
                }
            } else if constexpr (std::is_same_v<T, set_keyspace_result>) {
                w.int_(kind_set_keyspace);
                w.string(m.keyspace);
            } else if constexpr (std::is_same_v<T, prepared_result>) {
                w.int_(kind_prepared);
                w.short_bytes(m.id);
                write_prepared_metadata(w, m.metadata);
                write_rows_metadata(w, m.result_metadata);
            } else if constexpr (std::is_same_v<T, schema_change_result>) {
                w.int_(kind_schema_change);
                write_schema_change(w, m);
            }
        },
        res.body);
}

result_response read_result(reader& r) {
    result_response res;
    const std::int32_t kind = r.int_("result kind");
    if (!r.ok()) {
        return res;
    }
    switch (kind) {
        case kind_void:
            res.body = void_result{};
            break;
        case kind_rows: {
            rows_result rows;
            rows.metadata = read_rows_metadata(r);
            const std::int32_t count = r.int_("rows_count");
            if (!r.ok()) {
                break;
            }
            const auto width = static_cast<std::size_t>(rows.metadata.column_count);
            // Every value takes at least its 4-byte length: a count the body cannot hold is
            // refused before anything is allocated for it.
            if (count < 0 || (width == 0 && count != 0) ||
                static_cast<std::size_t>(count) * width > r.remaining() / 4) {
                r.fail("rows_count");
                break;
            }
            rows.rows.reserve(static_cast<std::size_t>(count));
            for (std::int32_t i = 0; i < count && r.ok(); ++i) {
                std::vector<value> row;
                row.reserve(width);
                for (std::size_t c = 0; c < width; ++c) {
                    row.push_back(r.bytes("row value"));
                }
                rows.rows.push_back(std::move(row));
            }
            res.body = std::move(rows);
            break;
        }
        case kind_set_keyspace:
            res.body = set_keyspace_result{r.string("set_keyspace keyspace")};
            break;
        case kind_prepared: {
            prepared_result p;
            p.id = r.short_bytes("prepared id");
            p.metadata = read_prepared_metadata(r);
            p.result_metadata = read_rows_metadata(r);
            res.body = std::move(p);
            break;
        }
        case kind_schema_change:
            res.body = read_schema_change(r);
            break;
        default:
            r.fail("result kind (unknown)");
            break;
    }
    return res;
}

void write_event(writer& w, const event_response& e) {
    w.string(e.type);
    if (e.type == "SCHEMA_CHANGE") {
        write_schema_change(w, e.schema);
        return;
    }
    w.string(e.change);
    w.byte(e.address_size);
    w.raw(std::string_view(reinterpret_cast<const char*>(e.address.data()),
                           std::min<std::size_t>(e.address_size, e.address.size())));
    w.int_(e.port);
}

event_response read_event(reader& r) {
    event_response e;
    e.type = r.string("event type");
    if (!r.ok()) {
        return e;
    }
    if (e.type == "SCHEMA_CHANGE") {
        e.schema = read_schema_change(r);
        return e;
    }
    if (e.type != "TOPOLOGY_CHANGE" && e.type != "STATUS_CHANGE") {
        r.fail("event type (unknown)");
        return e;
    }
    e.change = r.string("event change");
    e.address_size = r.byte("event inet size");
    if (r.ok() && e.address_size != 4 && e.address_size != 16) {
        r.fail("event inet size (not 4 or 16)");
        return e;
    }
    const std::string_view addr = r.raw(e.address_size, "event inet address");
    std::copy(addr.begin(), addr.end(), e.address.begin());
    e.port = r.int_("event inet port");
    return e;
}

void write_response_body(writer& w, const response& resp) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, error_response>) {
                write_error(w, m);
            } else if constexpr (std::is_same_v<T, ready_response>) {
                // no body
            } else if constexpr (std::is_same_v<T, authenticate_response>) {
                w.string(m.authenticator);
            } else if constexpr (std::is_same_v<T, supported_response>) {
                w.string_multimap(m.options);
            } else if constexpr (std::is_same_v<T, result_response>) {
                write_result(w, m);
            } else if constexpr (std::is_same_v<T, event_response>) {
                write_event(w, m);
            } else if constexpr (std::is_same_v<T, auth_challenge_response> ||
                                 std::is_same_v<T, auth_success_response>) {
                w.bytes(m.token);
            }
        },
        resp);
}

// Skips a [bytes map] (custom payload, §2.2): its contents mean nothing to rtcrm.
void skip_bytes_map(reader& r) {
    const std::uint16_t n = r.short_("custom payload count");
    for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
        (void)r.string("custom payload key");
        (void)r.bytes("custom payload value");
    }
}

}  // namespace

// --- Header -------------------------------------------------------------------------------

void encode_header(const frame_header& h, char* out) noexcept {
    out[0] = static_cast<char>(h.version | (h.response ? 0x80U : 0x00U));
    out[1] = static_cast<char>(h.flags);
    const auto stream = static_cast<std::uint16_t>(h.stream);
    out[2] = static_cast<char>(stream >> 8U);
    out[3] = static_cast<char>(stream & 0xFFU);
    out[4] = static_cast<char>(h.opcode);
    out[5] = static_cast<char>(h.length >> 24U);
    out[6] = static_cast<char>((h.length >> 16U) & 0xFFU);
    out[7] = static_cast<char>((h.length >> 8U) & 0xFFU);
    out[8] = static_cast<char>(h.length & 0xFFU);
}

result<frame_header> decode_header(std::string_view nine_bytes) {
    if (nine_bytes.size() < header_size) {
        return io_failure(fmt::format("CQL header: {} bytes, need {}", nine_bytes.size(), header_size));
    }
    const auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(nine_bytes[i]); };
    frame_header h;
    h.version = b(0) & 0x7FU;
    h.response = (b(0) & 0x80U) != 0;
    h.flags = b(1);
    h.stream = static_cast<std::int16_t>(static_cast<std::uint16_t>((b(2) << 8U) | b(3)));
    const std::uint8_t op = b(4);
    h.length = (static_cast<std::uint32_t>(b(5)) << 24U) | (static_cast<std::uint32_t>(b(6)) << 16U) |
               (static_cast<std::uint32_t>(b(7)) << 8U) | b(8);
    if (h.version != protocol_version) {
        return io_failure(fmt::format("CQL header: unsupported protocol version {} (only 4)", h.version));
    }
    if (!valid_opcode(op)) {
        return io_failure(fmt::format("CQL header: unknown opcode 0x{:02X}", op));
    }
    h.opcode = static_cast<cql::opcode>(op);
    if (h.length > max_body_size) {
        return io_failure(fmt::format("CQL header: body length {} over the limit {}", h.length, max_body_size));
    }
    return h;
}

std::string_view consistency_name(consistency c) noexcept {
    switch (c) {
        case consistency::any: return "ANY";
        case consistency::one: return "ONE";
        case consistency::two: return "TWO";
        case consistency::three: return "THREE";
        case consistency::quorum: return "QUORUM";
        case consistency::all: return "ALL";
        case consistency::local_quorum: return "LOCAL_QUORUM";
        case consistency::each_quorum: return "EACH_QUORUM";
        case consistency::serial: return "SERIAL";
        case consistency::local_serial: return "LOCAL_SERIAL";
        case consistency::local_one: return "LOCAL_ONE";
    }
    return "UNKNOWN";
}

std::string_view error_code_name(error_code c) noexcept {
    switch (c) {
        case error_code::server_error: return "server_error";
        case error_code::protocol_error: return "protocol_error";
        case error_code::bad_credentials: return "bad_credentials";
        case error_code::unavailable: return "unavailable";
        case error_code::overloaded: return "overloaded";
        case error_code::is_bootstrapping: return "is_bootstrapping";
        case error_code::truncate_error: return "truncate_error";
        case error_code::write_timeout: return "write_timeout";
        case error_code::read_timeout: return "read_timeout";
        case error_code::read_failure: return "read_failure";
        case error_code::function_failure: return "function_failure";
        case error_code::write_failure: return "write_failure";
        case error_code::syntax_error: return "syntax_error";
        case error_code::unauthorized: return "unauthorized";
        case error_code::invalid: return "invalid";
        case error_code::config_error: return "config_error";
        case error_code::already_exists: return "already_exists";
        case error_code::unprepared: return "unprepared";
    }
    return "unknown";
}

// --- writer -------------------------------------------------------------------------------

void writer::byte(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }

void writer::short_(std::uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8U), static_cast<char>(v & 0xFFU)};
    out_.append(b, 2);
}

void writer::int_(std::int32_t v) {
    const auto u = static_cast<std::uint32_t>(v);
    const char b[4] = {static_cast<char>(u >> 24U), static_cast<char>((u >> 16U) & 0xFFU),
                       static_cast<char>((u >> 8U) & 0xFFU), static_cast<char>(u & 0xFFU)};
    out_.append(b, 4);
}

void writer::long_(std::int64_t v) {
    const auto u = static_cast<std::uint64_t>(v);
    char b[8];
    for (int i = 0; i < 8; ++i) {
        b[i] = static_cast<char>((u >> (56U - 8U * static_cast<unsigned>(i))) & 0xFFU);
    }
    out_.append(b, 8);
}

void writer::string(std::string_view s) {
    short_(static_cast<std::uint16_t>(s.size()));
    out_.append(s);
}

void writer::long_string(std::string_view s) {
    int_(static_cast<std::int32_t>(s.size()));
    out_.append(s);
}

void writer::bytes(const value& v) {
    if (!v) {
        int_(-1);
        return;
    }
    int_(static_cast<std::int32_t>(v->size()));
    out_.append(*v);
}

void writer::short_bytes(std::string_view s) { string(s); }

void writer::string_list(const std::vector<std::string>& l) {
    short_(static_cast<std::uint16_t>(l.size()));
    for (const auto& s : l) {
        string(s);
    }
}

void writer::string_map(const cql::string_map& m) {
    short_(static_cast<std::uint16_t>(m.size()));
    for (const auto& [k, v] : m) {
        string(k);
        string(v);
    }
}

void writer::string_multimap(const cql::string_multimap& m) {
    short_(static_cast<std::uint16_t>(m.size()));
    for (const auto& [k, v] : m) {
        string(k);
        string_list(v);
    }
}

void writer::uuid(const std::array<std::uint8_t, 16>& u) {
    out_.append(reinterpret_cast<const char*>(u.data()), u.size());
}

void writer::consistency(cql::consistency c) { short_(static_cast<std::uint16_t>(c)); }

void writer::raw(std::string_view s) { out_.append(s); }

void writer::patch_int(std::size_t pos, std::int32_t v) {
    const auto u = static_cast<std::uint32_t>(v);
    out_[pos] = static_cast<char>(u >> 24U);
    out_[pos + 1] = static_cast<char>((u >> 16U) & 0xFFU);
    out_[pos + 2] = static_cast<char>((u >> 8U) & 0xFFU);
    out_[pos + 3] = static_cast<char>(u & 0xFFU);
}

// --- reader -------------------------------------------------------------------------------

bool reader::take(std::size_t n, const char* what) {
    if (failed_at_ != nullptr) {
        return false;
    }
    if (n > in_.size() - pos_) {
        failed_at_ = what;
        return false;
    }
    return true;
}

std::uint8_t reader::byte(const char* what) {
    if (!take(1, what)) {
        return 0;
    }
    return static_cast<std::uint8_t>(in_[pos_++]);
}

std::uint16_t reader::short_(const char* what) {
    if (!take(2, what)) {
        return 0;
    }
    const auto v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(in_[pos_]) << 8U) |
                                              static_cast<std::uint8_t>(in_[pos_ + 1]));
    pos_ += 2;
    return v;
}

std::int32_t reader::int_(const char* what) {
    if (!take(4, what)) {
        return 0;
    }
    std::uint32_t u = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        u = (u << 8U) | static_cast<std::uint8_t>(in_[pos_ + i]);
    }
    pos_ += 4;
    return static_cast<std::int32_t>(u);
}

std::int64_t reader::long_(const char* what) {
    if (!take(8, what)) {
        return 0;
    }
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        u = (u << 8U) | static_cast<std::uint8_t>(in_[pos_ + i]);
    }
    pos_ += 8;
    return static_cast<std::int64_t>(u);
}

std::string reader::string(const char* what) {
    const std::uint16_t n = short_(what);
    return std::string(raw(n, what));
}

std::string reader::long_string(const char* what) {
    const std::int32_t n = int_(what);
    if (n < 0) {
        fail(what);
        return {};
    }
    return std::string(raw(static_cast<std::size_t>(n), what));
}

value reader::bytes(const char* what) {
    const std::int32_t n = int_(what);
    if (!ok()) {
        return std::nullopt;
    }
    if (n == -1) {
        return std::nullopt;
    }
    if (n < 0) {
        // -2 ("not set") and other negatives: see the comment on `value`.
        fail(n == not_set_length ? "value (\"not set\" is not supported)" : what);
        return std::nullopt;
    }
    return std::string(raw(static_cast<std::size_t>(n), what));
}

std::string reader::short_bytes(const char* what) { return string(what); }

std::vector<std::string> reader::string_list(const char* what) {
    std::vector<std::string> l;
    const std::uint16_t n = short_(what);
    for (std::uint16_t i = 0; i < n && ok(); ++i) {
        l.push_back(string(what));
    }
    return l;
}

cql::string_map reader::string_map(const char* what) {
    cql::string_map m;
    const std::uint16_t n = short_(what);
    for (std::uint16_t i = 0; i < n && ok(); ++i) {
        std::string k = string(what);
        std::string v = string(what);
        m.insert_or_assign(std::move(k), std::move(v));
    }
    return m;
}

cql::string_multimap reader::string_multimap(const char* what) {
    cql::string_multimap m;
    const std::uint16_t n = short_(what);
    for (std::uint16_t i = 0; i < n && ok(); ++i) {
        std::string k = string(what);
        m.insert_or_assign(std::move(k), string_list(what));
    }
    return m;
}

std::array<std::uint8_t, 16> reader::uuid(const char* what) {
    std::array<std::uint8_t, 16> u{};
    const std::string_view s = raw(16, what);
    std::copy(s.begin(), s.end(), u.begin());
    return u;
}

cql::consistency reader::consistency(const char* what) {
    const std::uint16_t v = short_(what);
    if (ok() && !valid_consistency(v)) {
        fail(what);
    }
    return static_cast<cql::consistency>(v);
}

std::string_view reader::raw(std::size_t n, const char* what) {
    if (!take(n, what)) {
        return {};
    }
    const std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
}

// --- Messages -----------------------------------------------------------------------------

opcode opcode_of(const request& r) noexcept {
    static constexpr opcode codes[] = {opcode::startup, opcode::options, opcode::auth_response, opcode::query,
                                       opcode::prepare, opcode::execute, opcode::batch,         opcode::register_};
    static_assert(std::size(codes) == std::variant_size_v<request>);
    return codes[r.index()];
}

opcode opcode_of(const response& r) noexcept {
    static constexpr opcode codes[] = {opcode::error,  opcode::ready, opcode::authenticate,   opcode::supported,
                                       opcode::result, opcode::event, opcode::auth_challenge, opcode::auth_success};
    static_assert(std::size(codes) == std::variant_size_v<response>);
    return codes[r.index()];
}

void encode_request(std::int16_t stream, const request& r, std::string& out) {
    const std::size_t start = out.size();
    out.resize(start + header_size);
    writer w(out);
    write_request_body(w, r);
    const frame_header h{.version = protocol_version,
                         .response = false,
                         .flags = 0,
                         .stream = stream,
                         .opcode = opcode_of(r),
                         .length = static_cast<std::uint32_t>(out.size() - start - header_size)};
    encode_header(h, out.data() + start);
}

void encode_response(std::int16_t stream, const response& r, std::string& out, const response_extras& extras) {
    const std::size_t start = out.size();
    out.resize(start + header_size);
    writer w(out);
    std::uint8_t flags = 0;
    if (extras.tracing_id) {
        flags |= frame_flag::tracing;
        w.uuid(*extras.tracing_id);
    }
    if (extras.warnings) {
        flags |= frame_flag::warning;
        w.string_list(*extras.warnings);
    }
    if (extras.custom_payload) {
        flags |= frame_flag::custom_payload;
        w.short_(static_cast<std::uint16_t>(extras.custom_payload->size()));
        for (const auto& [k, v] : *extras.custom_payload) {
            w.string(k);
            w.bytes(v);
        }
    }
    write_response_body(w, r);
    const frame_header h{.version = protocol_version,
                         .response = true,
                         .flags = flags,
                         .stream = stream,
                         .opcode = opcode_of(r),
                         .length = static_cast<std::uint32_t>(out.size() - start - header_size)};
    encode_header(h, out.data() + start);
}

void encode_response(std::int16_t stream, const response& r, std::string& out, std::uint8_t flags) {
    // Flags announcing contents the caller has none of get empty ones (a zero tracing id,
    // no warnings, an empty payload), so the frame stays well-formed.
    response_extras extras;
    if ((flags & frame_flag::tracing) != 0) {
        extras.tracing_id = std::array<std::uint8_t, 16>{};
    }
    if ((flags & frame_flag::warning) != 0) {
        extras.warnings.emplace();
    }
    if ((flags & frame_flag::custom_payload) != 0) {
        extras.custom_payload.emplace();
    }
    encode_response(stream, r, out, extras);
}

result<request> decode_request(const frame_header& h, std::string_view body) {
    if ((h.flags & frame_flag::compression) != 0) {
        return io_failure("CQL request: compressed frame (compression is not negotiated)");
    }
    if (!is_request_opcode(h.opcode)) {
        return io_failure(fmt::format("CQL request: opcode 0x{:02X} is not a request", static_cast<int>(h.opcode)));
    }
    reader r(body);
    if ((h.flags & frame_flag::custom_payload) != 0) {
        skip_bytes_map(r);
    }
    request req;
    switch (h.opcode) {
        case opcode::startup:
            req = startup_request{r.string_map("startup options")};
            break;
        case opcode::options:
            req = options_request{};
            break;
        case opcode::auth_response:
            req = auth_response_request{r.bytes("auth_response token")};
            break;
        case opcode::query: {
            query_request q;
            q.query = r.long_string("query string");
            q.params = read_query_parameters(r);
            req = std::move(q);
            break;
        }
        case opcode::prepare:
            req = prepare_request{r.long_string("prepare query string")};
            break;
        case opcode::execute: {
            execute_request e;
            e.id = r.short_bytes("execute id");
            e.params = read_query_parameters(r);
            req = std::move(e);
            break;
        }
        case opcode::batch:
            req = read_batch(r);
            break;
        case opcode::register_:
            req = register_request{r.string_list("register events")};
            break;
        default:
            break;
    }
    return finish(r, std::move(req), "request");
}

result<response> decode_response(const frame_header& h, std::string_view body, std::vector<std::string>* warnings) {
    if ((h.flags & frame_flag::compression) != 0) {
        return io_failure("CQL response: compressed frame (compression is not negotiated)");
    }
    if (is_request_opcode(h.opcode)) {
        return io_failure(fmt::format("CQL response: opcode 0x{:02X} is not a response", static_cast<int>(h.opcode)));
    }
    reader r(body);
    // §2.2: the tracing id comes first, then the warnings, then the custom payload.
    if ((h.flags & frame_flag::tracing) != 0) {
        (void)r.raw(16, "tracing id");
    }
    if ((h.flags & frame_flag::warning) != 0) {
        auto w = r.string_list("warnings");
        if (warnings != nullptr) {
            *warnings = std::move(w);
        }
    }
    if ((h.flags & frame_flag::custom_payload) != 0) {
        skip_bytes_map(r);
    }
    response resp;
    switch (h.opcode) {
        case opcode::error: {
            error_response e;
            if (!read_error(r, e)) {
                // A code this version does not know: its extra fields cannot be parsed, but
                // the code and message are still the most useful thing to hand back.
                return response{std::move(e)};
            }
            resp = std::move(e);
            break;
        }
        case opcode::ready:
            resp = ready_response{};
            break;
        case opcode::authenticate:
            resp = authenticate_response{r.string("authenticate authenticator")};
            break;
        case opcode::supported:
            resp = supported_response{r.string_multimap("supported options")};
            break;
        case opcode::result:
            resp = read_result(r);
            break;
        case opcode::event:
            resp = read_event(r);
            break;
        case opcode::auth_challenge:
            resp = auth_challenge_response{r.bytes("auth_challenge token")};
            break;
        case opcode::auth_success:
            resp = auth_success_response{r.bytes("auth_success token")};
            break;
        default:
            break;
    }
    return finish(r, std::move(resp), "response");
}

}  // namespace rtcrm::detail::cql
