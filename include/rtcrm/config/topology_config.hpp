/// @file topology_config.hpp
/// Declarative topologies: a whole pipeline (source, validation, Lua scripts and their
/// guards, profile store, sinks, Kafka and admin settings) described by one JSON file,
/// as Storm's Flux did for Storm. `rtcrm-topology --config FILE` runs such a file; a host
/// can do the same in three lines (see the Example below).
///
/// Three steps, each usable on its own:
/// - `topology_config`: an aggregate holding every setting, with defaults. Fill it by
///   hand, from flags, or from JSON.
/// - `parse_topology_config` / `load_topology_config`: JSON → `topology_config`, strictly
///   checked: every mistake names the file and the JSON path of the bad value.
/// - `assemble`: `topology_config` → a ready `rtcrm::topology` (plus the parts a host
///   needs for stats and admin: the Lua engine, the Kafka source, the gateway, the sinks).
///
/// The JSON shape (every member is optional; a missing one keeps its default):
/// @code{.json}
///   {
///     "shards": 2, "shard_policy": "inherit", "shard_priority": 1,
///     "drain_timeout": "30s", "stuck_after": "5s", "shutdown_grace": "5s",
///     "source": {"kind": "generator", "events": 20000, "players": 2000, "seed": 7, "rate": 0, "scenario": "bob"},
///     "parse": {"key_field": "player_id", "max_event_size": 65536},
///     "validation": {"schemas": "examples/schemas", "reject_unknown_types": false},
///     "scripts": {"dir": "lua/examples", "watch": false,
///                 "guards": {"instruction_budget": 1000000, "memory_limit": 67108864,
///                            "max_consecutive_errors": 10, "disabled_campaigns": []}},
///     "store": {"kind": "memory", "path": "", "sync": true, "cache_max_profiles": 0,
///               "profile_ttl": "30d", "history_ttl": "7d", "ttl_sweep_interval": "60s"},
///     "sinks": {"triggers": {"kind": "ndjson", "path": "-"},
///               "dead_letters": {"kind": "ndjson", "path": "stderr"},
///               "shadow": {"kind": "ndjson", "path": "shadow.ndjson"}},
///     "kafka": {"brokers": "", "properties": {"security.protocol": "plaintext"},
///               "maintenance_topic": "maintenance", "maintenance_interval_ms": 5000,
///               "instance_id": "", "handlers_topic": ""},
///     "admin": {"listen": "127.0.0.1:0", "token_file": ""}
///   }
/// @endcode
/// Kinds and the members each allows (besides `kind`):
/// - `source`: `generator` (events, players, seed, rate, scenario), `ndjson` (input),
///   `kafka` (topic, group, start, revoke_timeout_ms), `http` (listen, queue).
/// - `sinks.triggers`: `ndjson` (path), `kafka` (topic), `webhook` (url, one_by_one).
/// - `sinks.dead_letters`: `ndjson` (path), `kafka` (topic, required).
/// - `sinks.shadow`: `ndjson` (path, required). Without a shadow sink, dry-run triggers
///   are discarded.
/// Durations are strings: "30d", "12h", "15m", "10s", "250ms" (or plain milliseconds,
/// "250"); `profile_ttl` and `history_ttl` may be "" (no TTL).
///
/// Errors: every mistake throws `rtcrm::error(errc::invalid_config)` whose message names
/// the file and the JSON path, and says what was expected:
/// @code
///   demo.json: $.source.events: expected a non-negative integer, got "abc"
///   demo.json: $.store.kind: unknown store "lmbd" (memory | lmdb | cassandra)
///   demo.json: $.sinks.triggres: unknown field (triggers | dead_letters | shadow)
///   demo.json: $.source.input: not a field of source kind "generator" (kind | events | ... | scenario)
///   demo.json: line 4, column 12 (offset 57): invalid JSON: Missing a comma or '}' after an object member.
/// @endcode
///
/// Caveats:
/// - Unknown members are errors, never ignored (a typo must not silently keep a default);
///   so are members of another kind than the one chosen, and duplicate members.
/// - Loading checks each value on its own; what depends on several values or on flags
///   given later (`store` lmdb needs `store.path`, Kafka parts need `kafka.brokers`, ...)
///   is checked by `topology_config::validate()`, which `assemble` calls.
/// - A file names paths (schemas, scripts, store, NDJSON files) as they are: relative
///   paths are relative to the working directory of the process, not to the file.
/// - Environment variables are not read here: the admin token (`admin.token_file`, else
///   `$RTCRM_ADMIN_TOKEN` in `rtcrm-topology`) is the host's business.
///
/// Example:
/// @code
///   auto config = rtcrm::load_topology_config("examples/configs/generator.json");
///   config.events = 1000;                         // code (or flags) override the file
///   auto parts = rtcrm::assemble(config);         // throws rtcrm::error on a bad setting
///   rtcrm::runtime rt{std::move(parts.topology)};  // parts.engine must outlive rt
///   rt.run();
/// @endcode
#pragma once

