#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/core/error.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;

// The message of the rtcrm::error(invalid_config) a document raises, or "" if it loads.
std::string error_of(std::string_view json, const rtcrm::topology_config& defaults = {}) {
    try {
        (void)rtcrm::parse_topology_config(json, "demo.json", defaults);
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config) << e.what();
        return e.what();
    }
    return "";
}

// One wrong document: the JSON path its error must name, and a phrase of the message.
struct wrong {
    std::string_view json;
    std::string_view path;
    std::string_view says;
};

std::ostream& operator<<(std::ostream& os, const wrong& w) { return os << w.json; }

// Every member of the schema, given a wrong type, and (where values are restricted) a
// bad value; then unknown members at every level and members of another kind.
const wrong wrong_documents[] = {
    // $
    {R"([1, 2])", "$", "expected an object, got [1,2]"},
    {R"({"shards": "two"})", "$.shards", R"(expected an integer from 0 to 1024, got "two")"},
    {R"({"shards": 2000})", "$.shards", "expected an integer from 0 to 1024, got 2000"},
    {R"({"shards": -1})", "$.shards", "got -1"},
    {R"({"shards": 1.5})", "$.shards", "got 1.5"},
    {R"({"shard_policy": "rr"})", "$.shard_policy", R"(unknown shard policy "rr" (inherit | batch | fifo))"},
    {R"({"shard_policy": 1})", "$.shard_policy", "expected a string, got 1"},
    {R"({"shard_priority": 0})", "$.shard_priority", "expected an integer from 1 to 99, got 0"},
    {R"({"shard_priority": 100})", "$.shard_priority", "got 100"},
    {R"({"shard_priority": "high"})", "$.shard_priority", R"(got "high")"},
    // $.source
    {R"({"source": "generator"})", "$.source", R"(expected an object, got "generator")"},
    {R"({"source": {"kind": 3}})", "$.source.kind", "expected a string, got 3"},
    {R"({"source": {"kind": "kafkaa"}})", "$.source.kind",
     R"(unknown source "kafkaa" (generator | ndjson | kafka | http))"},
    {R"({"source": {"events": "abc"}})", "$.source.events", R"(expected a non-negative integer, got "abc")"},
    {R"({"source": {"events": -5}})", "$.source.events", "expected a non-negative integer, got -5"},
    {R"({"source": {"players": "10"}})", "$.source.players", R"(expected an integer from 1 to 100000000, got "10")"},
    {R"({"source": {"players": 0}})", "$.source.players", "expected an integer from 1 to 100000000, got 0"},
    {R"({"source": {"seed": true}})", "$.source.seed", "expected a non-negative integer, got true"},
    {R"({"source": {"seed": -3}})", "$.source.seed", "got -3"},
    {R"({"source": {"rate": "fast"}})", "$.source.rate", R"(expected a non-negative number, got "fast")"},
    {R"({"source": {"rate": -0.5}})", "$.source.rate", "expected a non-negative number, got -0.5"},
    {R"({"source": {"scenario": 1}})", "$.source.scenario", "expected a string, got 1"},
    {R"({"source": {"scenario": "alice"}})", "$.source.scenario", R"(unknown scenario "alice" ("" | bob))"},
    {R"({"source": {"kind": "ndjson", "input": 7}})", "$.source.input", "expected a string, got 7"},
    {R"({"source": {"kind": "ndjson", "input": ""}})", "$.source.input", R"(expected a non-empty string, got "")"},
    {R"({"source": {"kind": "kafka", "topic": null}})", "$.source.topic", "expected a string, got null"},
    {R"({"source": {"kind": "kafka", "topic": ""}})", "$.source.topic", R"(topic "": empty (a topic name is 1 to 249 characters)"},
    {R"({"source": {"kind": "kafka", "group": ["a"]}})", "$.source.group", R"(expected a string, got ["a"])"},
    {R"({"source": {"kind": "kafka", "group": ""}})", "$.source.group", "expected a non-empty string"},
    {R"({"source": {"kind": "kafka", "start": 0}})", "$.source.start", "expected a string, got 0"},
    {R"({"source": {"kind": "kafka", "start": "yesterday"}})", "$.source.start",
     R"(expected committed | earliest | latest | a timestamp (ms, or YYYY-MM-DDTHH:MM:SSZ), got "yesterday")"},
    {R"({"source": {"kind": "kafka", "revoke_timeout_ms": "5s"}})", "$.source.revoke_timeout_ms",
     "expected a non-negative integer"},
    {R"({"source": {"kind": "kafka", "revoke_timeout_ms": -1}})", "$.source.revoke_timeout_ms", "got -1"},
    {R"({"source": {"kind": "http", "listen": 8080}})", "$.source.listen", "expected a string, got 8080"},
    {R"({"source": {"kind": "http", "listen": "localhost"}})", "$.source.listen",
     R"(expected HOST:PORT (port 0: any free port), got "localhost")"},
    {R"({"source": {"kind": "http", "listen": "127.0.0.1:99999"}})", "$.source.listen", "expected HOST:PORT"},
    {R"({"source": {"kind": "http", "listen": ""}})", "$.source.listen", "expected HOST:PORT"},
    {R"({"source": {"kind": "http", "queue": "1k"}})", "$.source.queue", "expected a positive integer"},
    {R"({"source": {"kind": "http", "queue": 0}})", "$.source.queue", "expected a positive integer, got 0"},
    // $.parse
    {R"({"parse": "player_id"})", "$.parse", "expected an object"},
    {R"({"parse": {"key_field": 1}})", "$.parse.key_field", "expected a string, got 1"},
    {R"({"parse": {"key_field": ""}})", "$.parse.key_field", "expected a non-empty string"},
    {R"({"parse": {"max_event_size": "64k"}})", "$.parse.max_event_size", "expected a positive integer"},
    {R"({"parse": {"max_event_size": 0}})", "$.parse.max_event_size", "expected a positive integer, got 0"},
    {R"({"parse": {"max_event_lead": "-1d"}})", "$.parse.max_event_lead", "expected a duration"},
    {R"({"parse": {"max_event_age": 5}})", "$.parse.max_event_age", "expected a string, got 5"},
    {R"({"source": {"kind": "ndjson", "from": "last week"}})", "$.source.from",
     R"(expected ms since the epoch, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[.mmm]Z or "", got "last week")"},
    {R"({"source": {"kind": "ndjson", "to": "2026-11-01T10:00:00"}})", "$.source.to", "expected ms since the epoch"},
    // $.archive
    {R"({"archive": {"keep": "12h"}})", "$.archive.keep", "of at least 1d (whole day files)"},
    {R"({"archive": {"flush_interval": "0"}})", "$.archive.flush_interval", "more than 0"},
    {R"({"archive": {"sync": "yes"}})", "$.archive.sync", R"(expected true or false, got "yes")"},
    {R"({"archive": {"path": "x"}})", "$.archive.path", "unknown field (dir | sync | keep | flush_interval)"},
    // $.validation
    {R"({"validation": 1})", "$.validation", "expected an object, got 1"},
    {R"({"validation": {"schemas": false}})", "$.validation.schemas", "expected a string, got false"},
    {R"({"validation": {"reject_unknown_types": "yes"}})", "$.validation.reject_unknown_types",
     R"(expected true or false, got "yes")"},
    // $.scripts
    {R"({"scripts": true})", "$.scripts", "expected an object, got true"},
    {R"({"scripts": {"dir": 1}})", "$.scripts.dir", "expected a string, got 1"},
    {R"({"scripts": {"watch": 0}})", "$.scripts.watch", "expected true or false, got 0"},
    {R"({"scripts": {"guards": []}})", "$.scripts.guards", "expected an object, got []"},
    {R"({"scripts": {"guards": {"instruction_budget": "1M"}}})", "$.scripts.guards.instruction_budget",
     "expected a positive integer"},
    {R"({"scripts": {"guards": {"instruction_budget": 0}}})", "$.scripts.guards.instruction_budget",
     "expected a positive integer, got 0"},
    {R"({"scripts": {"guards": {"memory_limit": 1.5}}})", "$.scripts.guards.memory_limit",
     "expected an integer from 262144 to"},
    {R"({"scripts": {"guards": {"memory_limit": 1024}}})", "$.scripts.guards.memory_limit", "got 1024"},
    {R"({"scripts": {"guards": {"max_consecutive_errors": "ten"}}})", "$.scripts.guards.max_consecutive_errors",
     "expected an integer from 1 to 4294967295"},
    {R"({"scripts": {"guards": {"max_consecutive_errors": 0}}})", "$.scripts.guards.max_consecutive_errors", "got 0"},
    {R"({"scripts": {"guards": {"max_consecutive_errors": 4294967296}}})", "$.scripts.guards.max_consecutive_errors",
     "got 4294967296"},
    {R"({"scripts": {"guards": {"call_deadline": "0s"}}})", "$.scripts.guards.call_deadline", "more than 0"},
    {R"({"scripts": {"guards": {"call_memory_budget": 1024}}})", "$.scripts.guards.call_memory_budget", "got 1024"},
    {R"({"scripts": {"guards": {"max_error_share": 1.5}}})", "$.scripts.guards.max_error_share",
     "expected a number from 0 to 1, got 1.5"},
    {R"({"scripts": {"guards": {"disabled_campaigns": "3"}}})", "$.scripts.guards.disabled_campaigns",
     R"(expected an array of campaign ids, got "3")"},
    {R"({"scripts": {"guards": {"disabled_campaigns": [{}]}}})", "$.scripts.guards.disabled_campaigns[0]",
     "expected a campaign id"},
    {R"({"scripts": {"guards": {"disabled_campaigns": [3, ""]}}})", "$.scripts.guards.disabled_campaigns[1]",
     R"(expected a campaign id (a non-empty string or a non-negative integer), got "")"},
    {R"({"scripts": {"guards": {"disabled_campaigns": ["3", -1]}}})", "$.scripts.guards.disabled_campaigns[1]",
     "got -1"},
    // $.store
    {R"({"store": "memory"})", "$.store", "expected an object"},
    {R"({"store": {"kind": 1}})", "$.store.kind", "expected a string, got 1"},
    {R"({"store": {"kind": "lmbd"}})", "$.store.kind", R"(unknown store "lmbd" (memory | lmdb | cassandra))"},
    {R"({"store": {"kind": "cassandra", "hosts": ""}})", "$.store.hosts", "expected a non-empty string"},
    {R"({"store": {"kind": "cassandra", "hosts": "h", "keyspace": "crm-1"}})", "$.store.keyspace",
     "expected a CQL identifier"},
    {R"({"store": {"kind": "cassandra", "hosts": "h", "replication": "SimpleStrategy"}})", "$.store.replication",
     "expected a CQL map literal"},
    {R"({"store": {"kind": "cassandra", "hosts": "h", "consistency": "most"}})", "$.store.consistency",
     "expected a consistency level"},
    {R"({"store": {"kind": "cassandra", "hosts": "h", "event_ttl": "soon"}})", "$.store.event_ttl",
     "expected a duration"},
    {R"({"store": {"kind": "lmdb", "path": "/x", "hosts": "h"}})", "$.store.hosts",
     R"(not a field of store kind "lmdb")"},
    {R"({"store": {"kind": "lmdb", "path": 1}})", "$.store.path", "expected a string, got 1"},
    {R"({"store": {"kind": "memory", "path": "/tmp/x"}})", "$.store.path", R"(only for store kind "lmdb")"},
    {R"({"store": {"sync": "true"}})", "$.store.sync", R"(expected true or false, got "true")"},
    {R"({"store": {"cache_max_profiles": "0"}})", "$.store.cache_max_profiles", "expected a non-negative integer"},
    {R"({"store": {"cache_max_profiles": -1}})", "$.store.cache_max_profiles", "got -1"},
    {R"({"store": {"profile_ttl": 30}})", "$.store.profile_ttl", "expected a string, got 30"},
    {R"({"store": {"profile_ttl": "30 days"}})", "$.store.profile_ttl",
     R"(expected a duration like "1w", "30d", "12h", "15m", "10s" or "250ms" or "", got "30 days")"},
    {R"({"store": {"history_ttl": 7}})", "$.store.history_ttl", "expected a string, got 7"},
    {R"({"store": {"history_ttl": "7y"}})", "$.store.history_ttl", R"(got "7y")"},
    {R"({"store": {"ttl_sweep_interval": 60}})", "$.store.ttl_sweep_interval", "expected a string, got 60"},
    {R"({"store": {"ttl_sweep_interval": ""}})", "$.store.ttl_sweep_interval", "expected a duration like"},
    {R"({"store": {"ttl_sweep_interval": "0s"}})", "$.store.ttl_sweep_interval", R"((more than 0), got "0s")"},
    {R"({"store": {"ttl_sweep_interval": "-5s"}})", "$.store.ttl_sweep_interval", R"(got "-5s")"},
    // $.sinks
    {R"({"sinks": []})", "$.sinks", "expected an object, got []"},
    {R"({"sinks": {"triggers": "ndjson"}})", "$.sinks.triggers", "expected an object"},
    {R"({"sinks": {"triggers": {"kind": 1}}})", "$.sinks.triggers.kind", "expected a string, got 1"},
    {R"({"sinks": {"triggers": {"kind": "stdout"}}})", "$.sinks.triggers.kind",
     R"(unknown trigger sink "stdout" (ndjson | kafka | webhook))"},
    {R"({"sinks": {"triggers": {"kind": "ndjson", "path": 1}}})", "$.sinks.triggers.path", "expected a string"},
    {R"({"sinks": {"triggers": {"kind": "ndjson", "path": ""}}})", "$.sinks.triggers.path",
     "expected a non-empty string"},
    {R"({"sinks": {"triggers": {"kind": "kafka", "topic": 1}}})", "$.sinks.triggers.topic", "expected a string"},
    {R"({"sinks": {"triggers": {"kind": "kafka", "topic": ""}}})", "$.sinks.triggers.topic",
     R"(topic "": empty (a topic name is 1 to 249 characters of a-z A-Z 0-9 . _ -, and not "." or ".."))"},
    {R"({"sinks": {"triggers": {"kind": "kafka", "topic": "crm trigger"}}})", "$.sinks.triggers.topic",
     R"(topic "crm trigger": ' ' at position 4 is not allowed (a topic name is 1 to 249 characters)"},
    {R"({"sinks": {"triggers": {"kind": "webhook", "url": 1}}})", "$.sinks.triggers.url", "expected a string"},
    {R"({"sinks": {"triggers": {"kind": "webhook", "url": "https://crm:443/t"}}})", "$.sinks.triggers.url",
     R"(expected http://HOST:PORT[/PATH] (no https), got "https://crm:443/t")"},
    {R"({"sinks": {"triggers": {"kind": "webhook", "url": "http://crm/t"}}})", "$.sinks.triggers.url",
     "expected http://HOST:PORT[/PATH]"},
    {R"({"sinks": {"triggers": {"kind": "webhook", "one_by_one": "no"}}})", "$.sinks.triggers.one_by_one",
     "expected true or false"},
    {R"({"sinks": {"dead_letters": 1}})", "$.sinks.dead_letters", "expected an object"},
    {R"({"sinks": {"dead_letters": {"kind": "webhook"}}})", "$.sinks.dead_letters.kind",
     R"(unknown dead-letter sink "webhook" (ndjson | kafka))"},
    {R"({"sinks": {"dead_letters": {"kind": "ndjson", "path": 2}}})", "$.sinks.dead_letters.path", "expected a string"},
    {R"({"sinks": {"dead_letters": {"kind": "ndjson", "path": ""}}})", "$.sinks.dead_letters.path",
     "expected a non-empty string"},
    {R"({"sinks": {"dead_letters": {"kind": "kafka", "topic": 2}}})", "$.sinks.dead_letters.topic",
     "expected a string"},
    {R"({"sinks": {"dead_letters": {"kind": "kafka", "topic": ""}}})", "$.sinks.dead_letters.topic",
     R"(topic "": empty)"},
    {R"({"sinks": {"dead_letters": {"kind": "kafka", "topic": ".."}}})", "$.sinks.dead_letters.topic",
     R"(topic "..": not allowed)"},
    {R"({"sinks": {"dead_letters": {"kind": "kafka", "topic": "dlq", "fallback_path": 1}}})",
     "$.sinks.dead_letters.fallback_path", "expected a string"},
    {R"({"sinks": {"dead_letters": {"kind": "kafka"}}})", "$.sinks.dead_letters.topic",
     R"(required for dead-letter sink kind "kafka")"},
    {R"({"sinks": {"shadow": "shadow.ndjson"}})", "$.sinks.shadow", "expected an object"},
    {R"({"sinks": {"shadow": {"kind": "kafka"}}})", "$.sinks.shadow.kind", R"(unknown shadow sink "kafka" (ndjson))"},
    {R"({"sinks": {"shadow": {"kind": "ndjson", "path": 3}}})", "$.sinks.shadow.path", "expected a string"},
    {R"({"sinks": {"shadow": {"path": ""}}})", "$.sinks.shadow.path", "expected a non-empty string"},
    {R"({"sinks": {"shadow": {"kind": "ndjson"}}})", "$.sinks.shadow.path",
     R"(required for shadow sink kind "ndjson")"},
    // $.kafka
    {R"({"kafka": 1})", "$.kafka", "expected an object"},
    {R"({"kafka": {"brokers": ["a:1"]}})", "$.kafka.brokers", "expected a string"},
    {R"({"kafka": {"properties": "a=b"}})", "$.kafka.properties", R"(expected an object, got "a=b")"},
    {R"({"kafka": {"properties": {"security.protocol": {}}}})", R"($.kafka.properties["security.protocol"])",
     "expected a string (or an integer or true/false), got {}"},
    {R"({"kafka": {"properties": {"linger.ms": 1.5}}})", R"($.kafka.properties["linger.ms"])", "got 1.5"},
    {R"({"kafka": {"properties": {"a=b": "c"}}})", R"($.kafka.properties["a=b"])", "without '='"},
    {R"({"kafka": {"properties": {"": "c"}}})", R"($.kafka.properties[""])", "must be non-empty"},
    {R"({"kafka": {"maintenance_topic": 1}})", "$.kafka.maintenance_topic", "expected a string"},
    {R"({"kafka": {"maintenance_topic": "a/b"}})", "$.kafka.maintenance_topic", R"(topic "a/b": '/' at position 2)"},
    {R"({"kafka": {"maintenance_interval_ms": "5s"}})", "$.kafka.maintenance_interval_ms",
     "expected a positive integer"},
    {R"({"kafka": {"maintenance_interval_ms": 0}})", "$.kafka.maintenance_interval_ms", "got 0"},
    {R"({"kafka": {"instance_id": 1}})", "$.kafka.instance_id", "expected a string"},
    {R"({"kafka": {"handlers_topic": 1}})", "$.kafka.handlers_topic", "expected a string"},
    {R"({"kafka": {"handlers_topic": "."}})", "$.kafka.handlers_topic", R"(topic ".": not allowed)"},
    // $.admin
    {R"({"admin": "127.0.0.1:0"})", "$.admin", "expected an object"},
    {R"({"admin": {"listen": 9090}})", "$.admin.listen", "expected a string, got 9090"},
    {R"({"admin": {"listen": "nowhere"}})", "$.admin.listen",
     R"(expected HOST:PORT (port 0: any free port) or "" for none)"},
    {R"({"admin": {"token_file": 1}})", "$.admin.token_file", "expected a string"},
    // Unknown members, at every level; members of another kind; duplicates.
    {R"({"shardz": 2})", "$.shardz",
     "unknown field (shards | shard_policy | shard_priority | drain_timeout | stuck_after | shutdown_grace | timer_clock "
     "| timer_lateness | idle_partition_ms | source | parse | validation | scripts | store | sinks | archive | kafka | admin)"},
    {R"({"source": {"evnts": 1}})", "$.source.evnts",
     "unknown field (kind | events | players | seed | rate | scenario)"},
    {R"({"source": {"input": "a.ndjson"}})", "$.source.input",
     R"(not a field of source kind "generator" (kind | events | players | seed | rate | scenario))"},
    {R"({"source": {"kind": "ndjson", "events": 1}})", "$.source.events",
     R"(not a field of source kind "ndjson" (kind | input | from | to))"},
    {R"({"source": {"kind": "kafka", "listen": "a:1"}})", "$.source.listen",
     R"(not a field of source kind "kafka" (kind | topic | group | start | revoke_timeout_ms))"},
    {R"({"source": {"kind": "http", "topic": "raw"}})", "$.source.topic",
     R"(not a field of source kind "http" (kind | listen | queue))"},
    {R"({"parse": {"key": "id"}})", "$.parse.key", "unknown field (key_field | max_event_size | max_event_lead | max_event_age)"},
    {R"({"validation": {"schema": "x"}})", "$.validation.schema", "unknown field (schemas | reject_unknown_types)"},
    {R"({"scripts": {"directory": "x"}})", "$.scripts.directory", "unknown field (dir | watch | report | guards)"},
    {R"({"scripts": {"guards": {"budget": 1}}})", "$.scripts.guards.budget",
     "unknown field (instruction_budget | memory_limit | max_consecutive_errors | call_deadline | load_deadline | "
     "call_memory_budget | max_error_share | max_failure_time_share | disabled_campaigns)"},
    {R"({"store": {"kind": "lmdb", "nosync": true}})", "$.store.nosync",
     "unknown field (kind | sync | cache_max_profiles"},
    {R"({"sinks": {"triggres": {}}})", "$.sinks.triggres", "unknown field (triggers | dead_letters | shadow)"},
    {R"({"sinks": {"triggers": {"topic": "t"}}})", "$.sinks.triggers.topic",
     R"(not a field of trigger sink kind "ndjson" (kind | path))"},
    {R"({"sinks": {"triggers": {"kind": "kafka", "url": "http://a:1/"}}})", "$.sinks.triggers.url",
     R"(not a field of trigger sink kind "kafka" (kind | topic))"},
    {R"({"sinks": {"triggers": {"kind": "webhook", "batch": true}}})", "$.sinks.triggers.batch",
     "unknown field (kind | url | one_by_one)"},
    {R"({"sinks": {"dead_letters": {"kind": "kafka", "topic": "d", "path": "x"}}})", "$.sinks.dead_letters.path",
     R"(not a field of dead-letter sink kind "kafka" (kind | topic | fallback_path))"},
    {R"({"sinks": {"dead_letters": {"url": "x"}}})", "$.sinks.dead_letters.url", "unknown field (kind | path)"},
    {R"({"sinks": {"shadow": {"path": "s", "topic": "t"}}})", "$.sinks.shadow.topic", "unknown field (kind | path)"},
    {R"({"kafka": {"broker": "a:1"}})", "$.kafka.broker",
     "unknown field (brokers | properties | maintenance_topic | maintenance_interval_ms | instance_id | "
     "handlers_topic)"},
    {R"({"kafka": {"bad key": 1}})", R"($.kafka["bad key"])", "unknown field"},
    {R"({"admin": {"token": "s3cret"}})", "$.admin.token", "unknown field (listen | token_file)"},
    {R"({"shards": 1, "shards": 2})", "$.shards", "duplicate field"},
    {R"({"source": {"kind": "ndjson", "kind": "kafka"}})", "$.source.kind", "duplicate field"},
};

class a_wrong_document : public testing::TestWithParam<wrong> {};

TEST_P(a_wrong_document, is_rejected_with_the_file_and_the_json_path_of_the_mistake) {
    const auto& w = GetParam();
    const auto what = error_of(w.json);
    EXPECT_EQ(what.rfind(fmt::format("demo.json: {}: ", w.path), 0), 0U) << what;
    EXPECT_NE(what.find(w.says), std::string::npos) << what;
}

INSTANTIATE_TEST_SUITE_P(topology_config, a_wrong_document, testing::ValuesIn(wrong_documents));

TEST(topology_config, the_messages_read_as_documented) {
    EXPECT_EQ(error_of(R"({"source": {"events": "abc"}})"),
              R"(demo.json: $.source.events: expected a non-negative integer, got "abc": invalid configuration)");
    EXPECT_EQ(error_of(R"({"store": {"kind": "lmbd"}})"),
              R"(demo.json: $.store.kind: unknown store "lmbd" (memory | lmdb | cassandra): invalid configuration)");
    EXPECT_EQ(error_of(R"({"sinks": {"triggres": {}}})"),
              "demo.json: $.sinks.triggres: unknown field (triggers | dead_letters | shadow): invalid configuration");
}

TEST(topology_config, invalid_json_is_reported_with_line_column_and_offset) {
    // The value of "source" is missing: the parser stops at the '}' on line 3, column 13.
    const std::string_view json = "{\n  \"shards\": 2,\n  \"source\": }\n";
    const auto what = error_of(json);
    EXPECT_EQ(what.rfind("demo.json: line 3, column 13 (offset 29): invalid JSON: ", 0), 0U) << what;
    EXPECT_NE(error_of("").find("line 1, column 1 (offset 0): invalid JSON: The document is empty."),
              std::string::npos);
    EXPECT_NE(error_of("{} {}").find("offset 3"), std::string::npos) << error_of("{} {}");
    EXPECT_NE(error_of(R"({"shards": 2,})").find("invalid JSON"), std::string::npos);
    // Parsed iteratively and bounded: no file can exhaust the stack.
    EXPECT_NE(error_of(std::string(500000, '[')).find("invalid JSON: JSON nested deeper than 128 levels"), std::string::npos);
    EXPECT_NE(error_of("{\"shards\": \"\xff\"}").find("column 13 (offset 12): invalid JSON: invalid UTF-8"), std::string::npos)
        << error_of("{\"shards\": \"\xff\"}");
}

TEST(topology_config, a_long_value_is_shortened_in_the_message) {
    const auto what = error_of(fmt::format(R"({{"shards": "{}"}})", std::string(500, 'x')));
    EXPECT_NE(what.find(R"(got "xxxx)"), std::string::npos) << what;
    EXPECT_NE(what.find("...: invalid configuration"), std::string::npos) << what;
    EXPECT_LT(what.size(), 200U);
}

// The document of the header's overview, with every member set.
constexpr std::string_view full_document = R"({
  "shards": 2,
  "shard_policy": "fifo",
  "shard_priority": 5,
  "drain_timeout": "1m",
  "stuck_after": "0",
  "shutdown_grace": "2500ms",
  "source": {"kind": "generator", "events": 20000, "players": 2000, "seed": 7, "rate": 12.5, "scenario": "bob"},
  "parse": {"key_field": "user", "max_event_size": 4096, "max_event_lead": "5m", "max_event_age": "90d"},
  "validation": {"schemas": "examples/schemas", "reject_unknown_types": true},
  "scripts": {"dir": "lua/examples", "watch": true, "report": "campaigns.json",
              "guards": {"instruction_budget": 5000, "memory_limit": 1048576, "max_consecutive_errors": 3,
                         "call_deadline": "100ms", "load_deadline": "1s", "call_memory_budget": 262144,
                         "max_error_share": 0.25, "max_failure_time_share": 0.75,
                         "disabled_campaigns": ["3", 7]}},
  "store": {"kind": "lmdb", "path": "/tmp/profiles", "sync": false, "cache_max_profiles": 100,
            "profile_ttl": "30d", "history_ttl": "7d", "ttl_sweep_interval": "250ms"},
  "sinks": {"triggers": {"kind": "ndjson", "path": "triggers.ndjson"},
            "dead_letters": {"kind": "ndjson", "path": "dead.ndjson"},
            "shadow": {"kind": "ndjson", "path": "shadow.ndjson"}},
  "archive": {"dir": "/var/crm/archive", "sync": true, "keep": "90d", "flush_interval": "250ms"},
  "kafka": {"brokers": "k1:9092,k2:9092",
            "properties": {"security.protocol": "plaintext", "linger.ms": 5, "enable.idempotence": true},
            "maintenance_topic": "status", "maintenance_interval_ms": 1000, "instance_id": "crm-1",
            "handlers_topic": "crm_handlers"},
  "admin": {"listen": "127.0.0.1:9090", "token_file": "/etc/crm/token"}
})";

