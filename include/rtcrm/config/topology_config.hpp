/// @file topology_config.hpp
/// Declarative topologies: a whole pipeline (source, validation, Lua scripts and their
/// guards, profile store, sinks, Kafka and admin settings) described by one JSON file,
/// as Storm's Flux did for Storm. `rtcrm-topology --config FILE` runs such a file; a host
/// can do the same in three lines (see the Example below).
///
/// Three steps, each usable on its own:
/// - `topology_config`: an aggregate holding every setting, with defaults, nested as the
///   JSON document is (`config.source.generator.events` is `$.source.events`). Fill it by
///   hand, from flags (rtcrm/config/topology_flags.hpp), or from JSON.
/// - `parse_topology_config` / `load_topology_config`: JSON → `topology_config`, strictly
///   checked: every mistake names the file and the JSON path of the bad value.
/// - `assemble`: `topology_config` → a ready `rtcrm::topology` (plus the parts a host
///   needs for stats and admin: the Lua engine, the Kafka source, the gateway, the sinks).
///
/// Every setting is declared once, in a table inside the library: the JSON loader, the
/// checks of `validate()`, the flags of `rtcrm-topology` and README's reference table are
/// made from it. Each source, store and sink kind is one registration in that table: its
/// name, its members and how it is built.
///
/// The JSON shape (every member is optional; a missing one keeps its default):
/// @code{.json}
///   {
///     "shards": 2, "shard_policy": "inherit", "shard_priority": 1,
///     "drain_timeout": "30s", "stuck_after": "5s", "shutdown_grace": "5s",
///     "source": {"kind": "generator", "events": 20000, "players": 2000, "seed": 7, "rate": 0, "scenario": "bob"},
///     "parse": {"key_field": "player_id", "max_event_size": 65536, "max_event_lead": "1d", "max_event_age": ""},
///     "validation": {"schemas": "examples/schemas", "reject_unknown_types": false},
///     "scripts": {"dir": "lua/examples", "watch": false, "report": "",
///                 "guards": {"instruction_budget": 1000000, "memory_limit": 67108864,
///                            "max_consecutive_errors": 10, "disabled_campaigns": []}},
///     "store": {"kind": "memory", "path": "", "sync": true, "cache_max_profiles": 0,
///               "profile_ttl": "30d", "history_ttl": "7d", "ttl_sweep_interval": "60s"},
///     "sinks": {"triggers": {"kind": "ndjson", "path": "-"},
///               "dead_letters": {"kind": "ndjson", "path": "stderr"},
///               "shadow": {"kind": "ndjson", "path": "shadow.ndjson"}},
///     "archive": {"dir": "", "sync": false, "keep": "", "flush_interval": "1s"},
///     "kafka": {"brokers": "", "properties": {"security.protocol": "plaintext"},
///               "maintenance_topic": "maintenance", "maintenance_interval_ms": 5000,
///               "instance_id": "", "handlers_topic": ""},
///     "admin": {"listen": "127.0.0.1:0", "token_file": ""}
///   }
/// @endcode
/// Kinds and the members each allows (besides `kind`):
/// - `source`: `generator` (events, players, seed, rate, scenario), `ndjson` (input, from, to),
///   `kafka` (topic, group, start, revoke_timeout_ms), `http` (listen, queue).
/// - `store`: `memory`, `lmdb` (path), `cassandra` (hosts, keyspace, replication,
///   consistency, username, event_ttl); every kind takes sync, cache_max_profiles and the TTLs.
/// - `sinks.triggers`: `ndjson` (path), `kafka` (topic), `webhook` (url, one_by_one).
/// - `sinks.dead_letters`: `ndjson` (path), `kafka` (topic, required; fallback_path).
/// - `sinks.shadow`: `ndjson` (path, required). Without a shadow sink, dry-run triggers
///   are discarded.
/// Durations are strings: "30d", "12h", "15m", "10s", "250ms" (or plain milliseconds,
/// "250"), by the grammar of rtcrm/core/duration.hpp; `profile_ttl`, `history_ttl`,
/// `event_ttl` and `max_event_age` may be "" (none). In C++ they are `std::chrono::milliseconds`, and
/// `std::optional` where "" means none.
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
/// - The members of every kind are kept, whichever kind is chosen: a flag or a later file
///   may choose another kind. Only those of the chosen kinds are checked and used.
/// - A file names paths (schemas, scripts, store, NDJSON files) as they are: relative
///   paths are relative to the working directory of the process, not to the file.
/// - Environment variables are not read here: the admin token (`admin.token_file`, else
///   `$RTCRM_ADMIN_TOKEN` in `rtcrm-topology`) and the Cassandra password are the host's
///   business.
///
/// Example:
/// @code
///   auto config = rtcrm::load_topology_config("examples/configs/generator.json");
///   config.source.generator.events = 1000;       // code (or flags) override the file
///   auto parts = rtcrm::assemble(config);         // throws rtcrm::error on a bad setting
///   rtcrm::runtime rt{std::move(parts.topology)};  // parts.engine must outlive rt
///   rt.run();
/// @endcode
#pragma once

