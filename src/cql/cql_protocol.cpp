#include "cql/cql_protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <type_traits>

namespace rtcrm::detail::cql {

namespace {

// Types nest (map<text, frozen<list<tuple<...>>>>); a garbage body could claim a nesting
// deep enough to exhaust the stack, so decoding stops at a depth no real schema reaches.
constexpr int max_type_depth = 32;

failure io_failure(std::string reason) {
    return failure{make_error_code(errc::io_error), std::move(reason)};
}

// --- Types and metadata ------------------------------------------------------------------

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

void write_query_parameters(writer& w, const query_parameters& p) {
    w.consistency(p.consistency);
    std::uint8_t flags = 0;
    if (!p.values.empty()) {
        flags |= query_flag::values;
    }
    if (p.skip_metadata) {
        flags |= query_flag::skip_metadata;
    }
    if (p.page_size) {
        flags |= query_flag::page_size;
    }
    if (p.paging_state) {
        flags |= query_flag::paging_state;
    }
    if (p.serial_consistency) {
        flags |= query_flag::serial_consistency;
    }
    if (p.default_timestamp) {
        flags |= query_flag::default_timestamp;
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
                    flags |= query_flag::serial_consistency;
                }
                if (m.default_timestamp) {
                    flags |= query_flag::default_timestamp;
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

// --- Responses ----------------------------------------------------------------------------

bool has_consistency_fields(error_code c) noexcept {
    return c == error_code::unavailable || c == error_code::write_timeout || c == error_code::read_timeout ||
           c == error_code::read_failure || c == error_code::write_failure;
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

result_response read_result(reader& r) {
    result_response res;
    const std::int32_t kind = r.int_("result kind");
    if (!r.ok()) {
        return res;
    }
    switch (kind) {
        case result_kind::void_:
            res.body = void_result{};
            break;
        case result_kind::rows: {
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
        case result_kind::set_keyspace:
            res.body = set_keyspace_result{r.string("set_keyspace keyspace")};
            break;
        case result_kind::prepared: {
            prepared_result p;
            p.id = r.short_bytes("prepared id");
            p.metadata = read_prepared_metadata(r);
            p.result_metadata = read_rows_metadata(r);
            res.body = std::move(p);
            break;
        }
        case result_kind::schema_change:
            res.body = read_schema_change(r);
            break;
        default:
            r.fail("result kind (unknown)");
            break;
    }
    return res;
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

}  // namespace

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

result<response> decode_response(const frame_header& h, std::string_view body, std::vector<std::string>* warnings) {
    if ((h.flags & frame_flag::compression) != 0) {
        return io_failure("CQL response: compressed frame (compression is not negotiated)");
    }
    if (is_request(h.opcode)) {
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
    if (auto why = body_failure(r, "response")) {
        return std::move(*why);
    }
    return resp;
}

}  // namespace rtcrm::detail::cql
