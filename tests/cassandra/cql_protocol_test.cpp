// The CQL v4 codec against an outside implementation: Debian's DataStax Python driver
// (tests/cassandra/cql_frames.py, run at test time with /usr/bin/python3). Requests must
// equal the driver's bytes; responses we encode must decode in the driver to the fields
// written out here (the driver has no response encoders). Tokens, routing keys and time
// UUIDs are checked against the driver and Python's uuid module the same way.
#include "cql/cql_protocol.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_server_codec.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace cql = rtcrm::detail::cql;

namespace {

std::string hex(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        out.push_back(digits[b >> 4U]);
        out.push_back(digits[b & 0x0FU]);
    }
    return out;
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    return out + "\"";
}

std::string json_value(const cql::value& v) { return v ? json_string(hex(*v)) : std::string("null"); }

std::string json_values(const std::vector<cql::value>& vs) {
    std::string out = "[";
    for (std::size_t i = 0; i < vs.size(); ++i) {
        out += (i == 0 ? "" : ",") + json_value(vs[i]);
    }
    return out + "]";
}

// Runs the driver script once over `cases` (one JSON object each) and returns its lines.
std::vector<std::string> run_driver(const std::vector<std::string>& cases) {
    static int counter = 0;
    const std::string base = ::testing::TempDir() + "cql_frames_" + std::to_string(::getpid()) + "_" +
                             std::to_string(counter++);
    {
        std::ofstream in(base + ".in");
        for (const auto& c : cases) {
            in << c << '\n';
        }
    }
    const std::string cmd = std::string(RTCRM_DEBIAN_PYTHON) + " " RTCRM_SOURCE_DIR "/tests/cassandra/cql_frames.py < " +
                            base + ".in > " + base + ".out";
    const int rc = std::system(cmd.c_str());
    std::vector<std::string> lines;
    std::ifstream out(base + ".out");
    for (std::string line; std::getline(out, line);) {
        lines.push_back(line);
    }
    std::remove((base + ".in").c_str());
    std::remove((base + ".out").c_str());
    EXPECT_EQ(rc, 0) << cmd;
    EXPECT_EQ(lines.size(), cases.size()) << "the driver script answered fewer cases than asked";
    lines.resize(cases.size());
    return lines;
}

// --- Describing our requests to the driver script -------------------------------------

void describe_params(std::string& j, const cql::query_parameters& p) {
    j += ",\"consistency\":" + std::to_string(static_cast<int>(p.consistency));
    if (!p.values.empty()) {
        j += ",\"values\":" + json_values(p.values);
    }
    if (p.page_size) {
        j += ",\"page_size\":" + std::to_string(*p.page_size);
    }
    if (p.paging_state) {
        j += ",\"paging_state\":" + json_string(hex(*p.paging_state));
    }
    if (p.serial_consistency) {
        j += ",\"serial_consistency\":" + std::to_string(static_cast<int>(*p.serial_consistency));
    }
    if (p.default_timestamp) {
        j += ",\"timestamp\":" + std::to_string(*p.default_timestamp);
    }
}

std::string describe(const cql::request& r) {
    std::string j;
    if (const auto* m = std::get_if<cql::startup_request>(&r)) {
        j = "{\"type\":\"startup\",\"options\":{";
        bool first = true;
        for (const auto& [k, v] : m->options) {
            j += (first ? "" : ",") + json_string(k) + ":" + json_string(v);
            first = false;
        }
        j += "}";
    } else if (std::holds_alternative<cql::options_request>(r)) {
        j = "{\"type\":\"options\"";
    } else if (const auto* a = std::get_if<cql::auth_response_request>(&r)) {
        j = "{\"type\":\"auth_response\",\"token\":" + json_value(a->token);
    } else if (const auto* q = std::get_if<cql::query_request>(&r)) {
        j = "{\"type\":\"query\",\"query\":" + json_string(q->query);
        describe_params(j, q->params);
    } else if (const auto* p = std::get_if<cql::prepare_request>(&r)) {
        j = "{\"type\":\"prepare\",\"query\":" + json_string(p->query);
    } else if (const auto* e = std::get_if<cql::execute_request>(&r)) {
        j = "{\"type\":\"execute\",\"id\":" + json_string(hex(e->id));
        describe_params(j, e->params);
    } else if (const auto* b = std::get_if<cql::batch_request>(&r)) {
        j = "{\"type\":\"batch\",\"batch_type\":" + std::to_string(static_cast<int>(b->type)) +
            ",\"consistency\":" + std::to_string(static_cast<int>(b->consistency)) + ",\"statements\":[";
        for (std::size_t i = 0; i < b->statements.size(); ++i) {
            const auto& s = b->statements[i];
            j += std::string(i == 0 ? "" : ",") + "{\"prepared\":" + (s.prepared ? "true" : "false") +
                 (s.prepared ? ",\"id\":" + json_string(hex(s.query_or_id)) : ",\"query\":" + json_string(s.query_or_id)) +
                 ",\"values\":" + json_values(s.values) + "}";
        }
        j += "]";
        if (b->serial_consistency) {
            j += ",\"serial_consistency\":" + std::to_string(static_cast<int>(*b->serial_consistency));
        }
        if (b->default_timestamp) {
            j += ",\"timestamp\":" + std::to_string(*b->default_timestamp);
        }
    } else if (const auto* g = std::get_if<cql::register_request>(&r)) {
        j = "{\"type\":\"register\",\"events\":[";
        for (std::size_t i = 0; i < g->events.size(); ++i) {
            j += (i == 0 ? "" : ",") + json_string(g->events[i]);
        }
        j += "]";
    }
    return j + "}";
}

std::string frame_of(std::int16_t stream, const cql::request& r) {
    std::string out;
    cql::encode_request(stream, r, out);
    return out;
}

std::string frame_of(std::int16_t stream, const cql::response& r, const cql::response_extras& extras = {}) {
    std::string out;
    cql::encode_response(stream, r, out, extras);
    return out;
}

cql::frame_header header_of(const std::string& frame) {
    auto h = cql::decode_header(std::string_view(frame).substr(0, cql::header_size));
    EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error().reason);
    return h.ok() ? h.value() : cql::frame_header{};
}

std::string_view body_of(const std::string& frame) { return std::string_view(frame).substr(cql::header_size); }

