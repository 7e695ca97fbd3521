// The settings table: every setting that is not a kind's own, in the order of the JSON
// document, and the document's tree with the kinded groups over their registries
// (source_kinds.cpp, store_kinds.cpp, sink_kinds.cpp). Defaults are those of
// topology_config's members; help texts are rtcrm-topology's, docs README's.
#include "config/schema.hpp"

#include <rtcrm/core/thread_scheduling.hpp>

namespace rtcrm::detail {

namespace {

std::vector<std::pair<thread_policy, std::string_view>> shard_policies() {
    std::vector<std::pair<thread_policy, std::string_view>> all;
    for (const auto p : {thread_policy::inherit, thread_policy::batch, thread_policy::fifo}) {
        all.emplace_back(p, thread_policy_name(p));
    }
    return all;
}

std::vector<std::pair<timer_clock_mode, std::string_view>> timer_clocks() {
    return {{timer_clock_mode::automatic, "auto"}, {timer_clock_mode::event, "event"}, {timer_clock_mode::wall, "wall"}};
}

group runtime() {
    return {
        .name = "",
        .title = "Runtime ($)",
        .fields =
            {
                integer("shards", [](auto& c) -> auto& { return c.shards; }, 0, 1024,
                        {.flag = "shards",
                         .help = "shard threads; 0 = one per hardware thread",
                         .doc = "shard threads; 0 = one per hardware thread"}),
                enumeration(
                    "shard_policy", [](auto& c) -> auto& { return c.shard_policy; }, "shard policy", shard_policies(),
                    {.flag = "shard-policy",
                     .help = "scheduling of the shard threads: inherit | batch | fifo (real-time; needs CAP_SYS_NICE "
                             "or ulimit -r)",
                     .doc = "how the kernel schedules the shard threads ([Latency](#latency-thread-scheduling)); "
                            "`fifo` is refused at start without CAP_SYS_NICE or an RLIMIT_RTPRIO ≥ the priority"}),
                integer("shard_priority", [](auto& c) -> auto& { return c.shard_priority; }, 1, 99,
                        {.flag = "shard-priority",
                         .help = "with --shard-policy fifo: its priority, 1-99",
                         .doc = "with `fifo`: the real-time priority",
                         .in_use = [](const topology_config& c) { return c.shard_policy == thread_policy::fifo; }}),
                duration("drain_timeout", [](auto& c) -> auto& { return c.drain_timeout; }, any_duration,
                         {.flag = "drain-timeout",
                          .help = "at stop, the longest wait for events in flight (30s, 500ms, ...)",
                          .doc = "at stop, or once every source has ended, the longest wait for events in flight; a durable store's writes still failing then are given up (those events are not stored and not committed)"}),
                duration(
                    "stuck_after", [](auto& c) -> auto& { return c.stuck_after; }, any_duration,
                    {.flag = "stuck-after",
                     .help =
                         "a shard busy this long with one batch is stuck: reported on stderr, /healthz, /readyz (503) "
                         "and /metrics; 0 = never",
                     .doc = "a shard busy this long with one batch is stuck: reported on standard error, `/healthz`, "
                            "`/readyz` (503) and `/metrics`; `0` = no watchdog"}),
                duration(
                    "shutdown_grace", [](auto& c) -> auto& { return c.shutdown_grace; }, any_duration,
                    {.flag = "shutdown-grace",
                     .help =
                         "after SIGTERM/SIGINT, the process leaves (status 3, reporting what was lost) once "
                         "--drain-timeout plus this has passed without a complete stop; a second signal leaves at once",
                     .doc = "after SIGTERM/SIGINT, the process reports what was lost and exits with status 3 once "
                            "`drain_timeout` plus this has passed without a complete stop"}),
                enumeration(
                    "timer_clock", [](auto& c) -> auto& { return c.timer_clock; }, "timer clock", timer_clocks(),
                    {.flag = "timer-clock",
                     .help = "what fires the players' timers: event (the events' time only: exact under replay) | "
                             "wall (also the wall clock) | auto (event for ndjson and generator sources, else wall)",
                     .doc = "what fires the players' timers ([Timers](#timers-and-delayed-campaigns)): `event`, the "
                            "watermark of the events read only (exact under replay); `wall`, also the wall clock; "
                            "`auto`: `event` for the `ndjson` and `generator` sources, `wall` otherwise"}),
                duration("timer_lateness", [](auto& c) -> auto& { return c.timer_lateness; }, any_duration,
                         {.flag = "timer-lateness",
                          .help = "the timers' watermark is the highest event ts read minus this",
                          .doc = "the timers' watermark is the highest `ts` read minus this, so events up to this "
                                 "late still come before the timers they could cancel"}),
                integer("idle_partition_ms", [](auto& c) -> auto& { return c.idle_partition_ms; }, 0,
                        std::uint64_t{1} << 40,
                        {.flag = "idle-partition-ms",
                         .help = "a Kafka partition with nothing new for this many ms does not hold the timers' "
                                 "watermark back",
                         .doc = "the watermark of a Kafka source is the lowest of its partitions' highest `ts`, "
                                "leaving out partitions with nothing new for this many ms"}),
            },
    };
}

group source() {
    auto g = kinded("source", "source", source_kinds(), [](auto& c) -> auto& { return c.source.kind; },
                    {.flag = "source",
                     .help = "event source: {kinds}",
                     .doc = "the event source; each kind allows only its own members below"});
    g.title = "Source ($.source)";
    return g;
}

group parse() {
    return {
        .name = "parse",
        .title = "Event parsing ($.parse)",
        .fields =
            {
                text("key_field", [](auto& c) -> auto& { return c.parse.key_field; }, non_empty,
                     {.flag = "key-field",
                      .help = "JSON field holding the player key",
                      .doc = "JSON member holding the player key"}),
                integer("max_event_size", [](auto& c) -> auto& { return c.parse.max_event_size; }, 1, max_size,
                        {.flag = "max-event-size",
                         .help = "larger events are dead-lettered",
                         .doc = "larger events are dead-lettered"}),
                duration("max_event_lead", [](auto& c) -> auto& { return c.parse.max_event_lead; }, any_duration,
                         {.flag = "max-event-lead",
                          .help = "events whose ts is later than the ingest time plus this are dead-lettered (bad_time)",
                          .doc = "events whose `ts` is later than the ingest time plus this are dead-lettered "
                                 "(`bad_time`)"}),
                duration("max_event_age", [](auto& c) -> auto& { return c.parse.max_event_age; }, optional_duration,
                         {.flag = "max-event-age",
                          .help = "events whose ts is earlier than the ingest time minus this are dead-lettered "
                                  "(bad_time); a negative ts always is",
                          .doc = "events whose `ts` is earlier than the ingest time minus this are dead-lettered "
                                 "(`bad_time`); `\"\"` = no limit but the epoch"}),
            },
    };
}

group validation() {
    return {
        .name = "validation",
        .title = "Validation ($.validation)",
        .fields =
            {
                text("schemas", [](auto& c) -> auto& { return c.validation.schemas; }, any_string,
                     {.flag = "schemas",
                      .help = "directory of <type>.json JSON Schemas to validate events against",
                      .doc = "directory of `<type>.json` JSON Schemas; `\"\"` = no validation"}),
                boolean("reject_unknown_types", [](auto& c) -> auto& { return c.validation.reject_unknown_types; },
                        {.flag = "reject-unknown-types",
                         .help = "dead-letter event types without a schema",
                         .doc = "dead-letter event types without a schema"}),
            },
    };
}

// The guards apply to the engine's calls: without an engine they are not in use.
group guards() {
    const about engine{.in_use = &uses_engine};
    auto with = [&](std::string_view doc) {
        auto a = engine;
        a.doc = doc;
        return a;
    };
    return {
        .name = "guards",
        .fields =
            {
                integer(
                    "instruction_budget", [](auto& c) -> auto& { return c.scripts.guards.instruction_budget; }, 1,
                    max_u64, with("Lua VM instructions per handler call")),
                integer(
                    "memory_limit", [](auto& c) -> auto& { return c.scripts.guards.memory_limit; }, 256 * 1024,
                    max_size, with("bytes per Lua state (one per shard)")),
                integer(
                    "max_consecutive_errors", [](auto& c) -> auto& { return c.scripts.guards.max_consecutive_errors; },
                    1, max_u32, with("errors in a row that disable a handler")),
                duration(
                    "call_deadline", [](auto& c) -> auto& { return c.scripts.guards.call_deadline; }, positive_duration,
                    with("wall-clock limit of one handler call")),
                duration(
                    "load_deadline", [](auto& c) -> auto& { return c.scripts.guards.load_deadline; }, positive_duration,
                    with("wall-clock limit of a script's top level at load")),
                integer(
                    "call_memory_budget", [](auto& c) -> auto& { return c.scripts.guards.call_memory_budget; },
                    64 * 1024, max_size,
                    with("bytes one call may add to its Lua state's live memory (`memory_limit` caps it)")),
                number(
                    "max_error_share", [](auto& c) -> auto& { return c.scripts.guards.max_error_share; }, share,
                    with("share of a handler's last 64 calls that failed, which disables it; 0 = never")),
                number(
                    "max_failure_time_share", [](auto& c) -> auto& { return c.scripts.guards.max_failure_time_share; },
                    share,
                    with("share of its shard's recent handler time spent in a handler's failed calls, which disables "
                         "it; "
                         "0 = never")),
                list("disabled_campaigns", [](auto& c) -> auto& { return c.scripts.guards.disabled_campaigns; },
                     campaign_id_list, {.doc = "campaigns whose kill switch is on at start (`lua_engine::disable`)"}),
            },
    };
}

group scripts() {
    return {
        .name = "scripts",
        .title = "Lua scripts ($.scripts)",
        .fields =
            {
                text("dir", [](auto& c) -> auto& { return c.scripts.dir; }, any_string,
                     {.flag = "scripts",
                      .help = "directory of Lua handler scripts (*.lua): updaters and campaigns",
                      .doc = "directory of Lua handler scripts; `\"\"` = none"}),
                boolean("watch", [](auto& c) -> auto& { return c.scripts.watch; },
                        {.flag = "watch",
                         .help = "reload the scripts when the directory changes (a broken set is refused)",
                         .doc = "reload the scripts when the directory changes (needs `dir`)"}),
                text("report", [](auto& c) -> auto& { return c.scripts.report; }, any_string,
                     {.flag = "report",
                      .help = "file where the campaign report (JSON: triggers, suppressions, arms, uplift per "
                              "campaign and day) is written when the run ends",
                      .doc = "file where the [campaign report](docs/CAMPAIGN_REPORT.md) is written (atomically) "
                             "when the run ends; `\"\"` = none"}),
            },
        .children = {guards()},
    };
}

group store() {
    auto g = kinded(
        "store", "store", store_kinds(), [](auto& c) -> auto& { return c.store.kind; },
        {.flag = "store",
         .help = "profile store: {kinds} (durable; a file source resumes after a restart)",
         .doc = "the profile store"},
        {
            boolean(
                "sync", [](auto& c) -> auto& { return c.store.sync; },
                {.flag = "store-no-sync",
                 .help = "LMDB without fsync per commit: survives a process crash, not a power loss",
                 .doc = "lmdb: fsync per group commit"},
                true),
            integer("cache_max_profiles", [](auto& c) -> auto& { return c.store.cache_max_profiles; }, 0, max_size,
                    {.flag = "cache-max-profiles",
                     .help = "profiles cached per shard (least recently used leave); 0 = all",
                     .doc = "profiles cached per shard; 0 = all"}),
            duration(
                "profile_ttl", [](auto& c) -> auto& { return c.store.profile_ttl; }, optional_duration,
                {.flag = "profile-ttl",
                 .help = "a profile with no event for this long (event time: 30d, 12h, ...) starts afresh and is swept "
                         "from the store",
                 .doc = "an idle profile (event time) starts afresh and is swept; `\"\"` = never"}),
            duration("history_ttl", [](auto& c) -> auto& { return c.store.history_ttl; }, optional_duration,
                     {.flag = "history-ttl",
                      .help = "recent events, firing times and counter buckets older than this are swept from stored "
                              "profiles",
                      .doc = "older history is swept from stored profiles; `\"\"` = never"}),
            duration("ttl_sweep_interval", [](auto& c) -> auto& { return c.store.ttl_sweep_interval; },
                     positive_duration,
                     {.flag = "ttl-sweep-interval",
                      .help = "how often the TTL sweep runs",
                      .doc = "how often the TTL sweep runs"}),
        });
    g.title = "Profile store ($.store)";
    return g;
}

group sinks() {
    return {
        .name = "sinks",
        .title = "Sinks ($.sinks)",
        .children =
            {
                kinded("triggers", "trigger sink", trigger_sink_kinds(),
                       [](auto& c) -> auto& { return c.sinks.triggers.kind; },
                       {.flag = "sink", .help = "trigger sink: {kinds_with_flags}", .doc = "where triggers go"}),
                kinded("dead_letters", "dead-letter sink", dead_letter_sink_kinds(),
                       [](auto& c) -> auto& { return c.sinks.dead_letters.kind; }, {.doc = "where dead letters go"}),
                kinded("shadow", "shadow sink", shadow_sink_kinds(),
                       [](auto& c) -> auto& { return c.sinks.shadow.kind; },
                       {.doc = "where dry-run triggers go; without `shadow` they are discarded"}),
            },
    };
}

group archive() {
    const about archiving{.in_use = [](const topology_config& c) { return !c.archive.dir.empty(); }};
    auto with = [&](std::string_view flag, std::string_view help, std::string_view doc) {
        auto a = archiving;
        a.flag = flag;
        a.help = help;
        a.doc = doc;
        return a;
    };
    return {
        .name = "archive",
        .title = "Event archive ($.archive)",
        .fields =
            {
                text("dir", [](auto& c) -> auto& { return c.archive.dir; }, any_string,
                     {.flag = "archive",
                      .help = "archive every validated event, as received, in DIR/YYYY-MM-DD.ndjson.zst by event day "
                              "(docs/ARCHIVE.md)",
                      .doc = "the [event archive](docs/ARCHIVE.md) directory: every validated event, as received, "
                             "in `YYYY-MM-DD.ndjson.zst` by event day; `\"\"` = none"}),
                boolean("sync", [](auto& c) -> auto& { return c.archive.sync; },
                        with("archive-sync", "fdatasync each archive frame before its events are acked",
                             "fdatasync each frame before its events are acked (power-loss safe)")),
                duration("keep", [](auto& c) -> auto& { return c.archive.keep; }, archive_keep,
                         with("archive-keep",
                              "delete archive day files this much older than the newest event day (90d, ...)",
                              "day files this much older than the newest event day written are deleted; `\"\"` = "
                              "kept forever")),
                duration("flush_interval", [](auto& c) -> auto& { return c.archive.flush_interval; },
                         positive_duration,
                         with("archive-flush-interval",
                              "the longest an archived event waits for its frame (and its ack)",
                              "the longest an event waits for its frame to be written (and to be acked)")),
            },
    };
}

group kafka() {
    return {
        .name = "kafka",
        .title = "Kafka ($.kafka)",
        .fields =
            {
                text("brokers", [](auto& c) -> auto& { return c.kafka.brokers; }, any_string,
                     {.flag = "brokers",
                      .help = "Kafka bootstrap servers HOST:PORT[,...] (for every Kafka option)",
                      .doc = "bootstrap servers `HOST:PORT[,...]`; required by every Kafka part"}),
                list("properties", [](auto& c) -> auto& { return c.kafka.properties; }, property_list,
                     {.flag = ",X",
                      .help = "librdkafka property key=value for every Kafka client (repeatable); secrets are masked "
                              "in logs",
                      .doc = "librdkafka properties for every Kafka client; secrets masked in logs"}),
                text("maintenance_topic", [](auto& c) -> auto& { return c.kafka.maintenance_topic; }, kafka_topic_or_none,
                     {.flag = "maintenance-topic",
                      .help = "Kafka topic of the status messages (with --brokers); '' for none",
                      .doc = "status messages (with brokers); `\"\"` = none"}),
                milliseconds("maintenance_interval_ms", [](auto& c) -> auto& { return c.kafka.maintenance_interval; },
                             1,
                             {.flag = "maintenance-interval-ms",
                              .help = "between status messages",
                              .doc = "between status messages",
                              .in_use =
                                  [](const topology_config& c) {
                                      return !c.kafka.brokers.empty() && !c.kafka.maintenance_topic.empty();
                                  }}),
                text("instance_id", [](auto& c) -> auto& { return c.kafka.instance_id; }, any_string,
                     {.flag = "instance-id",
                      .help = "this instance's name in status messages (default host-pid)",
                      .doc = "this instance's name in status messages; `\"\"` = host-pid"}),
                text("handlers_topic", [](auto& c) -> auto& { return c.kafka.handlers_topic; }, kafka_topic_or_none,
                     {.flag = "handlers-topic",
                      .help = "compacted Kafka topic of Lua scripts (key = name, value = source, empty = delete) "
                              "followed by "
                              "every instance",
                      .doc = "compacted topic of Lua scripts followed by the group; `\"\"` = none"}),
            },
    };
}

group admin() {
    return {
        .name = "admin",
        .title = "Admin API ($.admin)",
        .fields =
            {
                text("listen", [](auto& c) -> auto& { return c.admin.listen; }, listen_address_or_none,
                     {.flag = "admin",
                      .help = "HOST:PORT of the admin API (metrics, profiles, handlers, kill switch, audience); port "
                              "0: any, "
                              "printed; '' for none",
                      .doc = "the admin API (port 0: any, printed); `\"\"` = none"}),
                text("token_file", [](auto& c) -> auto& { return c.admin.token_file; }, any_string,
                     {.flag = "admin-token-file",
                      .help = "file holding the admin API's bearer token (else $RTCRM_ADMIN_TOKEN; without one, "
                              "loopback only)",
                      .doc = "file holding the admin bearer token (else `$RTCRM_ADMIN_TOKEN`)"}),
            },
    };
}

}  // namespace

const group& schema() {
    static const group document = [] {
        auto root = runtime();
        root.children = {source(), parse(), validation(), scripts(), store(), sinks(), archive(), kafka(), admin()};
        return root;
    }();
    return document;
}

bool uses_engine(const topology_config& c) { return !c.scripts.dir.empty() || !c.kafka.handlers_topic.empty(); }

}  // namespace rtcrm::detail