#include <rtcrm/core/thread_scheduling.hpp>
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

// Each comment below starts with the field's JSON member, relative to its group's path.

/// Where events come from ($.source.kind).
enum class source_kind { generator, ndjson, kafka, http };
/// Where profiles are kept ($.store.kind).
enum class store_kind { memory, lmdb, cassandra };
/// Where triggers go ($.sinks.triggers.kind).
enum class trigger_sink_kind { ndjson, kafka, webhook };
/// Where dead letters go ($.sinks.dead_letters.kind).
enum class dead_letter_sink_kind { ndjson, kafka };
/// Where dry-run triggers go ($.sinks.shadow.kind).
enum class shadow_sink_kind { ndjson };

/// Synthetic game events ($.source, kind generator).
struct generator_source_config {
    std::uint64_t events = 100'000;  ///< events: events to generate; 0 = until stopped
    std::uint64_t players = 10'000;  ///< players: distinct players, 1 to 100,000,000
    std::uint64_t seed = 1;          ///< seed: same seed, same events
    double rate = 0;                 ///< rate: events per second; 0 = as fast as possible
    std::string scenario;            ///< scenario: scripted scenario mixed into the stream, "" or "bob"
    friend bool operator==(const generator_source_config&, const generator_source_config&) = default;
};

/// An NDJSON file or standard input ($.source, kind ndjson).
struct ndjson_source_config {
    /// input: NDJSON file (resumable with a durable store), "-" for stdin, a `.zst` file or an
    /// event archive directory (archive_source.hpp)
    std::string input = "-";
    std::string from;  ///< from: events with an earlier `ts` are skipped (ms, YYYY-MM-DD or ISO 8601 UTC); "" = none
    std::string to;    ///< to: events with this `ts` or later are skipped; "" = none
    friend bool operator==(const ndjson_source_config&, const ndjson_source_config&) = default;
};

/// A Kafka consumer group ($.source, kind kafka); the brokers are $.kafka.brokers.
struct kafka_source_config {
    std::string topic = "raw";        ///< topic: Kafka topic of the events
    std::string group = "rtcrm";      ///< group: consumer group; its instances share the partitions
    std::string start = "committed";  ///< start: committed | earliest | latest | a timestamp (ms or ISO 8601)
    /// revoke_timeout_ms (integer milliseconds): longest wait for in-flight events on a rebalance
    std::chrono::milliseconds revoke_timeout{5000};
    friend bool operator==(const kafka_source_config&, const kafka_source_config&) = default;
};

/// The HTTP event gateway, POST /events ($.source, kind http).
struct http_source_config {
    std::string listen = "127.0.0.1:8080";  ///< listen: HOST:PORT of the gateway (port 0: any free port)
    std::size_t queue = 65536;              ///< queue: events held for the runtime before the gateway answers 503
    friend bool operator==(const http_source_config&, const http_source_config&) = default;
};

/// The event source [$.source]: its kind, and the members of every kind.
struct source_config {
    source_kind kind = source_kind::generator;  ///< kind: generator | ndjson | kafka | http
    generator_source_config generator;          ///< members of kind generator
    ndjson_source_config ndjson;                ///< members of kind ndjson
    kafka_source_config kafka;                  ///< members of kind kafka
    http_source_config http;                    ///< members of kind http
    friend bool operator==(const source_config&, const source_config&) = default;
};

/// How bytes become events [$.parse].
struct parse_config {
    std::string key_field = "player_id";     ///< key_field: JSON member holding the player key; not empty
    std::size_t max_event_size = 64 * 1024;  ///< max_event_size: bytes; larger events are dead-lettered; > 0
    /// max_event_lead: events whose `ts` is later than the ingest time plus this are dead-lettered (bad_time)
    std::chrono::milliseconds max_event_lead{86'400'000};
    /// max_event_age: events whose `ts` is earlier than the ingest time minus this are
    /// dead-lettered (bad_time); "" = no limit but the epoch (a negative `ts` always is)
    std::optional<std::chrono::milliseconds> max_event_age;
    friend bool operator==(const parse_config&, const parse_config&) = default;
};

