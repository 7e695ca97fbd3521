#include "support/cql_engine_statements.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <array>

namespace rtcrm::test::engine {

namespace {

// --- System tables -------------------------------------------------------------------------

void put_row(table& t, const std::vector<std::pair<std::string, cql::value>>& values) {
    mutation m;
    m.target = &t;
    m.marker = true;
    std::vector<std::string> pk(t.pk.size());
    std::vector<std::string> ck(t.ck.size());
    for (const auto& [name, v] : values) {
        const std::size_t idx = t.column(name);
        const auto& col = t.columns[idx];
        if (col.kind == column_kind::partition_key) {
            pk[col.position] = v.value_or(std::string());
        } else if (col.kind == column_kind::clustering) {
            ck[col.position] = v.value_or(std::string());
        } else {
            m.cells.emplace_back(idx, v);
        }
    }
    m.pk = std::move(pk);
    m.ck = std::move(ck);
    apply(m, 0);
}

std::string inet_bytes(const std::string& address) {
    std::array<unsigned char, 16> buf{};
    if (inet_pton(AF_INET, address.c_str(), buf.data()) == 1) {
        return std::string(reinterpret_cast<const char*>(buf.data()), 4);
    }
    if (inet_pton(AF_INET6, address.c_str(), buf.data()) == 1) {
        return std::string(reinterpret_cast<const char*>(buf.data()), 16);
    }
    return std::string(4, '\0');
}

std::string token_set(const cql_node_info& n) {
    std::vector<std::string> tokens;
    for (const auto t : n.tokens) {
        tokens.push_back(std::to_string(t));
    }
    return encode_set(simple_type(type_id::varchar), std::move(tokens));
}

std::string text_map(const std::map<std::string, std::string>& m) {
    std::string out = be_bytes(m.size(), 4);
    for (const auto& [k, v] : m) {
        out += be_bytes(k.size(), 4) + k + be_bytes(v.size(), 4) + v;
    }
    return out;
}

// system.local, system.peers and system_schema.* are computed at each read: they depend on
// the node asked and on the current schema.

cql::schema_change_result schema_change(std::string change, std::string target, std::string ks, std::string name) {
    cql::schema_change_result r;
    r.change_type = std::move(change);
    r.target = std::move(target);
    r.keyspace = std::move(ks);
    r.name = std::move(name);
    return r;
}


}  // namespace

std::unique_ptr<table> virtual_table(const table& def, const exec_env& env) {
    const auto ks = def.keyspace;
    const auto name = def.name;
    const bool known = (ks == "system" && (name == "local" || name == "peers")) ||
                       (ks == "system_schema" && (name == "keyspaces" || name == "tables" || name == "columns"));
    if (!known) {
        return nullptr;
    }
    auto t = def.empty_copy();
    const std::string schema_version = uuid_string(env.schema.version_uuid());
    if (ks == "system" && name == "local") {
        const auto& n = env.nodes.at(env.node);
        put_row(*t, {{"key", std::string("local")},
                     {"bootstrapped", std::string("COMPLETED")},
                     {"broadcast_address", inet_bytes(n.address)},
                     {"cluster_name", env.options.cluster_name},
                     {"cql_version", std::string("3.4.5")},
                     {"data_center", env.options.datacenter},
                     {"host_id", uuid_string(n.host_id)},
                     {"listen_address", inet_bytes(n.address)},
                     {"native_protocol_version", std::string("4")},
                     {"partitioner", std::string("org.apache.cassandra.dht.Murmur3Partitioner")},
                     {"rack", std::string("rack1")},
                     {"release_version", std::string("3.11.16")},
                     {"rpc_address", inet_bytes(n.address)},
                     {"schema_version", schema_version},
                     {"tokens", token_set(n)}});
    } else if (ks == "system" && name == "peers") {
        for (std::size_t i = 0; i < env.nodes.size(); ++i) {
            if (i == env.node) {
                continue;
            }
            const auto& n = env.nodes[i];
            put_row(*t, {{"peer", inet_bytes(n.address)},
                         {"data_center", env.options.datacenter},
                         {"host_id", uuid_string(n.host_id)},
                         {"rack", std::string("rack1")},
                         {"release_version", std::string("3.11.16")},
                         {"rpc_address", inet_bytes(n.address)},
                         {"schema_version", schema_version},
                         {"tokens", token_set(n)}});
        }
    } else {
        for (const auto& [ks_name, k] : env.schema.keyspaces) {
            if (name == "keyspaces") {
                put_row(*t, {{"keyspace_name", ks_name},
                             {"durable_writes", std::string(1, k.durable_writes ? '\1' : '\0')},
                             {"replication", text_map(k.replication)}});
                continue;
            }
            for (const auto& [table_name, tbl] : k.tables) {
                if (name == "tables") {
                    put_row(*t, {{"keyspace_name", ks_name},
                                 {"table_name", table_name},
                                 {"default_time_to_live", be_bytes(static_cast<std::uint32_t>(tbl->default_ttl), 4)},
                                 {"gc_grace_seconds", be_bytes(864000, 4)},
                                 {"comment", std::string()}});
                    continue;
                }
                for (const auto& col : tbl->columns) {
                    const bool regular = col.kind == column_kind::regular;
                    put_row(*t, {{"keyspace_name", ks_name},
                                 {"table_name", table_name},
                                 {"column_name", col.name},
                                 {"clustering_order", std::string(col.kind != column_kind::clustering ? "none"
                                                                  : col.desc ? "desc" : "asc")},
                                 {"kind", std::string(col.kind == column_kind::partition_key ? "partition_key"
                                                      : regular ? "regular" : "clustering")},
                                 {"position", be_bytes(regular ? 0xFFFFFFFFU : col.position, 4)},
                                 {"type", type_name(col.type)}});
                }
            }
        }
    }
    return t;
}


const std::vector<std::string_view> system_ddl = {
    "CREATE KEYSPACE system WITH replication = {'class': 'LocalStrategy'}",
    "CREATE KEYSPACE system_schema WITH replication = {'class': 'LocalStrategy'}",
    "CREATE TABLE system.local (key text PRIMARY KEY, bootstrapped text, broadcast_address inet, cluster_name text, "
    "cql_version text, data_center text, host_id uuid, listen_address inet, native_protocol_version text, "
    "partitioner text, rack text, release_version text, rpc_address inet, schema_version uuid, tokens set<text>)",
    "CREATE TABLE system.peers (peer inet PRIMARY KEY, data_center text, host_id uuid, preferred_ip inet, rack text, "
    "release_version text, rpc_address inet, schema_version uuid, tokens set<text>)",
    "CREATE TABLE system_schema.keyspaces (keyspace_name text PRIMARY KEY, durable_writes boolean, "
    "replication frozen<map<text, text>>)",
    "CREATE TABLE system_schema.tables (keyspace_name text, table_name text, comment text, "
    "default_time_to_live int, gc_grace_seconds int, PRIMARY KEY (keyspace_name, table_name))",
    "CREATE TABLE system_schema.columns (keyspace_name text, table_name text, column_name text, "
    "clustering_order text, kind text, position int, type text, PRIMARY KEY (keyspace_name, table_name, column_name))",
    "CREATE TABLE system_schema.views (keyspace_name text, view_name text, base_table_name text, "
    "PRIMARY KEY (keyspace_name, view_name))",
    "CREATE TABLE system_schema.types (keyspace_name text, type_name text, field_names frozen<list<text>>, "
    "field_types frozen<list<text>>, PRIMARY KEY (keyspace_name, type_name))",
    "CREATE TABLE system_schema.indexes (keyspace_name text, table_name text, index_name text, kind text, "
    "options frozen<map<text, text>>, PRIMARY KEY (keyspace_name, table_name, index_name))",
    "CREATE TABLE system_schema.functions (keyspace_name text, function_name text, PRIMARY KEY (keyspace_name, "
    "function_name))",
    "CREATE TABLE system_schema.aggregates (keyspace_name text, aggregate_name text, PRIMARY KEY (keyspace_name, "
    "aggregate_name))",
    "CREATE TABLE system_schema.triggers (keyspace_name text, table_name text, trigger_name text, "
    "PRIMARY KEY (keyspace_name, table_name, trigger_name))",
};


// --- DDL -----------------------------------------------------------------------------------

void refuse_system(const std::string& ks, bool bootstrapping) {
    if (!bootstrapping && is_system_keyspace(ks)) {
        fail(cql::error_code::unauthorized, fmt::format("{} keyspace is not user-modifiable.", ks));
    }
}

cql::result_body create_keyspace(schema_t& s, const create_keyspace_st& st, bool bootstrapping) {
    refuse_system(st.name, bootstrapping);
    if (s.keyspaces.count(st.name) != 0) {
        if (st.if_not_exists) {
            return cql::void_result{};
        }
        cql::error_response e;
        e.code = cql::error_code::already_exists;
        e.message = fmt::format("Cannot add existing keyspace \"{}\"", st.name);
        e.keyspace = st.name;
        throw statement_error{std::move(e)};
    }
    if (st.replication.count("class") == 0) {
        fail(cql::error_code::config_error, "Missing mandatory replication strategy class");
    }
    auto& k = s.keyspaces[st.name];
    k.name = st.name;
    k.replication = st.replication;
    k.durable_writes = st.durable_writes;
    ++s.version;
    return schema_change("CREATED", "KEYSPACE", st.name, "");
}

cql::result_body create_table(schema_t& s, const create_table_st& st, const std::string& current, bool bootstrapping) {
    const std::string ks = keyspace_of(st.name, current);
    refuse_system(ks, bootstrapping);
    auto& k = find_keyspace(s, ks);
    if (k.tables.count(st.name.table) != 0) {
        if (st.if_not_exists) {
            return cql::void_result{};
        }
        cql::error_response e;
        e.code = cql::error_code::already_exists;
        e.message = fmt::format("Cannot add already existing table \"{}\" to keyspace \"{}\"", st.name.table, ks);
        e.keyspace = ks;
        e.table = st.name.table;
        throw statement_error{std::move(e)};
    }
    auto t = std::make_unique<table>();
    t->keyspace = ks;
    t->name = st.name.table;
    t->default_ttl = st.default_ttl;
    for (const auto& c : st.columns) {
        if (t->find(c.name)) {
            invalid(fmt::format("Multiple definition of identifier {}", c.name));
        }
        t->columns.push_back({c.name, c.type, column_kind::regular, false, 0});
    }
    if (st.partition_key.empty()) {
        invalid(fmt::format("No PRIMARY KEY specifed for table {} (exactly one required)", st.name.table));
    }
    const auto key_column = [&](const std::string& name, column_kind kind, std::size_t position) {
        const auto idx = t->find(name);
        if (!idx) {
            invalid(fmt::format("Unknown definition {} referenced in PRIMARY KEY", name));
        }
        auto& col = t->columns[*idx];
        if (col.kind != column_kind::regular) {
            invalid(fmt::format("Duplicate column {} in PRIMARY KEY", name));
        }
        if (col.type.id == type_id::list || col.type.id == type_id::set || col.type.id == type_id::map) {
            invalid(fmt::format("Invalid collection type for PRIMARY KEY component {}", name));
        }
        col.kind = kind;
        col.position = position;
        return *idx;
    };
    for (std::size_t i = 0; i < st.partition_key.size(); ++i) {
        t->pk.push_back(key_column(st.partition_key[i], column_kind::partition_key, i));
    }
    for (std::size_t i = 0; i < st.clustering_key.size(); ++i) {
        t->ck.push_back(key_column(st.clustering_key[i], column_kind::clustering, i));
    }
    if (!st.clustering_order.empty()) {
        if (st.clustering_order.size() > t->ck.size()) {
            invalid("Only clustering key columns can be defined in CLUSTERING ORDER directive");
        }
        for (std::size_t i = 0; i < st.clustering_order.size(); ++i) {
            if (t->columns[t->ck[i]].name != st.clustering_order[i].first) {
                invalid("The order of columns in the CLUSTERING ORDER directive must be the one of the clustering key");
            }
            t->columns[t->ck[i]].desc = st.clustering_order[i].second;
        }
    }
    auto specs = std::make_shared<std::vector<clustering_spec>>();
    for (const auto i : t->ck) {
        specs->push_back({t->columns[i].type, t->columns[i].desc});
    }
    t->ck_specs = std::move(specs);
    k.tables[st.name.table] = std::move(t);
    ++s.version;
    return schema_change("CREATED", "TABLE", ks, st.name.table);
}

cql::result_body drop(schema_t& s, const drop_st& st, const std::string& current) {
    if (st.keyspace) {
        refuse_system(st.name.keyspace, false);
        if (s.keyspaces.erase(st.name.keyspace) == 0) {
            if (st.if_exists) {
                return cql::void_result{};
            }
            fail(cql::error_code::config_error, fmt::format("Cannot drop non existing keyspace '{}'.", st.name.keyspace));
        }
        ++s.version;
        return schema_change("DROPPED", "KEYSPACE", st.name.keyspace, "");
    }
    const std::string ks = keyspace_of(st.name, current);
    refuse_system(ks, false);
    const auto kit = s.keyspaces.find(ks);
    if (kit == s.keyspaces.end() || kit->second.tables.erase(st.name.table) == 0) {
        if (st.if_exists) {
            return cql::void_result{};
        }
        fail(cql::error_code::config_error,
             fmt::format("Cannot drop non existing table '{}' in keyspace '{}'.", st.name.table, ks));
    }
    ++s.version;
    return schema_change("DROPPED", "TABLE", ks, st.name.table);
}


}  // namespace rtcrm::test::engine