// The driver's view of a response frame we encoded.
std::string driver_case(const std::string& frame, const std::string& extra = "") {
    const auto h = header_of(frame);
    return "{\"op\":\"response\",\"opcode\":" + std::to_string(static_cast<int>(h.opcode)) +
           ",\"flags\":" + std::to_string(h.flags) + ",\"body\":\"" + hex(body_of(frame)) + "\"" + extra + "}";
}

// --- The messages the tests share -----------------------------------------------------

std::string s(std::string_view v) { return std::string(v); }

std::vector<cql::request> sample_requests() {
    using namespace std::string_literals;
    std::vector<cql::request> r;
    r.emplace_back(cql::startup_request{});
    r.emplace_back(cql::startup_request{{{"CQL_VERSION", "3.0.0"}, {"DRIVER_NAME", "rtcrm"}, {"DRIVER_VERSION", "1.0"}}});
    r.emplace_back(cql::options_request{});
    r.emplace_back(cql::auth_response_request{"\0cassandra\0secret"s});
    r.emplace_back(cql::query_request{"SELECT release_version FROM system.local", {}});
    r.emplace_back(cql::query_request{"SELECT * FROM crm.profiles WHERE key = ?",
                                      {.consistency = cql::consistency::one, .values = {cql::int_value(7)}}});
    r.emplace_back(cql::query_request{"INSERT INTO t (a, b) VALUES (?, ?)",
                                      {.consistency = cql::consistency::quorum, .values = {s("x"), std::nullopt}}});
    r.emplace_back(cql::query_request{"SELECT * FROM t", {.consistency = cql::consistency::local_one, .page_size = 5000}});
    r.emplace_back(cql::query_request{
        "SELECT * FROM t", {.consistency = cql::consistency::all, .page_size = 10, .paging_state = "\x01\x02\xff"s}});
    r.emplace_back(cql::query_request{"UPDATE t SET v = 1 WHERE k = 1 IF v = 0",
                                      {.consistency = cql::consistency::each_quorum,
                                       .serial_consistency = cql::consistency::local_serial}});
    r.emplace_back(cql::query_request{"DELETE FROM t WHERE k = 1",
                                      {.consistency = cql::consistency::two, .default_timestamp = 1700000000123456}});
    r.emplace_back(cql::query_request{"SELECT * FROM t WHERE k = ?",
                                      {.consistency = cql::consistency::three,
                                       .values = {cql::bigint_value(-1), s(""), std::nullopt},
                                       .page_size = 100,
                                       .paging_state = s("state"),
                                       .serial_consistency = cql::consistency::serial,
                                       .default_timestamp = 5}});
    r.emplace_back(cql::prepare_request{"INSERT INTO crm.profiles (key, seq, doc) VALUES (?, ?, ?)"});
    r.emplace_back(cql::execute_request{
        "\x9a\x01\x00\xffprepared-id"s,
        {.consistency = cql::consistency::local_quorum,
         .values = {s("player-1"), cql::bigint_value(42), s("{\"level\":3}")},
         .default_timestamp = 1700000000000000}});
    r.emplace_back(cql::execute_request{"id"s,
                                        {.consistency = cql::consistency::any,
                                         .values = {std::nullopt},
                                         .page_size = 1,
                                         .paging_state = s("p"),
                                         .serial_consistency = cql::consistency::serial}});
    r.emplace_back(cql::batch_request{.type = cql::batch_type::logged,
                                      .statements = {{true, "\x01\x02id"s, {s("a"), cql::int_value(1)}},
                                                     {false, "UPDATE t SET v = ? WHERE k = ?", {std::nullopt, s("k")}},
                                                     {false, "DELETE FROM t WHERE k = 'z'", {}}},
                                      .consistency = cql::consistency::quorum});
    r.emplace_back(cql::batch_request{.type = cql::batch_type::unlogged,
                                      .statements = {{true, "id1"s, {s("v")}}},
                                      .consistency = cql::consistency::local_one,
                                      .serial_consistency = cql::consistency::local_serial,
                                      .default_timestamp = 99});
    r.emplace_back(cql::batch_request{.type = cql::batch_type::counter,
                                      .statements = {{false, "UPDATE c SET n = n + 1 WHERE k = 1", {}}},
                                      .consistency = cql::consistency::one});
    r.emplace_back(cql::register_request{{"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"}});
    return r;
}

cql::column_spec col(std::string ks, std::string table, std::string name, cql::type_id id) {
    return cql::column_spec{std::move(ks), std::move(table), std::move(name), cql::data_type{.id = id}};
}

cql::error_response error_of(cql::error_code code) {
    cql::error_response e;
    e.code = code;
    e.message = "message of " + std::string(cql::error_code_name(code));
    return e;
}