/// JSON Schema validation of events [$.validation].
struct validation_config {
    std::string schemas;                ///< schemas: directory of `<type>.json` JSON Schemas; "" = no validation
    bool reject_unknown_types = false;  ///< reject_unknown_types: dead-letter event types without a schema
    friend bool operator==(const validation_config&, const validation_config&) = default;
};

/// What a Lua handler may use [$.scripts.guards] (lua_options, whose limits apply).
struct guards_config {
    std::uint64_t instruction_budget = 1'000'000;   ///< instruction_budget: VM instructions per call; > 0
    std::size_t memory_limit = 64 * 1024 * 1024;    ///< memory_limit: bytes per Lua state; >= 256 KiB
    std::uint32_t max_consecutive_errors = 10;      ///< max_consecutive_errors: then a handler is disabled
    std::chrono::milliseconds call_deadline{250};   ///< call_deadline: wall-clock limit of one handler call; > 0
    std::chrono::milliseconds load_deadline{2000};  ///< load_deadline: wall-clock limit of a script's top level; > 0
    /// call_memory_budget: bytes one call may add (>= 64 KiB; memory_limit caps it)
    std::size_t call_memory_budget = 4 * 1024 * 1024;
    /// max_error_share: failed share of a handler's last 64 calls that disables it; 0 = never
    double max_error_share = 0.5;
    /// max_failure_time_share: share of a shard's handler time in a handler's failed calls
    /// that disables it; 0 = never
    double max_failure_time_share = 0.5;
    std::vector<std::string> disabled_campaigns;  ///< disabled_campaigns: kill switch on at start
    friend bool operator==(const guards_config&, const guards_config&) = default;
};

/// Lua handler scripts [$.scripts].
struct scripts_config {
    std::string dir;       ///< dir: directory of `*.lua` handler scripts; "" = none
    bool watch = false;    ///< watch: reload the scripts when the directory changes (needs dir)
    /// report: file where rtcrm-topology writes the campaign report (JSON,
    /// docs/CAMPAIGN_REPORT.md) when the run ends, atomically; "" = none
    std::string report;
    guards_config guards;  ///< guards: limits of every handler call
    friend bool operator==(const scripts_config&, const scripts_config&) = default;
};

/// An LMDB environment ($.store, kind lmdb).
struct lmdb_store_config {
    std::string path;  ///< path: LMDB environment directory (required)
    friend bool operator==(const lmdb_store_config&, const lmdb_store_config&) = default;
};

/// A Cassandra or ScyllaDB cluster ($.store, kind cassandra).
struct cassandra_store_config {
    std::string hosts;             ///< hosts: HOST[:PORT][,...] contact points (required)
    std::string keyspace = "crm";  ///< keyspace: created if missing; a CQL identifier
    /// replication: CQL map literal for a keyspace the store creates
    std::string replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
    std::string consistency = "local_quorum";  ///< consistency: one | quorum | local_quorum | ...
    std::string username;                      ///< username: PasswordAuthenticator user
    /// Never read from a file nor a flag: the program sets it (rtcrm-topology: $RTCRM_CASSANDRA_PASSWORD).
    std::string password;
    /// event_ttl: how long the event history is kept; std::nullopt ("" in JSON) = forever
    std::optional<std::chrono::milliseconds> event_ttl = std::chrono::hours(24 * 30);
    friend bool operator==(const cassandra_store_config&, const cassandra_store_config&) = default;
};

