// The registry of profile store kinds: each kind's name, its own members of $.store
// (those every kind takes are in settings.cpp) and how it is built. A new kind is one
// more registration here.
#include "config/schema.hpp"

#include <rtcrm/cassandra/cassandra_store.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>

namespace rtcrm::detail {

namespace {

store_registration memory() {
    return {
        .kind = store_kind::memory,
        .name = "memory",
        // "path": "" is harmless here (the shape shown in the docs has it); a real path
        // means the kind was forgotten.
        .fields = {empty_only("path", R"(only for store kind "lmdb" (the store kind is "memory"))")},
        .build = [](const topology_config&) -> std::shared_ptr<profile_store> {
            return std::make_shared<memory_store>();
        },
    };
}

store_registration lmdb() {
    return {
        .kind = store_kind::lmdb,
        .name = "lmdb",
        .fields =
            {
                text("path", [](auto& c) -> auto& { return c.store.lmdb.path; }, any_string,
                     {.flag = "store-path",
                      .help = "LMDB environment directory (--store lmdb)",
                      .doc = "the environment directory (required)",
                      .required = true}),
            },
        .build = [](const topology_config& c) -> std::shared_ptr<profile_store> {
            return std::make_shared<lmdb_store>(lmdb_options{.path = c.store.lmdb.path, .sync = c.store.sync});
        },
    };
}

store_registration cassandra() {
    return {
        .kind = store_kind::cassandra,
        .name = "cassandra",
        .fields =
            {
                text("hosts", [](auto& c) -> auto& { return c.store.cassandra.hosts; }, host_list,
                     {.flag = "cassandra-hosts",
                      .help = "Cassandra contact points HOST[:PORT][,...] (--store cassandra); the password comes from "
                              "$RTCRM_CASSANDRA_PASSWORD",
                      .doc = "contact points (required); the others are discovered",
                      .required = true}),
                text("keyspace", [](auto& c) -> auto& { return c.store.cassandra.keyspace; }, cql_identifier,
                     {.flag = "keyspace",
                      .help = "Cassandra keyspace, created if missing (--store cassandra)",
                      .doc = "the keyspace, created if missing"}),
                text("replication", [](auto& c) -> auto& { return c.store.cassandra.replication; }, cql_map,
                     {.doc = "replication of a keyspace the store creates"}),
                text("consistency", [](auto& c) -> auto& { return c.store.cassandra.consistency; }, consistency_level,
                     {.flag = "cassandra-consistency",
                      .help = "consistency level of the store's reads and writes (--store cassandra)",
                      .doc = "consistency of reads and writes"}),
                text("username", [](auto& c) -> auto& { return c.store.cassandra.username; }, any_string,
                     {.flag = "cassandra-username",
                      .help = "Cassandra PasswordAuthenticator user (--store cassandra)",
                      .doc =
                          "PasswordAuthenticator user; the password comes from `$RTCRM_CASSANDRA_PASSWORD`, never from "
                          "the file"}),
                duration("event_ttl", [](auto& c) -> auto& { return c.store.cassandra.event_ttl; }, optional_duration,
                         {.doc = "how long the event history is kept (the table's TTL); `\"\"` = forever"}),
            },
        .build = [](const topology_config& c) -> std::shared_ptr<profile_store> {
            const auto& s = c.store.cassandra;
            cassandra_options o{.hosts = parse_cassandra_hosts(s.hosts),
                                .keyspace = s.keyspace,
                                .replication = s.replication,
                                .username = s.username,
                                .password = s.password,
                                .consistency = parse_cassandra_consistency(s.consistency).value()};
            if (!c.kafka.instance_id.empty()) {
                o.instance = c.kafka.instance_id;
            }
            o.event_ttl =
                std::chrono::duration_cast<std::chrono::seconds>(s.event_ttl.value_or(std::chrono::milliseconds(0)));
            return std::make_shared<cassandra_store>(std::move(o));
        },
    };
}

}  // namespace

const std::vector<store_registration>& store_kinds() {
    static const std::vector<store_registration> all{memory(), lmdb(), cassandra()};
    return all;
}

}  // namespace rtcrm::detail