// One response of every kind and shape the client must understand.
std::vector<cql::response> sample_responses() {
    std::vector<cql::response> r;
    r.emplace_back(cql::ready_response{});
    r.emplace_back(cql::authenticate_response{"org.apache.cassandra.auth.PasswordAuthenticator"});
    r.emplace_back(cql::supported_response{{{"CQL_VERSION", {"3.4.5"}}, {"COMPRESSION", {"lz4", "snappy"}}}});
    r.emplace_back(cql::auth_challenge_response{s("challenge")});
    r.emplace_back(cql::auth_success_response{s("welcome")});

    // Errors, every code of §9 with its extra fields.
    for (const auto code : {cql::error_code::server_error, cql::error_code::protocol_error,
                            cql::error_code::bad_credentials, cql::error_code::overloaded,
                            cql::error_code::is_bootstrapping, cql::error_code::truncate_error,
                            cql::error_code::syntax_error, cql::error_code::unauthorized, cql::error_code::invalid,
                            cql::error_code::config_error}) {
        r.emplace_back(error_of(code));
    }
    auto e = error_of(cql::error_code::unavailable);
    e.consistency = cql::consistency::local_quorum;
    e.required = 3;
    e.alive = 1;
    r.emplace_back(e);
    e = error_of(cql::error_code::write_timeout);
    e.consistency = cql::consistency::quorum;
    e.alive = 1;
    e.required = 2;
    e.write_type = "BATCH_LOG";
    r.emplace_back(e);
    e = error_of(cql::error_code::read_timeout);
    e.consistency = cql::consistency::one;
    e.alive = 0;
    e.required = 1;
    e.data_present = true;
    r.emplace_back(e);
    e = error_of(cql::error_code::read_failure);
    e.consistency = cql::consistency::all;
    e.alive = 2;
    e.required = 3;
    e.failures = 1;
    e.data_present = false;
    r.emplace_back(e);
    e = error_of(cql::error_code::write_failure);
    e.consistency = cql::consistency::two;
    e.alive = 1;
    e.required = 2;
    e.failures = 1;
    e.write_type = "SIMPLE";
    r.emplace_back(e);
    e = error_of(cql::error_code::function_failure);
    e.keyspace = "crm";
    e.table = "score";
    e.arg_types = {"int", "text"};
    r.emplace_back(e);
    e = error_of(cql::error_code::already_exists);
    e.keyspace = "crm";
    e.table = "profiles";
    r.emplace_back(e);
    e = error_of(cql::error_code::unprepared);
    e.unprepared_id = std::string("\x00\x9a\xff", 3);
    r.emplace_back(e);

    // Results.
    r.emplace_back(cql::result_response{cql::void_result{}});
    r.emplace_back(cql::result_response{cql::set_keyspace_result{"crm"}});
    {
        // One table: global_tables_spec.
        cql::rows_result rows;
        rows.metadata.columns = {col("crm", "profiles", "key", cql::type_id::varchar),
                                 col("crm", "profiles", "seq", cql::type_id::bigint),
                                 col("crm", "profiles", "n", cql::type_id::int_)};
        rows.metadata.column_count = 3;
        rows.rows = {{s("p1"), cql::bigint_value(10), cql::int_value(-3)}, {s("p2"), std::nullopt, cql::int_value(0)}};
        r.emplace_back(cql::result_response{rows});
        // Two tables: a table spec per column, and a page to follow.
        rows.metadata.columns[2].table = "other";
        rows.metadata.paging_state = std::string("\x00\x01page", 6);
        r.emplace_back(cql::result_response{rows});
        // No rows at all.
        rows.rows.clear();
        rows.metadata.paging_state.reset();
        r.emplace_back(cql::result_response{rows});
    }
    {
        cql::prepared_result p;
        p.id = std::string("\x12\x34\x00\xab", 4);
        p.metadata.pk_indexes = {1, 0};
        p.metadata.columns = {col("crm", "events", "shard", cql::type_id::int_),
                              col("crm", "events", "key", cql::type_id::varchar),
                              col("crm", "events", "id", cql::type_id::timeuuid)};
        cql::data_type list_text{.id = cql::type_id::list, .params = {cql::data_type{.id = cql::type_id::varchar}}};
        cql::data_type map_type{.id = cql::type_id::map,
                                .params = {cql::data_type{.id = cql::type_id::varchar}, cql::data_type{.id = cql::type_id::int_}}};
        cql::data_type tuple_type{.id = cql::type_id::tuple,
                                  .params = {cql::data_type{.id = cql::type_id::int_}, list_text}};
        cql::data_type udt{.id = cql::type_id::udt,
                           .params = {cql::data_type{.id = cql::type_id::varchar}, cql::data_type{.id = cql::type_id::int_}},
                           .udt_keyspace = "crm",
                           .udt_name = "address",
                           .udt_field_names = {"street", "zip"}};
        cql::data_type custom{.id = cql::type_id::custom, .custom_class = "org.apache.cassandra.db.marshal.DurationType"};
        p.metadata.columns.push_back(cql::column_spec{"crm", "events", "tags", list_text});
        p.metadata.columns.push_back(cql::column_spec{"crm", "events", "counts", map_type});
        p.metadata.columns.push_back(cql::column_spec{"crm", "events", "pair", tuple_type});
        p.metadata.columns.push_back(cql::column_spec{"crm", "events", "home", udt});
        p.metadata.columns.push_back(cql::column_spec{"crm", "events", "span", custom});
        p.result_metadata.columns = {col("crm", "events", "n", cql::type_id::int_),
                                     col("crm", "events", "t", cql::type_id::timestamp)};
        p.result_metadata.column_count = 2;
        r.emplace_back(cql::result_response{p});
        // An INSERT: no result columns; bind variables from two tables.
        cql::prepared_result insert;
        insert.id = "id";
        insert.metadata.columns = {col("a", "t1", "x", cql::type_id::boolean), col("a", "t2", "y", cql::type_id::uuid)};
        r.emplace_back(cql::result_response{insert});
    }
    r.emplace_back(cql::result_response{cql::schema_change_result{"CREATED", "KEYSPACE", "crm", "", {}}});
    r.emplace_back(cql::result_response{cql::schema_change_result{"UPDATED", "TABLE", "crm", "profiles", {}}});
    r.emplace_back(cql::result_response{cql::schema_change_result{"DROPPED", "FUNCTION", "crm", "score", {"int", "text"}}});

    // Events.
    cql::event_response topo;
    topo.type = "TOPOLOGY_CHANGE";
    topo.change = "NEW_NODE";
    topo.address = {127, 0, 0, 1};
    topo.address_size = 4;
    topo.port = 9042;
    r.emplace_back(topo);
    cql::event_response status;
    status.type = "STATUS_CHANGE";
    status.change = "DOWN";
    status.address = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    status.address_size = 16;
    status.port = 19042;
    r.emplace_back(status);
    cql::event_response schema;
    schema.type = "SCHEMA_CHANGE";
    schema.schema = {"CREATED", "TYPE", "crm", "address", {}};
    r.emplace_back(schema);
    cql::event_response aggregate;
    aggregate.type = "SCHEMA_CHANGE";
    aggregate.schema = {"UPDATED", "AGGREGATE", "crm", "total", {"bigint"}};
    r.emplace_back(aggregate);
    return r;
}