#include <rtcrm/core/topology.hpp>
#include <rtcrm/kafka/kafka_properties.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm {

class lua_engine;
class kafka_source;
class kafka_sink;
class gateway_source;
class webhook_sink;

/// Everything a CRM topology is made of. An aggregate: set fields with designated
/// initialisers, or load it from JSON. Each comment starts with the field's JSON member
/// (relative to its group's path); the `rtcrm-topology` flag of the field's name, with
/// dashes, sets it too. Members of a kind (source, sinks) are used only with that kind.
struct topology_config {
    // --- runtime [$] ---
    std::uint32_t shards = 0;  ///< shards: shard threads, at most 1024; 0 = one per hardware thread
    /// shard_policy: how the kernel schedules the shard threads: inherit | batch | fifo
    /// (thread_scheduling.hpp; fifo needs CAP_SYS_NICE or RLIMIT_RTPRIO, checked at start)
    std::string shard_policy = "inherit";
    std::uint32_t shard_priority = 1;  ///< shard_priority: with shard_policy fifo, 1 to 99
    std::string drain_timeout = "30s";  ///< drain_timeout: duration; at stop, the longest wait for events in flight
    std::string stuck_after = "5s";     ///< stuck_after: duration; a shard busy this long with one step is stuck; "0" = no watchdog
    /// shutdown_grace: duration; rtcrm-topology, after SIGTERM/SIGINT: past drain_timeout
    /// plus this, it reports what was lost and exits (status 3) even if the stop has not ended
    std::string shutdown_grace = "5s";

    // --- source [$.source] ---
    std::string source = "generator";  ///< kind: generator | ndjson | kafka | http
    // generator
    std::uint64_t events = 100'000;  ///< events: events to generate; 0 = until stopped
    std::uint64_t players = 10'000;  ///< players: distinct players, 1 to 100,000,000
    std::uint64_t seed = 1;          ///< seed: same seed, same events
    double rate = 0;                 ///< rate: events per second; 0 = as fast as possible
    std::string scenario;            ///< scenario: scripted scenario mixed into the stream, "" or "bob"
    // ndjson
    std::string input = "-";  ///< input: NDJSON file (resumable with a durable store), or "-" for stdin
    // kafka (the brokers are $.kafka.brokers)
    std::string topic = "raw";               ///< topic: Kafka topic of the events
    std::string group = "rtcrm";             ///< group: consumer group; its instances share the partitions
    std::string start = "committed";         ///< start: committed | earliest | latest | a timestamp (ms or ISO 8601)
    std::uint64_t revoke_timeout_ms = 5000;  ///< revoke_timeout_ms: longest wait for in-flight events on a rebalance
    // http
    std::string listen = "127.0.0.1:8080";  ///< listen: HOST:PORT of the event gateway (port 0: any free port)
    std::size_t http_queue = 65536;         ///< queue: events held for the runtime before the gateway answers 503

    // --- parsing [$.parse] ---
    std::string key_field = "player_id";     ///< key_field: JSON member holding the player key; not empty
    std::size_t max_event_size = 64 * 1024;  ///< max_event_size: bytes; larger events are dead-lettered; > 0

    // --- validation [$.validation] ---
    std::string schemas;          ///< schemas: directory of `<type>.json` JSON Schemas; "" = no validation
    bool reject_unknown = false;  ///< reject_unknown_types: dead-letter event types without a schema