/// The profile store [$.store]: its kind, the members of every kind, and those all kinds take.
struct store_config {
    store_kind kind = store_kind::memory;  ///< kind: memory | lmdb | cassandra
    lmdb_store_config lmdb;                ///< members of kind lmdb
    cassandra_store_config cassandra;      ///< members of kind cassandra
    bool sync = true;                      ///< sync: lmdb fsyncs each commit (false: crash-safe, not power-loss-safe)
    std::size_t cache_max_profiles = 0;    ///< cache_max_profiles: profiles cached per shard; 0 = all
    std::optional<std::chrono::milliseconds> profile_ttl;  ///< profile_ttl: an idle profile starts afresh; "" = never
    std::optional<std::chrono::milliseconds> history_ttl;  ///< history_ttl: older history is swept; "" = never
    std::chrono::milliseconds ttl_sweep_interval{60'000};  ///< ttl_sweep_interval: between TTL sweeps; > 0
    friend bool operator==(const store_config&, const store_config&) = default;
};

/// An NDJSON file or stream (kind ndjson of a sink).
struct ndjson_sink_config {
    std::string path;  ///< path: a file, "-" (stdout) or "stderr"
    friend bool operator==(const ndjson_sink_config&, const ndjson_sink_config&) = default;
};

/// A Kafka topic (kind kafka of a sink); the brokers are $.kafka.brokers.
struct kafka_sink_config {
    std::string topic;  ///< topic: the Kafka topic
    friend bool operator==(const kafka_sink_config&, const kafka_sink_config&) = default;
};

/// A Kafka dead-letter topic (kind kafka of $.sinks.dead_letters); the brokers are $.kafka.brokers.
struct kafka_dead_letter_config {
    std::string topic;  ///< topic: the Kafka topic (required)
    /// fallback_path: where dead letters that cannot be delivered are appended (NDJSON,
    /// fsync'd) so their events are committed; "" = they are nacked (kafka_sink.hpp)
    std::string fallback_path = "rtcrm-dead-letter-fallback.ndjson";
    friend bool operator==(const kafka_dead_letter_config&, const kafka_dead_letter_config&) = default;
};

/// HTTP POSTs of the triggers (kind webhook of $.sinks.triggers).
struct webhook_sink_config {
    std::string url;          ///< url: http://HOST:PORT/PATH the triggers are POSTed to (required)
    bool one_by_one = false;  ///< one_by_one: a request per trigger, not NDJSON batches
    friend bool operator==(const webhook_sink_config&, const webhook_sink_config&) = default;
};

/// Where triggers go [$.sinks.triggers].
struct trigger_sink_config {
    trigger_sink_kind kind = trigger_sink_kind::ndjson;  ///< kind: ndjson | kafka | webhook
    ndjson_sink_config ndjson{.path = "-"};              ///< members of kind ndjson
    kafka_sink_config kafka{.topic = "crm_trigger"};     ///< members of kind kafka
    webhook_sink_config webhook;                         ///< members of kind webhook
    friend bool operator==(const trigger_sink_config&, const trigger_sink_config&) = default;
};

/// Where dead letters go [$.sinks.dead_letters].
struct dead_letter_sink_config {
    dead_letter_sink_kind kind = dead_letter_sink_kind::ndjson;  ///< kind: ndjson | kafka
    ndjson_sink_config ndjson{.path = "stderr"};                 ///< members of kind ndjson
    kafka_dead_letter_config kafka;                              ///< members of kind kafka (topic required)
    friend bool operator==(const dead_letter_sink_config&, const dead_letter_sink_config&) = default;
};

/// Where dry-run triggers go [$.sinks.shadow].
struct shadow_sink_config {
    shadow_sink_kind kind = shadow_sink_kind::ndjson;  ///< kind: ndjson
    ndjson_sink_config ndjson;                         ///< members of kind ndjson; path "" = discarded
    friend bool operator==(const shadow_sink_config&, const shadow_sink_config&) = default;
};

/// The outputs of the three streams [$.sinks].
struct sinks_config {
    trigger_sink_config triggers;          ///< triggers: the main stream
    dead_letter_sink_config dead_letters;  ///< dead_letters: events that could not be processed
    shadow_sink_config shadow;             ///< shadow: triggers of dry-run campaigns
    friend bool operator==(const sinks_config&, const sinks_config&) = default;
};

/// The event archive [$.archive] (archive/archive_sink.hpp): every validated event, as
/// received, in `dir/YYYY-MM-DD.ndjson.zst` by event day.
struct archive_config {
    std::string dir;   ///< dir: the archive directory; "" = no archive
    bool sync = false; ///< sync: fdatasync each frame before its events are acked
    /// keep: day files this much older than the newest event day are deleted; "" = kept forever
    std::optional<std::chrono::milliseconds> keep;
    std::chrono::milliseconds flush_interval{1000};  ///< flush_interval: the longest a line waits for its frame
    friend bool operator==(const archive_config&, const archive_config&) = default;
};

/// What every Kafka part shares [$.kafka].
struct kafka_config {
    std::string brokers;                            ///< brokers: HOST:PORT[,...]; needed by every Kafka part
    std::vector<std::string> properties;            ///< properties: librdkafka "key=value" for every client; later wins
    std::string maintenance_topic = "maintenance";  ///< maintenance_topic: status messages (with brokers); "" = none
    /// maintenance_interval_ms (integer milliseconds): between status messages; > 0
    std::chrono::milliseconds maintenance_interval{5000};
    std::string instance_id;     ///< instance_id: name in status messages; "" = host-pid
    std::string handlers_topic;  ///< handlers_topic: compacted topic of Lua scripts; "" = none
    friend bool operator==(const kafka_config&, const kafka_config&) = default;
};

/// The admin API [$.admin] (the host runs it: see apps/topology/main.cpp).
struct admin_config {
    std::string listen = "127.0.0.1:0";  ///< listen: HOST:PORT of the admin API (port 0: any); "" = none
    std::string token_file;              ///< token_file: file holding the admin API's bearer token; "" = none
    friend bool operator==(const admin_config&, const admin_config&) = default;
};

/// Everything a CRM topology is made of [$]. An aggregate: set fields with designated
/// initialisers, or load it from JSON. Members of a kind (source, store, sinks) are used
/// only with that kind.
struct topology_config {
    std::uint32_t shards = 0;  ///< shards: shard threads, at most 1024; 0 = one per hardware thread
    /// shard_policy: how the kernel schedules the shard threads: inherit | batch | fifo
    /// (thread_scheduling.hpp; fifo needs CAP_SYS_NICE or RLIMIT_RTPRIO, checked at start)
    thread_policy shard_policy = thread_policy::inherit;
    std::uint32_t shard_priority = 1;                 ///< shard_priority: with shard_policy fifo, 1 to 99
    std::chrono::milliseconds drain_timeout{30'000};  ///< drain_timeout: at stop, the longest wait for events in flight
    /// stuck_after: a shard busy this long with one step is stuck; 0 = no watchdog
    std::chrono::milliseconds stuck_after{5'000};
    /// shutdown_grace: rtcrm-topology, after SIGTERM/SIGINT: past drain_timeout plus this,
    /// it reports what was lost and exits (status 3) even if the stop has not ended
    std::chrono::milliseconds shutdown_grace{5'000};
    /// timer_clock: what fires the players' timers: event (the watermark of the events
    /// read only) | wall (also the wall clock) | auto (event for ndjson and generator
    /// sources, wall otherwise); runtime_options::timer_clock
    timer_clock_mode timer_clock = timer_clock_mode::automatic;
    std::chrono::milliseconds timer_lateness{0};  ///< timer_lateness: the watermark is the highest ts read minus this
    /// idle_partition_ms: a Kafka partition with nothing new for this long does not hold the watermark back
    std::uint64_t idle_partition_ms = 5'000;
    source_config source;          ///< source: the event source
    parse_config parse;            ///< parse: how bytes become events
    validation_config validation;  ///< validation: JSON Schemas
    scripts_config scripts;        ///< scripts: Lua handlers and their guards
    store_config store;            ///< store: the profile store
    sinks_config sinks;            ///< sinks: triggers, dead letters, dry-run triggers
    archive_config archive;        ///< archive: the event archive
    kafka_config kafka;            ///< kafka: brokers and what every Kafka part shares
    admin_config admin;            ///< admin: the admin API

    /// Checks every value in use (those of the chosen kinds) and the rules between
    /// fields: store lmdb needs `store.lmdb.path`, cassandra needs `store.cassandra.hosts`,
    /// webhook needs its url, every Kafka part needs `kafka.brokers`, `scripts.watch` and
    /// `disabled_campaigns` need scripts. Thread-safe (reads only).
    /// @throws rtcrm::error(invalid_config) naming the JSON path of the bad field:
    ///         `topology_config: $.store.path: required for store kind "lmdb"`.
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
/// `validation.schemas`), the Lua engine's bolt (with `scripts.dir` or a
/// `kafka.handlers_topic`; campaigns of `disabled_campaigns` start disabled), the store,
/// the sinks of the three streams and the runtime options. Every component is
/// constructed here, so options one refuses fail now rather than at `runtime::start()`.
/// The handler feed, maintenance reporter and admin API are left to the host, which may
/// want them or not (see apps/topology/main.cpp).
/// @throws rtcrm::error(invalid_config) from `validate()` or from a component that refuses
///         its options (e.g. a Lua script that does not load: `file:line: message`).
[[nodiscard]] assembled_topology assemble(const topology_config& config);

}  // namespace rtcrm