// What the driver decodes from each of sample_responses(), in the same order.
const std::vector<std::string>& driver_view_of_sample_responses() {
    static const std::vector<std::string> v = {
        R"({"message_type":"ReadyMessage"})",
        R"({"authenticator":"org.apache.cassandra.auth.PasswordAuthenticator","message_type":"AuthenticateMessage"})",
        R"({"cql_versions":["3.4.5"],"message_type":"SupportedMessage","options":{"COMPRESSION":["lz4","snappy"]}})",
        R"({"challenge":"6368616c6c656e6765","message_type":"AuthChallengeMessage"})",
        R"({"message_type":"AuthSuccessMessage","token":"welcome"})",
        R"({"code":0,"info":null,"message":"message of server_error","message_type":"ServerError"})",
        R"({"code":10,"info":null,"message":"message of protocol_error","message_type":"ProtocolException"})",
        R"({"code":256,"info":null,"message":"message of bad_credentials","message_type":"BadCredentials"})",
        R"({"code":4097,"info":null,"message":"message of overloaded","message_type":"OverloadedErrorMessage"})",
        R"({"code":4098,"info":null,"message":"message of is_bootstrapping","message_type":"IsBootstrappingErrorMessage"})",
        R"({"code":4099,"info":null,"message":"message of truncate_error","message_type":"TruncateError"})",
        R"({"code":8192,"info":null,"message":"message of syntax_error","message_type":"SyntaxException"})",
        R"({"code":8448,"info":null,"message":"message of unauthorized","message_type":"UnauthorizedErrorMessage"})",
        R"({"code":8704,"info":null,"message":"message of invalid","message_type":"InvalidRequestException"})",
        R"({"code":8960,"info":null,"message":"message of config_error","message_type":"ConfigurationException"})",
        R"({"code":4096,"info":{"alive_replicas":1,"consistency":6,"required_replicas":3},"message":"message of unavailable","message_type":"UnavailableErrorMessage"})",
        R"({"code":4352,"info":{"consistency":4,"received_responses":1,"required_responses":2,"write_type":4},"message":"message of write_timeout","message_type":"WriteTimeoutErrorMessage"})",
        R"({"code":4608,"info":{"consistency":1,"data_retrieved":true,"received_responses":0,"required_responses":1},"message":"message of read_timeout","message_type":"ReadTimeoutErrorMessage"})",
        R"({"code":4864,"info":{"consistency":5,"data_retrieved":false,"error_code_map":null,"failures":1,"received_responses":2,"required_responses":3},"message":"message of read_failure","message_type":"ReadFailureMessage"})",
        R"({"code":5376,"info":{"consistency":2,"error_code_map":null,"failures":1,"received_responses":1,"required_responses":2,"write_type":0},"message":"message of write_failure","message_type":"WriteFailureMessage"})",
        R"({"code":5120,"info":{"arg_types":["int","text"],"function":"score","keyspace":"crm"},"message":"message of function_failure","message_type":"FunctionFailureMessage"})",
        R"({"code":9216,"info":{"keyspace":"crm","table":"profiles"},"message":"message of already_exists","message_type":"AlreadyExistsException"})",
        R"({"code":9472,"info":"009aff","message":"message of unprepared","message_type":"PreparedQueryNotFound"})",
        R"({"kind":1,"message_type":"FastResultMessage"})",
        R"({"keyspace":"crm","kind":3,"message_type":"FastResultMessage"})",
        R"({"columns":[["crm","profiles","key","varchar"],["crm","profiles","seq","bigint"],["crm","profiles","n","int"]],"kind":2,"message_type":"FastResultMessage","paging_state":null,"rows":[["p1",10,-3],["p2",null,0]]})",
        R"({"columns":[["crm","profiles","key","varchar"],["crm","profiles","seq","bigint"],["crm","other","n","int"]],"kind":2,"message_type":"FastResultMessage","paging_state":"000170616765","rows":[["p1",10,-3],["p2",null,0]]})",
        R"({"columns":[["crm","profiles","key","varchar"],["crm","profiles","seq","bigint"],["crm","other","n","int"]],"kind":2,"message_type":"FastResultMessage","paging_state":null,"rows":[]})",
        R"({"bind":[["crm","events","shard","int"],["crm","events","key","varchar"],["crm","events","id","timeuuid"],["crm","events","tags","list<varchar>"],["crm","events","counts","map<varchar, int>"],["crm","events","pair","frozen<tuple<int, list<varchar>>>"],["crm","events","home","frozen<address>"],["crm","events","span","duration"]],"kind":4,"message_type":"FastResultMessage","pk_indexes":[1,0],"query_id":"123400ab","result_columns":[["crm","events","n","int"],["crm","events","t","timestamp"]]})",
        R"({"bind":[["a","t1","x","boolean"],["a","t2","y","uuid"]],"kind":4,"message_type":"FastResultMessage","pk_indexes":[],"query_id":"6964","result_columns":[]})",
        R"({"event":{"change_type":"CREATED","keyspace":"crm","target_type":"KEYSPACE"},"kind":5,"message_type":"FastResultMessage"})",
        R"({"event":{"change_type":"UPDATED","keyspace":"crm","table":"profiles","target_type":"TABLE"},"kind":5,"message_type":"FastResultMessage"})",
        R"({"event":{"change_type":"DROPPED","function":{"argument_types":["int","text"],"name":"score"},"keyspace":"crm","target_type":"FUNCTION"},"kind":5,"message_type":"FastResultMessage"})",
        R"({"event_args":{"address":["127.0.0.1",9042],"change_type":"NEW_NODE"},"event_type":"TOPOLOGY_CHANGE","message_type":"EventMessage"})",
        R"({"event_args":{"address":["fe80::1",19042],"change_type":"DOWN"},"event_type":"STATUS_CHANGE","message_type":"EventMessage"})",
        R"({"event_args":{"change_type":"CREATED","keyspace":"crm","target_type":"TYPE","type":"address"},"event_type":"SCHEMA_CHANGE","message_type":"EventMessage"})",
        R"({"event_args":{"aggregate":{"argument_types":["bigint"],"name":"total"},"change_type":"UPDATED","keyspace":"crm","target_type":"AGGREGATE"},"event_type":"SCHEMA_CHANGE","message_type":"EventMessage"})",
    };
    return v;
}

}  // namespace

// --- Frame header ---------------------------------------------------------------------

TEST(CqlHeader, EncodesAndDecodesEveryField) {
    const cql::frame_header h{.version = 4,
                              .response = true,
                              .flags = cql::frame_flag::warning,
                              .stream = -1,
                              .opcode = cql::opcode::event,
                              .length = 0x01020304};
    char bytes[cql::header_size];
    cql::encode_header(h, bytes);
    EXPECT_EQ(hex(std::string_view(bytes, cql::header_size)), "8408ffff0c01020304");
    const auto back = cql::decode_header(std::string_view(bytes, cql::header_size));
    ASSERT_TRUE(back.ok()) << back.error().reason;
    EXPECT_EQ(back->version, 4);
    EXPECT_TRUE(back->response);
    EXPECT_EQ(back->flags, cql::frame_flag::warning);
    EXPECT_EQ(back->stream, -1);
    EXPECT_EQ(back->opcode, cql::opcode::event);
    EXPECT_EQ(back->length, 0x01020304U);
}