    // --- Lua scripts [$.scripts] and their guards [$.scripts.guards] ---
    std::string scripts;                           ///< dir: directory of `*.lua` handler scripts; "" = none
    bool watch = false;                            ///< watch: reload the scripts when the directory changes
    std::uint64_t instruction_budget = 1'000'000;  ///< guards.instruction_budget: VM instructions per call; > 0
    std::size_t memory_limit = 64 * 1024 * 1024;   ///< guards.memory_limit: bytes per Lua state; >= 256 KiB
    std::uint32_t max_consecutive_errors = 10;     ///< guards.max_consecutive_errors: then a handler is disabled
    std::string call_deadline = "250ms";           ///< guards.call_deadline: wall-clock limit of one handler call
    std::string load_deadline = "2s";              ///< guards.load_deadline: wall-clock limit of a script's top level
    std::size_t call_memory_budget = 4 * 1024 * 1024; ///< guards.call_memory_budget: bytes one call may add (>= 64 KiB; memory_limit caps it)
    double max_error_share = 0.5;                  ///< guards.max_error_share: failed share of a handler's last 64 calls that disables it; 0 = never
    double max_failure_time_share = 0.5;           ///< guards.max_failure_time_share: share of a shard's handler time in a handler's failed calls that disables it; 0 = never
    std::vector<std::string> disabled_campaigns;   ///< guards.disabled_campaigns: kill switch on at start

    // --- profile store [$.store] ---
    std::string store = "memory";            ///< kind: memory | lmdb | cassandra
    std::string store_path;                  ///< path: LMDB environment directory (lmdb needs one)
    std::string cassandra_hosts;             ///< hosts: HOST[:PORT][,...] contact points (cassandra needs them)
    std::string keyspace = "crm";            ///< keyspace: created if missing; a CQL identifier
    /// replication: CQL map literal for a keyspace the store creates
    std::string cassandra_replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
    std::string cassandra_consistency = "local_quorum";  ///< consistency: one | quorum | local_quorum | ...
    std::string cassandra_username;          ///< username: PasswordAuthenticator user
    /// Never read from the file: the program sets it (rtcrm-topology: $RTCRM_CASSANDRA_PASSWORD).
    std::string cassandra_password;
    std::string event_ttl = "30d";           ///< event_ttl: duration the event history is kept; "" = forever
    bool store_no_sync = false;              ///< sync, inverted: no fsync per commit (crash-safe, not power-loss-safe)
    std::size_t cache_max = 0;               ///< cache_max_profiles: profiles cached per shard; 0 = all
    std::string profile_ttl;                 ///< profile_ttl: duration; an idle profile starts afresh; "" = never
    std::string history_ttl;                 ///< history_ttl: duration; older history is swept; "" = never
    std::string ttl_sweep_interval = "60s";  ///< ttl_sweep_interval: duration between TTL sweeps

    // --- sinks [$.sinks] ---
    std::string sink = "ndjson";                ///< triggers.kind: ndjson | kafka | webhook
    std::string output = "-";                   ///< triggers.path: trigger NDJSON output, a file or "-" (stdout)
    std::string trigger_topic = "crm_trigger";  ///< triggers.topic: Kafka topic of the triggers
    std::string webhook_url;                    ///< triggers.url: http://HOST:PORT/PATH the triggers are POSTed to
    bool webhook_one_by_one = false;            ///< triggers.one_by_one: a request per trigger, not NDJSON batches
    std::string dead_letter = "stderr";         ///< dead_letters.path: dead-letter NDJSON: a file, "-" or "stderr"
    std::string dead_letter_topic;              ///< dead_letters.topic: Kafka dead-letter topic; "" = NDJSON instead
    std::string shadow;                         ///< shadow.path: dry-run trigger NDJSON output; "" = discarded