TEST(topology_config, a_full_document_fills_every_field) {
    const auto c = rtcrm::parse_topology_config(full_document, "full.json");
    const rtcrm::topology_config expected{
        .shards = 2,
        .shard_policy = rtcrm::thread_policy::fifo,
        .shard_priority = 5,
        .drain_timeout = 1min,
        .stuck_after = 0ms,
        .shutdown_grace = 2500ms,
        .source = {.kind = rtcrm::source_kind::generator,
                   .generator = {.events = 20000, .players = 2000, .seed = 7, .rate = 12.5, .scenario = "bob"}},
        .parse = {.key_field = "user", .max_event_size = 4096, .max_event_lead = 5min, .max_event_age = 90 * 24h},
        .validation = {.schemas = "examples/schemas", .reject_unknown_types = true},
        .scripts = {.dir = "lua/examples",
                    .watch = true,
                    .report = "campaigns.json",
                    .guards = {.instruction_budget = 5000,
                               .memory_limit = 1048576,
                               .max_consecutive_errors = 3,
                               .call_deadline = 100ms,
                               .load_deadline = 1s,
                               .call_memory_budget = 262144,
                               .max_error_share = 0.25,
                               .max_failure_time_share = 0.75,
                               .disabled_campaigns = {"3", "7"}}},
        .store = {.kind = rtcrm::store_kind::lmdb,
                  .lmdb = {.path = "/tmp/profiles"},
                  .sync = false,
                  .cache_max_profiles = 100,
                  .profile_ttl = 24h * 30,
                  .history_ttl = 24h * 7,
                  .ttl_sweep_interval = 250ms},
        .sinks = {.triggers = {.ndjson = {.path = "triggers.ndjson"}},
                  .dead_letters = {.ndjson = {.path = "dead.ndjson"}},
                  .shadow = {.ndjson = {.path = "shadow.ndjson"}}},
        .archive = {.dir = "/var/crm/archive", .sync = true, .keep = 24h * 90, .flush_interval = 250ms},
        .kafka = {.brokers = "k1:9092,k2:9092",
                  .properties = {"security.protocol=plaintext", "linger.ms=5", "enable.idempotence=true"},
                  .maintenance_topic = "status",
                  .maintenance_interval = 1000ms,
                  .instance_id = "crm-1",
                  .handlers_topic = "crm_handlers"},
        .admin = {.listen = "127.0.0.1:9090", .token_file = "/etc/crm/token"},
    };
    EXPECT_EQ(c, expected);
    EXPECT_EQ(c.scripts.guards.disabled_campaigns, expected.scripts.guards.disabled_campaigns);
    EXPECT_EQ(c.kafka.properties, expected.kafka.properties);
    EXPECT_NO_THROW(c.validate());
}