TEST(CqlHeader, RefusesOtherVersionsUnknownOpcodesOversizedBodiesAndShortInput) {
    const auto refused = [](std::string_view bytes, std::string_view reason_part) {
        const auto h = cql::decode_header(bytes);
        ASSERT_FALSE(h.ok());
        EXPECT_EQ(h.error().code, rtcrm::errc::io_error);
        EXPECT_NE(h.error().reason.find(reason_part), std::string::npos) << h.error().reason;
    };
    using namespace std::string_view_literals;
    refused("\x05\x00\x00\x01\x05\x00\x00\x00\x00"sv, "version 5");
    refused("\x83\x00\x00\x01\x02\x00\x00\x00\x00"sv, "version 3");
    refused("\x04\x00\x00\x01\x04\x00\x00\x00\x00"sv, "opcode 0x04");
    refused("\x04\x00\x00\x01\x11\x00\x00\x00\x00"sv, "opcode 0x11");
    refused("\x04\x00\x00\x01\x07\x10\x00\x00\x01"sv, "over the limit");
    refused("\x04\x00\x00\x01\x07\x00\x00"sv, "7 bytes");
    EXPECT_TRUE(cql::decode_header("\x04\x00\x00\x01\x07\x10\x00\x00\x00"sv).ok()) << "256 MiB itself is allowed";
}

// --- Requests -------------------------------------------------------------------------

TEST(CqlRequests, EqualTheDriversBytesForEveryMessageAndQueryFlag) {
    const auto requests = sample_requests();
    std::vector<std::string> cases;
    std::vector<std::string> ours;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto stream = static_cast<std::int16_t>(i * 1000);
        cases.push_back("{\"op\":\"request\",\"stream\":" + std::to_string(stream) + ",\"msg\":" + describe(requests[i]) + "}");
        ours.push_back(hex(frame_of(stream, requests[i])));
    }
    const auto theirs = run_driver(cases);
    for (std::size_t i = 0; i < requests.size(); ++i) {
        EXPECT_EQ(ours[i], theirs[i]) << "request " << i << ": " << cases[i];
    }
}

TEST(CqlRequests, DecodeBackToWhatWasEncoded) {
    for (const auto& req : sample_requests()) {
        const std::string frame = frame_of(3, req);
        const auto h = header_of(frame);
        EXPECT_FALSE(h.response);
        EXPECT_EQ(h.length, frame.size() - cql::header_size);
        const auto back = cql::decode_request(h, body_of(frame));
        ASSERT_TRUE(back.ok()) << back.error().reason << " in " << describe(req);
        EXPECT_EQ(back->index(), req.index());
        EXPECT_EQ(hex(frame_of(3, back.value())), hex(frame)) << describe(req);
    }
}

TEST(CqlRequests, DecodeTheDriversExecuteIntoItsFields) {
    // The peer's view of a frame it did not make: the driver's EXECUTE, with every flag it sets.
    const std::string driver_hex = run_driver({R"({"op":"request","msg":{"type":"execute","id":"abcd","consistency":6,)"
                                               R"("values":["00000001",null,""],"page_size":50,"paging_state":"ff00",)"
                                               R"("serial_consistency":9,"timestamp":123}})"})[0];
    std::string frame;
    for (std::size_t i = 0; i + 1 < driver_hex.size(); i += 2) {
        frame.push_back(static_cast<char>(std::stoi(driver_hex.substr(i, 2), nullptr, 16)));
    }
    ASSERT_GT(frame.size(), cql::header_size);
    const auto back = cql::decode_request(header_of(frame), body_of(frame));
    ASSERT_TRUE(back.ok()) << back.error().reason;
    const auto& e = std::get<cql::execute_request>(back.value());
    EXPECT_EQ(hex(e.id), "abcd");
    EXPECT_EQ(e.params.consistency, cql::consistency::local_quorum);
    ASSERT_EQ(e.params.values.size(), 3U);
    EXPECT_EQ(cql::as_int(e.params.values[0]), 1);
    EXPECT_FALSE(e.params.values[1].has_value());
    EXPECT_EQ(e.params.values[2], std::string());
    EXPECT_EQ(e.params.page_size, 50);
    EXPECT_EQ(e.params.paging_state, std::string("\xff\x00", 2));
    EXPECT_EQ(e.params.serial_consistency, cql::consistency::local_serial);
    EXPECT_EQ(e.params.default_timestamp, 123);
    EXPECT_FALSE(e.params.skip_metadata);
}

TEST(CqlRequests, WriteSkipMetadataAsFlag0x02AndReadItBack) {
    // The driver never writes this flag, so the bytes are spelled out here (§4.1.4).
    const cql::request req = cql::execute_request{"i", {.consistency = cql::consistency::one, .skip_metadata = true}};
    const std::string frame = frame_of(0, req);
    EXPECT_EQ(hex(body_of(frame)), "0001" "69" "0001" "02");
    const auto back = cql::decode_request(header_of(frame), body_of(frame));
    ASSERT_TRUE(back.ok()) << back.error().reason;
    EXPECT_TRUE(std::get<cql::execute_request>(back.value()).params.skip_metadata);
}

TEST(CqlRequests, DecodeRefusesNamedValuesNotSetValuesAndResponseOpcodes) {
    cql::frame_header h{.opcode = cql::opcode::query};
    using namespace std::string_literals;
    // QUERY "q", ONE, flags 0x41 (values with names).
    auto named = cql::decode_request(h, "\x00\x00\x00\x01q\x00\x01\x41\x00\x01\x00\x01n\x00\x00\x00\x00"s);
    ASSERT_FALSE(named.ok());
    EXPECT_NE(named.error().reason.find("named values"), std::string::npos) << named.error().reason;
    // QUERY "q", ONE, flags 0x01, one value of length -2 (not set).
    auto not_set = cql::decode_request(h, "\x00\x00\x00\x01q\x00\x01\x01\x00\x01\xff\xff\xff\xfe"s);
    ASSERT_FALSE(not_set.ok());
    EXPECT_NE(not_set.error().reason.find("not set"), std::string::npos) << not_set.error().reason;
    h.opcode = cql::opcode::ready;
    EXPECT_FALSE(cql::decode_request(h, "").ok());
    h.opcode = cql::opcode::options;
    h.flags = cql::frame_flag::compression;
    EXPECT_FALSE(cql::decode_request(h, "").ok());
}