    // --- Kafka [$.kafka] ---
    std::string brokers;                            ///< brokers: HOST:PORT[,...]; needed by every Kafka part
    std::vector<std::string> kafka_properties;      ///< properties: librdkafka "key=value" for every client; later wins
    std::string maintenance_topic = "maintenance";  ///< maintenance_topic: status messages (with brokers); "" = none
    std::uint64_t maintenance_interval_ms = 5000;   ///< maintenance_interval_ms: between status messages; > 0
    std::string instance_id;                        ///< instance_id: name in status messages; "" = host-pid
    std::string handlers_topic;                     ///< handlers_topic: compacted topic of Lua scripts; "" = none

    // --- admin API [$.admin] ---
    std::string admin = "127.0.0.1:0";  ///< listen: HOST:PORT of the admin API (port 0: any); "" = none
    std::string admin_token_file;       ///< token_file: file holding the admin API's bearer token; "" = none

    /// Checks every value in use (those of the chosen kinds) and the rules between
    /// fields: store lmdb needs `store_path`, cassandra needs `cassandra_hosts`, webhook needs `webhook_url`, every Kafka
    /// part needs `brokers`, `watch` and `disabled_campaigns` need scripts.
    /// @throws rtcrm::error(invalid_config) naming the JSON path of the bad field.
    void validate() const;

    /// Field by field (the tests compare a loaded file with the expected struct).
    friend bool operator==(const topology_config&, const topology_config&) = default;
};

/// Reads a topology from JSON text (the shape is in this header's overview). Members
/// missing from the text keep their value from `defaults`. Thread-safe (no shared state).
/// Checks each value on its own; call `validate()` for the rules between fields.
/// @param json the document: one JSON object
/// @param file_name names the source in error messages, e.g. "demo.json"
/// @param defaults the starting point (e.g. a configuration built in code)
/// @throws rtcrm::error(invalid_config) for invalid JSON (with line, column and offset),
///         an unknown or duplicate member, a member of another kind, a wrong type or a bad
///         value: `file_name: $.json.path: what was expected, got <value>`.
[[nodiscard]] topology_config parse_topology_config(std::string_view json, std::string_view file_name,
                                                    topology_config defaults = {});

/// Reads a topology from a JSON file (see `parse_topology_config`); errors name the file
/// as given. Thread-safe (no shared state), like `parse_topology_config`.
/// @throws rtcrm::error(io_error) if the file cannot be read; rtcrm::error(invalid_config)
///         as `parse_topology_config`.
[[nodiscard]] topology_config load_topology_config(const std::filesystem::path& file, topology_config defaults = {});

/// A topology built from a configuration, and the parts of it a host keeps for stats,
/// admin and shutdown. Move-only (it owns the topology until the runtime takes it).
struct assembled_topology {
    /// Ready to run: `rtcrm::runtime rt{std::move(parts.topology)}`.
    rtcrm::topology topology;
    /// The Lua engine (with scripts or a handlers topic), else nullptr. Must outlive the runtime.
    std::shared_ptr<lua_engine> engine;
    /// The librdkafka properties every Kafka client got (log them with `describe`).
    kafka_properties properties;
    kafka_source* kafka = nullptr;                   ///< the source of kind kafka (owned by `topology`), else nullptr
    gateway_source* gateway = nullptr;               ///< the source of kind http (owned by `topology`), else nullptr
    std::shared_ptr<kafka_sink> kafka_triggers;      ///< the trigger sink of kind kafka, else nullptr
    std::shared_ptr<kafka_sink> kafka_dead_letters;  ///< the dead-letter sink of kind kafka, else nullptr
    std::shared_ptr<webhook_sink> webhook;           ///< the trigger sink of kind webhook, else nullptr
};

/// Builds the topology a configuration describes: its source, the validation bolt (with
/// `schemas`), the Lua engine's bolt (with `scripts` or a `handlers_topic`; campaigns of
/// `disabled_campaigns` start disabled), the store, the sinks of the three streams and the
/// runtime options. Every component is constructed here, so options one refuses fail
/// now rather than at `runtime::start()`.
/// The handler feed, maintenance reporter and admin API are left to the host, which may
/// want them or not (see apps/topology/main.cpp).
/// @throws rtcrm::error(invalid_config) from `validate()` or from a component that refuses
///         its options (e.g. a Lua script that does not load: `file:line: message`).
[[nodiscard]] assembled_topology assemble(const topology_config& config);

}  // namespace rtcrm
