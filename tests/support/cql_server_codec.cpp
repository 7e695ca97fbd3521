#include "support/cql_server_codec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <type_traits>

namespace rtcrm::detail::cql {

namespace {

failure io_failure(std::string reason) {
    return failure{make_error_code(errc::io_error), std::move(reason)};
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

// --- Requests -----------------------------------------------------------------------------

std::vector<value> read_values(reader& r, const char* count_what) {
    std::vector<value> values;
    const std::uint16_t n = r.short_(count_what);
    for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
        values.push_back(r.bytes("value"));
    }
    return values;
}

query_parameters read_query_parameters(reader& r) {
    query_parameters p;
    p.consistency = r.consistency("query_parameters consistency");
    const std::uint8_t flags = r.byte("query_parameters flags");
    if (!r.ok()) {
        return p;
    }
    if ((flags & query_flag::names_for_values) != 0) {
        // Named values would need the prepared statement's names to be placed; no rtcrm
        // client sends them, and silently dropping the names would misplace values.
        r.fail("query_parameters flags (named values are not supported)");
        return p;
    }
    if ((flags & 0x80U) != 0) {
        r.fail("query_parameters flags (unknown bits)");
        return p;
    }
    if ((flags & query_flag::values) != 0) {
        p.values = read_values(r, "query_parameters values count");
    }
    p.skip_metadata = (flags & query_flag::skip_metadata) != 0;
    if ((flags & query_flag::page_size) != 0) {
        p.page_size = r.int_("query_parameters result_page_size");
    }
    if ((flags & query_flag::paging_state) != 0) {
        p.paging_state = r.bytes("query_parameters paging_state");
        if (r.ok() && !p.paging_state) {
            r.fail("query_parameters paging_state (null)");
        }
    }
    if ((flags & query_flag::serial_consistency) != 0) {
        p.serial_consistency = r.consistency("query_parameters serial_consistency");
    }
    if ((flags & query_flag::default_timestamp) != 0) {
        p.default_timestamp = r.long_("query_parameters timestamp");
    }
    return p;
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
    if (r.ok() && (flags & ~(query_flag::serial_consistency | query_flag::default_timestamp)) != 0) {
        r.fail("batch flags (unsupported bits)");
    }
    if (r.ok() && (flags & query_flag::serial_consistency) != 0) {
        b.serial_consistency = r.consistency("batch serial_consistency");
    }
    if (r.ok() && (flags & query_flag::default_timestamp) != 0) {
        b.default_timestamp = r.long_("batch timestamp");
    }
    return b;
}

// --- Responses ----------------------------------------------------------------------------

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

void write_result(writer& w, const result_response& res) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, void_result>) {
                w.int_(result_kind::void_);
            } else if constexpr (std::is_same_v<T, rows_result>) {
                w.int_(result_kind::rows);
                write_rows_metadata(w, m.metadata);
                w.int_(static_cast<std::int32_t>(m.rows.size()));
                for (const auto& row : m.rows) {
                    for (const auto& v : row) {
                        w.bytes(v);
                    }
                }
            } else if constexpr (std::is_same_v<T, set_keyspace_result>) {
                w.int_(result_kind::set_keyspace);
                w.string(m.keyspace);
            } else if constexpr (std::is_same_v<T, prepared_result>) {
                w.int_(result_kind::prepared);
                w.short_bytes(m.id);
                write_prepared_metadata(w, m.metadata);
                write_rows_metadata(w, m.result_metadata);
            } else if constexpr (std::is_same_v<T, schema_change_result>) {
                w.int_(result_kind::schema_change);
                write_schema_change(w, m);
            }
        },
        res.body);
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

}  // namespace

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
    if (!is_request(h.opcode)) {
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
    if (auto why = body_failure(r, "request")) {
        return std::move(*why);
    }
    return req;
}

}  // namespace rtcrm::detail::cql