// --- Responses ------------------------------------------------------------------------

TEST(CqlResponses, DecodeInTheDriverToTheSameFields) {
    const auto responses = sample_responses();
    const auto& expected = driver_view_of_sample_responses();
    ASSERT_EQ(responses.size(), expected.size());
    std::vector<std::string> cases;
    for (const auto& r : responses) {
        cases.push_back(driver_case(frame_of(-1, r)));
    }
    const auto theirs = run_driver(cases);
    for (std::size_t i = 0; i < responses.size(); ++i) {
        EXPECT_EQ(theirs[i], expected[i]) << "response " << i;
    }
}

TEST(CqlResponses, DecodeBackToWhatWasEncoded) {
    for (const auto& resp : sample_responses()) {
        const std::string frame = frame_of(12, resp);
        const auto h = header_of(frame);
        EXPECT_TRUE(h.response);
        EXPECT_EQ(h.stream, 12);
        const auto back = cql::decode_response(h, body_of(frame));
        ASSERT_TRUE(back.ok()) << back.error().reason << " in response " << hex(frame);
        EXPECT_EQ(back->index(), resp.index());
        EXPECT_EQ(hex(frame_of(12, back.value())), hex(frame));
    }
}

TEST(CqlResponses, RowsMetadataUsesGlobalTablesSpecOnlyWhenAllColumnsShareATable) {
    const auto responses = sample_responses();
    std::vector<const cql::rows_result*> rows;
    for (const auto& r : responses) {
        if (const auto* res = std::get_if<cql::result_response>(&r)) {
            if (const auto* rr = std::get_if<cql::rows_result>(&res->body)) {
                rows.push_back(rr);
            }
        }
    }
    ASSERT_GE(rows.size(), 2U);
    const auto flags_of = [](const cql::rows_result& rr) {
        const std::string frame = frame_of(0, cql::result_response{rr});
        // kind [int], then the metadata flags [int].
        return hex(body_of(frame).substr(4, 4));
    };
    EXPECT_EQ(flags_of(*rows[0]), "00000001");
    EXPECT_EQ(flags_of(*rows[1]), "00000002");  // two tables; has_more_pages

    const auto decoded = cql::decode_response(header_of(frame_of(0, cql::result_response{*rows[1]})),
                                              body_of(frame_of(0, cql::result_response{*rows[1]})));
    ASSERT_TRUE(decoded.ok()) << decoded.error().reason;
    const auto& back = std::get<cql::rows_result>(std::get<cql::result_response>(decoded.value()).body);
    EXPECT_EQ(back.metadata.columns, rows[1]->metadata.columns);
    EXPECT_EQ(back.metadata.paging_state, rows[1]->metadata.paging_state);
    EXPECT_EQ(back.rows, rows[1]->rows);
}

TEST(CqlResponses, NoMetadataRowsCarryOnlyTheColumnCountAndDecodeInTheDriverWithKnownMetadata) {
    cql::rows_result rows;
    rows.metadata.no_metadata_flag = true;
    rows.metadata.column_count = 2;
    rows.rows = {{cql::int_value(5), s("five")}};
    const std::string frame = frame_of(0, cql::result_response{rows});
    // kind 2, flags 0x0004, 2 columns, 1 row: int 5, text "five".
    EXPECT_EQ(hex(body_of(frame)), "00000002" "00000004" "00000002" "00000001" "0000000400000005" "0000000466697665");
    const auto theirs = run_driver({driver_case(frame, R"(,"result_metadata":[["k","t","n","int"],["k","t","s","text"]])")});
    EXPECT_EQ(theirs[0], R"({"columns":null,"kind":2,"message_type":"FastResultMessage","paging_state":null,"rows":[[5,"five"]]})");
    const auto back = cql::decode_response(header_of(frame), body_of(frame));
    ASSERT_TRUE(back.ok()) << back.error().reason;
    const auto& rr = std::get<cql::rows_result>(std::get<cql::result_response>(back.value()).body);
    EXPECT_TRUE(rr.metadata.no_metadata_flag);
    EXPECT_EQ(rr.metadata.column_count, 2);
    EXPECT_TRUE(rr.metadata.columns.empty());
    EXPECT_EQ(rr.rows, rows.rows);
}

TEST(CqlResponses, PreparedResultsKeepThePartitionKeyIndexes) {
    cql::prepared_result p;
    p.id = "q1";
    p.metadata.pk_indexes = {2, 0};
    p.metadata.columns = {col("k", "t", "a", cql::type_id::int_), col("k", "t", "b", cql::type_id::varchar),
                          col("k", "t", "c", cql::type_id::int_)};
    const std::string frame = frame_of(0, cql::result_response{p});
    const auto back = cql::decode_response(header_of(frame), body_of(frame));
    ASSERT_TRUE(back.ok()) << back.error().reason;
    const auto& pr = std::get<cql::prepared_result>(std::get<cql::result_response>(back.value()).body);
    EXPECT_EQ(pr.id, "q1");
    EXPECT_EQ(pr.metadata.pk_indexes, (std::vector<std::uint16_t>{2, 0}));
    EXPECT_EQ(pr.metadata.columns, p.metadata.columns);
    EXPECT_TRUE(pr.result_metadata.columns.empty());
}