TEST(topology_config, a_topic_kafka_would_refuse_is_refused_at_load_and_by_validate) {
    const auto too_long = std::string(300, 'a');
    const auto loaded = error_of(fmt::format(R"({{"source": {{"kind": "kafka", "topic": "{}"}}}})", too_long));
    EXPECT_NE(loaded.find("demo.json: $.source.topic: topic \"aaaa"), std::string::npos) << loaded;
    EXPECT_NE(loaded.find("300 characters, over Kafka's limit of 249"), std::string::npos) << loaded;

    rtcrm::topology_config c;  // set in code: validate() holds it to the same rule
    c.source.kind = rtcrm::source_kind::kafka;
    c.kafka.brokers = "localhost:9092";
    c.source.kafka.topic = too_long;
    try {
        c.validate();
        FAIL() << "a 300-character topic was accepted";
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string{e.what()}.find("$.source.topic: topic \"aaaa"), std::string::npos) << e.what();
    }
}

TEST(topology_config, the_kafka_and_http_kinds_fill_their_fields) {
    const auto kafka = rtcrm::parse_topology_config(R"({
        "source": {"kind": "kafka", "topic": "events", "group": "crm", "start": "earliest", "revoke_timeout_ms": 100},
        "sinks": {"triggers": {"kind": "kafka", "topic": "offers"}, "dead_letters": {"kind": "kafka", "topic": "dlq"}},
        "kafka": {"brokers": "localhost:9092"}})",
                                                    "kafka.json");
    EXPECT_EQ(kafka.source.kind, rtcrm::source_kind::kafka);
    EXPECT_EQ(
        kafka.source.kafka,
        (rtcrm::kafka_source_config{.topic = "events", .group = "crm", .start = "earliest", .revoke_timeout = 100ms}));
    EXPECT_EQ(kafka.sinks.triggers.kind, rtcrm::trigger_sink_kind::kafka);
    EXPECT_EQ(kafka.sinks.triggers.kafka.topic, "offers");
    EXPECT_EQ(kafka.sinks.dead_letters.kind, rtcrm::dead_letter_sink_kind::kafka);
    EXPECT_EQ(kafka.sinks.dead_letters.kafka.topic, "dlq");
    EXPECT_EQ(kafka.sinks.dead_letters.kafka.fallback_path, "rtcrm-dead-letter-fallback.ndjson");
    EXPECT_NO_THROW(kafka.validate());
    const auto fallback = rtcrm::parse_topology_config(
        R"({"sinks": {"dead_letters": {"kind": "kafka", "topic": "dlq", "fallback_path": "/var/crm/dlq.ndjson"}}})",
        "fallback.json");
    EXPECT_EQ(fallback.sinks.dead_letters.kafka.fallback_path, "/var/crm/dlq.ndjson");

    const auto http = rtcrm::parse_topology_config(R"({
        "source": {"kind": "http", "listen": "0.0.0.0:8080", "queue": 10},
        "sinks": {"triggers": {"kind": "webhook", "url": "http://crm:8081/triggers", "one_by_one": true}},
        "admin": {"listen": ""}})",
                                                   "http.json");
    EXPECT_EQ(http.source.kind, rtcrm::source_kind::http);
    EXPECT_EQ(http.source.http, (rtcrm::http_source_config{.listen = "0.0.0.0:8080", .queue = 10}));
    EXPECT_EQ(http.sinks.triggers.kind, rtcrm::trigger_sink_kind::webhook);
    EXPECT_EQ(http.sinks.triggers.webhook,
              (rtcrm::webhook_sink_config{.url = "http://crm:8081/triggers", .one_by_one = true}));
    EXPECT_EQ(http.admin.listen, "");
    EXPECT_NO_THROW(http.validate());
}

