#include "cql/cql_samples.hpp"

#include "cql/cql_values.hpp"

namespace rtcrm::test {

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

}  // namespace rtcrm::test