TEST(CqlResponses, SkipTracingIdWarningsAndCustomPayloadAnnouncedByTheFlags) {
    cql::response_extras extras;
    extras.tracing_id = std::array<std::uint8_t, 16>{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x11, 0xde,
                                                     0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
    extras.warnings = std::vector<std::string>{"Batch too large", "Aggregation query"};
    extras.custom_payload = std::map<std::string, cql::value>{{"k", s("v")}};
    const cql::response resp = cql::result_response{cql::set_keyspace_result{"crm"}};
    const std::string frame = frame_of(5, resp, extras);
    const auto h = header_of(frame);
    EXPECT_EQ(h.flags, cql::frame_flag::tracing | cql::frame_flag::warning | cql::frame_flag::custom_payload);

    std::vector<std::string> warnings;
    const auto back = cql::decode_response(h, body_of(frame), &warnings);
    ASSERT_TRUE(back.ok()) << back.error().reason;
    EXPECT_EQ(std::get<cql::set_keyspace_result>(std::get<cql::result_response>(back.value()).body).keyspace, "crm");
    EXPECT_EQ(warnings, *extras.warnings);

    const auto theirs = run_driver({driver_case(frame)});
    EXPECT_EQ(theirs[0], R"({"custom_payload":{"k":"76"},"keyspace":"crm","kind":3,"message_type":"FastResultMessage",)"
                         R"("trace_id":"12345678-9abc-11de-8000-000000000001","warnings":["Batch too large","Aggregation query"]})");

    // The flags-only overload writes empty contents, which still decode.
    std::string empty;
    cql::encode_response(5, resp, empty, cql::frame_flag::tracing | cql::frame_flag::warning);
    const auto empty_back = cql::decode_response(header_of(empty), body_of(empty), &warnings);
    ASSERT_TRUE(empty_back.ok()) << empty_back.error().reason;
    EXPECT_TRUE(warnings.empty());
}

TEST(CqlResponses, AnUnknownErrorCodeKeepsItsCodeAndMessage) {
    using namespace std::string_literals;
    const cql::frame_header h{.response = true, .opcode = cql::opcode::error};
    const auto back = cql::decode_response(h, "\x00\x00\x16\x00\x00\x03" "cdc\x01\x02"s);
    ASSERT_TRUE(back.ok()) << back.error().reason;
    const auto& e = std::get<cql::error_response>(back.value());
    EXPECT_EQ(static_cast<int>(e.code), 0x1600);
    EXPECT_EQ(e.message, "cdc");
}

// --- Truncated and garbage input --------------------------------------------------------

TEST(CqlDecoders, RefuseEveryTruncationAndTrailingBytesNamingTheField) {
    const auto check = [](const std::string& frame, auto decode) {
        const auto h = header_of(frame);
        const std::string_view body = body_of(frame);
        for (std::size_t n = 0; n < body.size(); ++n) {
            // A copy of exactly n bytes, so a read past it is caught by sanitizers too.
            const std::string prefix(body.substr(0, n));
            const auto r = decode(h, prefix);
            if (r.ok()) {
                ADD_FAILURE() << "a body cut to " << n << " of " << body.size() << " bytes decoded: " << hex(frame);
                continue;
            }
            EXPECT_EQ(r.error().code, rtcrm::errc::io_error);
            EXPECT_NE(r.error().reason.find("field '"), std::string::npos) << r.error().reason;
        }
        const auto longer = decode(h, std::string(body) + "x");
        ASSERT_FALSE(longer.ok()) << hex(frame);
        EXPECT_NE(longer.error().reason.find("1 trailing bytes"), std::string::npos) << longer.error().reason;
    };
    for (const auto& req : sample_requests()) {
        check(frame_of(1, req), [](const cql::frame_header& h, std::string_view b) { return cql::decode_request(h, b); });
    }
    for (const auto& resp : sample_responses()) {
        check(frame_of(1, resp), [](const cql::frame_header& h, std::string_view b) { return cql::decode_response(h, b); });
    }
}

TEST(CqlDecoders, RefuseCountsTheBodyCannotHoldBeforeAllocating) {
    using namespace std::string_literals;
    const cql::frame_header h{.response = true, .opcode = cql::opcode::result};
    const auto reason = [&](const std::string& body) {
        const auto r = cql::decode_response(h, body);
        return r.ok() ? std::string("decoded") : r.error().reason;
    };
    // Rows, flags 4 (no metadata), 1 column, 2^31-1 rows, nothing after.
    EXPECT_NE(reason("\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x01\x7f\xff\xff\xff"s).find("rows_count"), std::string::npos);
    // Rows with a negative rows_count.
    EXPECT_NE(reason("\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x01\xff\xff\xff\xff"s).find("rows_count"), std::string::npos);
    // A negative column count.
    EXPECT_NE(reason("\x00\x00\x00\x02\x00\x00\x00\x04\xff\xff\xff\xff\x00\x00\x00\x00"s).find("negative"), std::string::npos);
    // Zero columns but rows claimed.
    EXPECT_NE(reason("\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x05"s).find("rows_count"), std::string::npos);
    // An unknown result kind.
    EXPECT_NE(reason("\x00\x00\x00\x09"s).find("result kind"), std::string::npos);
    // A column of unknown type 0x00ff (global spec "k"."t", column "c").
    EXPECT_NE(reason("\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x01\x00\x01k\x00\x01t\x00\x01" "c\x00\xff"s).find("type id"),
              std::string::npos);
    // list<list<list<...>>> nested far deeper than any schema.
    std::string deep = "\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x01\x00\x01k\x00\x01t\x00\x01" "c"s;
    for (int i = 0; i < 100000; ++i) {
        deep += "\x00\x20"s;
    }
    EXPECT_NE(reason(deep).find("nested too deep"), std::string::npos);
}

TEST(CqlDecoders, SurviveRandomGarbageWithAnErrorOrAValue) {
    std::mt19937 rng(20240607);
    const auto requests = sample_requests();
    const auto responses = sample_responses();
    int failures = 0;
    int runs = 0;
    for (int round = 0; round < 20; ++round) {
        for (const auto& resp : responses) {
            std::string frame = frame_of(0, resp);
            if (frame.size() == cql::header_size) {
                continue;
            }
            // Flip a few bytes of a valid body: the decoder must either decode or say why not.
            for (int k = 0; k < 3; ++k) {
                frame[cql::header_size + rng() % (frame.size() - cql::header_size)] = static_cast<char>(rng());
            }
            const auto r = cql::decode_response(header_of(frame), body_of(frame));
            ++runs;
            if (!r.ok()) {
                ++failures;
                EXPECT_EQ(r.error().code, rtcrm::errc::io_error);
            }
        }
        for (const auto& req : requests) {
            std::string frame = frame_of(0, req);
            if (frame.size() == cql::header_size) {
                continue;
            }
            frame[cql::header_size + rng() % (frame.size() - cql::header_size)] = static_cast<char>(rng());
            const auto r = cql::decode_request(header_of(frame), body_of(frame));
            ++runs;
            if (!r.ok()) {
                ++failures;
                EXPECT_EQ(r.error().code, rtcrm::errc::io_error);
            }
        }
    }
    // Most corrupted bodies are caught (lengths and counts go wrong); that they all ran
    // without a crash or a read out of bounds is the point (run under ASan to see it).
    EXPECT_GT(failures, runs / 4);
}

// --- Values, tokens, routing keys -------------------------------------------------------

TEST(CqlValues, SerialiseBigEndianAndRefuseWrongSizes) {
    EXPECT_EQ(hex(cql::int_value(-2)), "fffffffe");
    EXPECT_EQ(hex(cql::bigint_value(0x0102030405060708)), "0102030405060708");
    EXPECT_EQ(hex(cql::timestamp_value(1)), "0000000000000001");
    EXPECT_EQ(hex(cql::boolean_value(true)), "01");
    EXPECT_EQ(cql::as_int(cql::int_value(-123456)), -123456);
    EXPECT_EQ(cql::as_bigint(cql::bigint_value(INT64_MIN)), INT64_MIN);
    EXPECT_EQ(cql::as_boolean(cql::boolean_value(false)), false);
    EXPECT_EQ(cql::as_int(cql::bigint_value(1)), std::nullopt);
    EXPECT_EQ(cql::as_bigint(std::nullopt), std::nullopt);
    EXPECT_EQ(cql::as_uuid(s("short")), std::nullopt);
    const cql::uuid_bytes u{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    EXPECT_EQ(cql::as_uuid(cql::uuid_value(u)), u);
}

TEST(CqlValues, Murmur3TokensEqualTheDriversOnEmptyShortLongAndHighBitKeys) {
    std::mt19937 rng(7);
    std::vector<std::string> keys = {"", "a", "abc", "player-1", std::string(1, '\x80'), std::string(1, '\xff'),
                                     cql::bigint_value(42), cql::int_value(-1)};
    for (std::size_t len = 1; len <= 40; ++len) {
        for (int k = 0; k < 8; ++k) {
            std::string key;
            for (std::size_t i = 0; i < len; ++i) {
                // Half the keys only high bytes: the signed-tail quirk matters exactly there.
                key.push_back(static_cast<char>(k % 2 == 0 ? rng() : (rng() | 0x80U)));
            }
            keys.push_back(key);
        }
    }
    std::string list;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        list += (i == 0 ? "\"" : ",\"") + hex(keys[i]) + "\"";
    }
    const std::string theirs = run_driver({"{\"op\":\"murmur3\",\"keys\":[" + list + "]}"})[0];
    std::string ours = "[";
    for (std::size_t i = 0; i < keys.size(); ++i) {
        ours += (i == 0 ? "" : ", ") + std::to_string(cql::murmur3_token(keys[i]));
    }
    ours += "]";
    EXPECT_EQ(ours, theirs);
    // A fixed point too, so a broken driver script cannot make this pass vacuously.
    EXPECT_EQ(cql::murmur3_token("abc"), -5434086359492102041);
}

TEST(CqlValues, RoutingKeysEqualTheDriversForSingleAndCompositeKeys) {
    const std::vector<std::vector<std::string>> keys = {
        {"player-1"},
        {cql::int_value(3), "player-1"},
        {"", cql::bigint_value(-7), std::string(300, 'x')},
        {std::string("\x00\xff", 2), "b"},
    };
    std::vector<std::string> cases;
    std::vector<std::string> ours;
    for (const auto& parts : keys) {
        std::string j = "{\"op\":\"routing_key\",\"parts\":[";
        std::vector<std::string_view> views;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            j += (i == 0 ? "\"" : ",\"") + hex(parts[i]) + "\"";
            views.emplace_back(parts[i]);
        }
        cases.push_back(j + "]}");
        ours.push_back(hex(cql::routing_key(views)));
    }
    const auto theirs = run_driver(cases);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        EXPECT_EQ(ours[i], theirs[i]) << cases[i];
    }
    EXPECT_EQ(ours[1], "0004" "00000003" "00" "0008" + hex("player-1") + "00");
}