TEST(topology_config, a_cassandra_store_fills_its_fields_and_an_empty_ttl_is_none) {
    const auto c = rtcrm::parse_topology_config(R"({"store": {"kind": "cassandra", "hosts": "h1,h2:9043",
        "keyspace": "crm_eu", "consistency": "quorum", "username": "crm", "event_ttl": "", "profile_ttl": "12h"}})",
                                                "cassandra.json");
    EXPECT_EQ(c.store.kind, rtcrm::store_kind::cassandra);
    EXPECT_EQ(c.store.cassandra.hosts, "h1,h2:9043");
    EXPECT_EQ(c.store.cassandra.keyspace, "crm_eu");
    EXPECT_EQ(c.store.cassandra.consistency, "quorum");
    EXPECT_EQ(c.store.cassandra.username, "crm");
    EXPECT_EQ(c.store.cassandra.event_ttl, std::nullopt);
    EXPECT_EQ(c.store.profile_ttl, 12h);
    EXPECT_EQ(c.store.history_ttl, std::nullopt);
    EXPECT_NO_THROW(c.validate());
}

TEST(topology_config, missing_fields_keep_their_defaults) {
    EXPECT_EQ(rtcrm::parse_topology_config("{}", "empty.json"), rtcrm::topology_config{});
    EXPECT_EQ(rtcrm::parse_topology_config(R"({"source": {}, "parse": {}, "validation": {}, "scripts": {"guards": {}},
        "store": {}, "sinks": {"triggers": {}, "dead_letters": {}}, "kafka": {}, "admin": {}})",
                                           "empty.json"),
              rtcrm::topology_config{});
    // "path": "" is accepted with a memory store, and sets nothing.
    EXPECT_EQ(rtcrm::parse_topology_config(R"({"store": {"kind": "memory", "path": ""}})", "empty.json"),
              rtcrm::topology_config{});

    const auto c = rtcrm::parse_topology_config(R"({"source": {"events": 5}})", "a.json");
    rtcrm::topology_config expected;
    expected.source.generator.events = 5;
    EXPECT_EQ(c, expected);
}

TEST(topology_config, given_defaults_are_the_starting_point) {
    const rtcrm::topology_config defaults{
        .source = {.kind = rtcrm::source_kind::ndjson, .ndjson = {.input = "in.ndjson"}},
        .sinks = {.dead_letters = {.kind = rtcrm::dead_letter_sink_kind::kafka, .kafka = {.topic = "dlq"}}}};
    const auto c =
        rtcrm::parse_topology_config(R"({"shards": 3, "source": {"input": "other.ndjson"}})", "a.json", defaults);
    EXPECT_EQ(c.shards, 3U);
    EXPECT_EQ(c.source.kind, rtcrm::source_kind::ndjson);  // the kind comes from the defaults
    EXPECT_EQ(c.source.ndjson.input, "other.ndjson");
    EXPECT_EQ(c.sinks.dead_letters.kafka.topic, "dlq");
    // The defaults' kind decides which members are allowed...
    EXPECT_NE(error_of(R"({"source": {"events": 1}})", defaults).find(R"(not a field of source kind "ndjson")"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"sinks": {"dead_letters": {"path": "d.ndjson"}}})", defaults)
                  .find(R"($.sinks.dead_letters.path: not a field of dead-letter sink kind "kafka")"),
              std::string::npos);
    // ...and the file may choose another.
    const auto chosen = rtcrm::parse_topology_config(
        R"({"sinks": {"dead_letters": {"kind": "ndjson", "path": "d.ndjson"}}})", "a.json", defaults);
    EXPECT_EQ(chosen.sinks.dead_letters.kind, rtcrm::dead_letter_sink_kind::ndjson);
    EXPECT_EQ(chosen.sinks.dead_letters.ndjson.path, "d.ndjson");
}