// --- Time UUIDs ------------------------------------------------------------------------

TEST(CqlTimeuuid, IsVersion1WithTheGivenTimeAsPythonsUuidReadsIt) {
    cql::timeuuid_generator gen;
    const std::int64_t ms = 1700000000123;
    const auto u = gen.next(ms);
    const std::string theirs = run_driver({"{\"op\":\"uuid\",\"hex\":\"" + hex(cql::uuid_value(u)) + "\"}"})[0];
    const std::int64_t ticks = ms * 10000 + 0x01B21DD213814000LL;
    EXPECT_NE(theirs.find("\"version\": 1,"), std::string::npos) << theirs;
    EXPECT_NE(theirs.find("\"variant\": \"specified in RFC 4122\""), std::string::npos) << theirs;
    EXPECT_NE(theirs.find("\"time\": " + std::to_string(ticks) + ","), std::string::npos) << theirs;
    EXPECT_EQ(cql::timeuuid_generator::unix_ms_of(u), ms);
    EXPECT_EQ(u[10] & 0x01, 0x01) << "a random node id has the multicast bit set";
}

TEST(CqlTimeuuid, IsUniqueForEqualTimestampsAndStaysInTheMillisecondWhileItCan) {
    cql::timeuuid_generator gen;
    std::set<cql::uuid_bytes> seen;
    const std::int64_t ms = 1600000000000;
    // 10000 ticks fit in a millisecond; past them the clock sequence changes instead.
    for (int i = 0; i < 12000; ++i) {
        const auto u = gen.next(ms);
        EXPECT_TRUE(seen.insert(u).second) << "duplicate at " << i;
        if (i < 10000) {
            EXPECT_EQ(cql::timeuuid_generator::unix_ms_of(u), ms) << i;
        }
    }
    // An earlier time after a later one (clock going back) is still unique.
    EXPECT_TRUE(seen.insert(gen.next(ms - 5)).second);
    EXPECT_TRUE(seen.insert(gen.next(ms - 5)).second);
    EXPECT_EQ(cql::timeuuid_generator::unix_ms_of(gen.next(ms + 1000)), ms + 1000);
}

TEST(CqlTimeuuid, GeneratorsPickDifferentNodesOrClockSequences) {
    cql::timeuuid_generator a;
    cql::timeuuid_generator b;
    // Same time in both: the random node id and clock sequence tell them apart.
    EXPECT_NE(a.next(1), b.next(1));
}