TEST(topology_config, the_example_configs_all_load_and_validate) {
    const std::filesystem::path dir = std::filesystem::path(RTCRM_SOURCE_DIR) / "examples" / "configs";
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() == ".json") {
            names.push_back(entry.path().filename().string());
            rtcrm::topology_config c;
            ASSERT_NO_THROW(c = rtcrm::load_topology_config(entry.path())) << entry.path();
            EXPECT_NO_THROW(c.validate()) << entry.path();
        }
    }
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"cassandra.json", "generator.json", "http.json", "kafka.json",
                                               "lmdb.json", "ndjson.json"}));

    const auto bob = rtcrm::load_topology_config(dir / "generator.json");
    EXPECT_EQ(bob.source.kind, rtcrm::source_kind::generator);
    EXPECT_EQ(bob.source.generator.scenario, "bob");
    EXPECT_EQ(bob.validation.schemas, "examples/schemas");
    EXPECT_EQ(bob.scripts.dir, "lua/examples");
    const auto lmdb = rtcrm::load_topology_config(dir / "lmdb.json");
    EXPECT_EQ(lmdb.store.kind, rtcrm::store_kind::lmdb);
    EXPECT_EQ(lmdb.store.lmdb.path, "/tmp/rtcrm-lmdb-demo");
    EXPECT_EQ(lmdb.source.ndjson.input, "examples/data/sample.ndjson");
    const auto cassandra = rtcrm::load_topology_config(dir / "cassandra.json");
    EXPECT_EQ(cassandra.store.kind, rtcrm::store_kind::cassandra);
    EXPECT_EQ(cassandra.store.cassandra.hosts, "127.0.0.1:9042");
    EXPECT_EQ(cassandra.store.cassandra.keyspace, "crm");
    EXPECT_EQ(cassandra.store.cassandra.consistency, "local_quorum");
    const auto http = rtcrm::load_topology_config(dir / "http.json");
    EXPECT_EQ(http.source.kind, rtcrm::source_kind::http);
    EXPECT_EQ(http.source.http.listen, "127.0.0.1:0");
    const auto kafka = rtcrm::load_topology_config(dir / "kafka.json");
    EXPECT_EQ(kafka.source.kind, rtcrm::source_kind::kafka);
    EXPECT_EQ(kafka.sinks.triggers.kind, rtcrm::trigger_sink_kind::kafka);
    EXPECT_EQ(kafka.kafka.brokers, "localhost:9092");
}

TEST(topology_config, a_missing_file_is_an_io_error_naming_it) {
    try {
        (void)rtcrm::load_topology_config("/nonexistent/crm.json");
        FAIL() << "no error";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::io_error);
        EXPECT_NE(std::string(e.what()).find("/nonexistent/crm.json"), std::string::npos) << e.what();
    }
}

TEST(topology_config, a_file_error_names_the_file) {
    const auto file = std::filesystem::temp_directory_path() / fmt::format("rtcrm-config-test-{}.json", ::getpid());
    {
        std::FILE* f = std::fopen(file.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fputs(R"({"source": {"kind": "generator", "events": "many"}})", f);
        std::fclose(f);
    }
    try {
        (void)rtcrm::load_topology_config(file);
        FAIL() << "no error";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(std::string(e.what()).rfind(file.string() + ": $.source.events: ", 0), 0U) << e.what();
    }
    std::filesystem::remove(file);
}

}  // namespace
