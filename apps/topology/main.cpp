// rtcrm-topology: runs a whole CRM topology from the command line, or from a JSON file
// (rtcrm/config/topology_config.hpp) whose values the flags given override.
//
//   rtcrm-topology --config examples/configs/generator.json --events 1000
//   rtcrm-topology --source generator --scenario bob --scripts lua/examples --output -
//   rtcrm-topology --source ndjson --input events.ndjson --schemas examples/schemas --scripts lua/examples --watch
//   rtcrm-topology --source kafka --brokers HOST:PORT --topic raw --group crm --scripts lua/examples
//                  --sink kafka --trigger-topic crm_trigger --dead-letter-topic crm_dead_letter
//
// With --brokers, a status message goes to the maintenance topic every few seconds, and
// --handlers-topic makes the scripts follow a compacted topic shared by the whole group.
//
// Prints triggers as NDJSON on --output, dead letters on --dead-letter, and a summary on
// standard error, where the library's own messages (rtcrm/core/log.hpp) go too, from
// --log-level up. SIGINT/SIGTERM stop it cleanly: events in flight are drained first. A
// stuck shard (a sink, store or bolt that never returns) cannot hold it: once the drain
// has not finished within --drain-timeout plus --shutdown-grace, or at a second signal,
// it prints what was lost (events not committed per source, what each stuck shard is
// doing) and exits with status 3. Exit status: 0 after a clean run, 1 if events failed or
// were left uncommitted, 2 for a bad configuration, 3 when it had to leave a stuck shard.
#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/core/duration.hpp>
#include <rtcrm/core/log.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/http/admin_server.hpp>
#include <rtcrm/http/gateway_source.hpp>
#include <rtcrm/http/webhook_sink.hpp>
#include <rtcrm/kafka/handler_feed.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>
#include <rtcrm/kafka/kafka_source.hpp>
#include <rtcrm/kafka/maintenance_reporter.hpp>
#include <rtcrm/lua/lua_engine.hpp>
#include <rtcrm/lua/segment.hpp>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace po = boost::program_options;

namespace {

// SIGINT/SIGTERM received so far (a lock-free atomic: safe in a signal handler).
std::atomic<int> signals{0};
static_assert(std::atomic<int>::is_always_lock_free);

void on_signal(int) { signals.fetch_add(1); }

// Exit status when the process leaves with a shard still stuck.
constexpr int exit_stuck = 3;

// Leaves at once: a stuck thread can be neither joined nor interrupted, and exit() would
// run destructors (and flush stdout, which may be the stuck pipe) under its feet. Standard
// error is unbuffered, so everything reported has been written.
[[noreturn]] void leave_stuck() {
    std::fflush(stderr);
    std::_Exit(exit_stuck);
}

// What is known while stop() has not returned: the shards still busy and the events in
// flight (the sources report what they did not commit as their drains time out).
void report_unfinished(const rtcrm::runtime& rt) {
    for (const auto& h : rt.shard_health()) {
        if (!h.finished && h.busy_for.count() > 0) {
            fmt::print(stderr, "rtcrm-topology:   shard {} {} for {:.1f} s: {}\n", h.shard, h.stuck ? "stuck" : "busy",
                       static_cast<double>(h.busy_for.count()) / 1e3, h.doing);
        }
    }
    const auto st = rt.stats();
    const auto finished = st.processed + st.dropped + st.dead_lettered + st.replayed;
    fmt::print(stderr, "rtcrm-topology:   {} events read and not processed; {} nacked\nrtcrm-topology: {}\n",
               st.events_in > finished ? st.events_in - finished : 0, st.nacked, st.summary());
}

void print_lines(std::string_view prefix, const std::string& text) {
    std::size_t from = 0;
    while (from < text.size()) {
        const auto end = text.find('\n', from);
        fmt::print(stderr, "{}{}\n", prefix, text.substr(from, end - from));
        from = end == std::string::npos ? text.size() : end + 1;
    }
}

// The admin token: from --admin-token-file, else $RTCRM_ADMIN_TOKEN, else none.
std::string admin_token(const rtcrm::topology_config& s) {
    if (!s.admin_token_file.empty()) {
        std::ifstream in(s.admin_token_file);
        std::string token;
        if (!in || !std::getline(in, token) || token.empty()) {
            throw rtcrm::error(rtcrm::errc::invalid_config, fmt::format("--admin-token-file {}: no token in it", s.admin_token_file));
        }
        return token;
    }
    const char* env = std::getenv("RTCRM_ADMIN_TOKEN");
    return env != nullptr ? env : "";
}

// The value of --config in argv, if any, found with the same parser (abbreviations and
// --config=FILE included) before the real options exist: their defaults come from the file.
std::string find_config_file(int argc, char** argv) {
    std::string file;
    po::options_description only("config");
    only.add_options()("config", po::value(&file));
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(only).allow_unregistered().run(), vm);
    po::notify(vm);
    return file;
}

// A string option without a built-in default: --help shows the configuration file's value.
po::typed_value<std::string>* optional(std::string& value) {
    auto* v = po::value(&value);
    if (!value.empty()) {
        v->default_value(value);
    }
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    // Built-in defaults, then the --config file, then the flags given (via default_value).
    rtcrm::topology_config s;
    std::string config_file;
    try {
        config_file = find_config_file(argc, argv);
        if (!config_file.empty()) {
            s = rtcrm::load_topology_config(config_file);
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "rtcrm-topology: {}\n", e.what());
        return 2;
    }
    std::vector<std::string> x_properties;  // -X: added to the file's kafka.properties (a later value wins)
    bool check_config = false;
    std::string log_level = "info";
    po::options_description desc("rtcrm-topology: run a real-time CRM topology\n\nOptions");
    desc.add_options()
        ("help,h", "show this help (defaults shown are those of --config FILE, if given)")
        ("config", po::value<std::string>(), "JSON topology file (examples/configs/*.json); flags given as well override it")
        ("check-config", po::bool_switch(&check_config), "check the configuration (file and flags), print ok and exit; builds nothing")
        ("log-level", po::value(&log_level)->default_value(log_level), "the library's messages below this level are not printed: debug | info | warning | error | off")
        ("source", po::value(&s.source)->default_value(s.source), "event source: generator | ndjson | kafka | http")
        ("input", po::value(&s.input)->default_value(s.input), "NDJSON input file, or - for stdin (--source ndjson)")
        ("events", po::value(&s.events)->default_value(s.events), "events to generate; 0 = until stopped (--source generator)")
        ("players", po::value(&s.players)->default_value(s.players), "distinct players (--source generator)")
        ("seed", po::value(&s.seed)->default_value(s.seed), "generator seed: same seed, same events")
        ("rate", po::value(&s.rate)->default_value(s.rate), "events per second; 0 = as fast as possible")
        ("scenario", optional(s.scenario), "scripted scenario mixed into the stream: bob")
        ("shards", po::value(&s.shards)->default_value(s.shards), "shard threads; 0 = one per hardware thread")
        ("shard-policy", po::value(&s.shard_policy)->default_value(s.shard_policy), "scheduling of the shard threads: inherit | batch | fifo (real-time; needs CAP_SYS_NICE or ulimit -r)")
        ("shard-priority", po::value(&s.shard_priority)->default_value(s.shard_priority), "with --shard-policy fifo: its priority, 1-99")
        ("drain-timeout", po::value(&s.drain_timeout)->default_value(s.drain_timeout), "at stop, the longest wait for events in flight (30s, 500ms, ...)")
        ("stuck-after", po::value(&s.stuck_after)->default_value(s.stuck_after), "a shard busy this long with one batch is stuck: reported on stderr, /healthz, /readyz (503) and /metrics; 0 = never")
        ("shutdown-grace", po::value(&s.shutdown_grace)->default_value(s.shutdown_grace), "after SIGTERM/SIGINT, the process leaves (status 3, reporting what was lost) once --drain-timeout plus this has passed without a complete stop; a second signal leaves at once")
        ("store", po::value(&s.store)->default_value(s.store), "profile store: memory | lmdb | cassandra (durable; a file source resumes after a restart)")
        ("store-path", optional(s.store_path), "LMDB environment directory (--store lmdb)")
        ("cassandra-hosts", optional(s.cassandra_hosts), "Cassandra contact points HOST[:PORT][,...] (--store cassandra); the password comes from $RTCRM_CASSANDRA_PASSWORD")
        ("keyspace", po::value(&s.keyspace)->default_value(s.keyspace), "Cassandra keyspace, created if missing (--store cassandra)")
        ("cassandra-username", optional(s.cassandra_username), "Cassandra PasswordAuthenticator user (--store cassandra)")
        ("cassandra-consistency", po::value(&s.cassandra_consistency)->default_value(s.cassandra_consistency), "consistency level of the store's reads and writes (--store cassandra)")
        ("store-no-sync", po::bool_switch(&s.store_no_sync)->default_value(s.store_no_sync), "LMDB without fsync per commit: survives a process crash, not a power loss")
        ("cache-max-profiles", po::value(&s.cache_max)->default_value(s.cache_max), "profiles cached per shard (least recently used leave); 0 = all")
        ("schemas", optional(s.schemas), "directory of <type>.json JSON Schemas to validate events against")
        ("reject-unknown-types", po::bool_switch(&s.reject_unknown)->default_value(s.reject_unknown), "dead-letter event types without a schema")
        ("scripts", optional(s.scripts), "directory of Lua handler scripts (*.lua): updaters and campaigns")
        ("watch", po::bool_switch(&s.watch)->default_value(s.watch), "reload the scripts when the directory changes (a broken set is refused)")
        ("shadow", optional(s.shadow), "dry-run trigger output (NDJSON): a file, - or stderr; default: discarded")
        ("output", po::value(&s.output)->default_value(s.output), "trigger output (NDJSON): a file, or - for stdout")
        ("dead-letter", po::value(&s.dead_letter)->default_value(s.dead_letter), "dead-letter output (NDJSON): a file, - or stderr")
        ("key-field", po::value(&s.key_field)->default_value(s.key_field), "JSON field holding the player key")
        ("max-event-size", po::value(&s.max_event_size)->default_value(s.max_event_size), "larger events are dead-lettered")
        ("listen", po::value(&s.listen)->default_value(s.listen), "HOST:PORT of the event gateway, POST /events (--source http; port 0: any, printed)")
        ("http-queue", po::value(&s.http_queue)->default_value(s.http_queue), "events the gateway holds for the runtime before it answers 503")
        ("admin", po::value(&s.admin)->default_value(s.admin), "HOST:PORT of the admin API (metrics, profiles, handlers, kill switch, audience); port 0: any, printed; '' for none")
        ("admin-token-file", optional(s.admin_token_file), "file holding the admin API's bearer token (else $RTCRM_ADMIN_TOKEN; without one, loopback only)")
        ("profile-ttl", optional(s.profile_ttl), "a profile with no event for this long (event time: 30d, 12h, ...) starts afresh and is swept from the store")
        ("history-ttl", optional(s.history_ttl), "recent events, firing times and counter buckets older than this are swept from stored profiles")
        ("ttl-sweep-interval", po::value(&s.ttl_sweep_interval)->default_value(s.ttl_sweep_interval), "how often the TTL sweep runs")
        ("brokers", optional(s.brokers), "Kafka bootstrap servers HOST:PORT[,...] (for every Kafka option below)")
        ("topic", po::value(&s.topic)->default_value(s.topic), "Kafka topic of the events (--source kafka)")
        ("group", po::value(&s.group)->default_value(s.group), "Kafka consumer group: instances of one group share the partitions")
        ("start", po::value(&s.start)->default_value(s.start), "where new partitions start: committed | earliest | latest | a timestamp (ms, or YYYY-MM-DDTHH:MM:SSZ) to replay from")
        ("revoke-timeout-ms", po::value(&s.revoke_timeout_ms)->default_value(s.revoke_timeout_ms), "on a rebalance, the longest wait for in-flight events before giving partitions up")
        ("sink", po::value(&s.sink)->default_value(s.sink), "trigger sink: ndjson (--output) | kafka (--trigger-topic) | webhook (--webhook-url)")
        ("webhook-url", optional(s.webhook_url), "http://HOST:PORT/PATH that triggers are POSTed to (--sink webhook), NDJSON batches; after retries, to the dead-letter output")
        ("webhook-one-by-one", po::bool_switch(&s.webhook_one_by_one)->default_value(s.webhook_one_by_one), "one request per trigger instead of NDJSON batches")
        ("trigger-topic", po::value(&s.trigger_topic)->default_value(s.trigger_topic), "Kafka topic of the triggers (--sink kafka)")
        ("dead-letter-topic", optional(s.dead_letter_topic), "Kafka topic of the dead letters (reason in header rtcrm-reason); default: --dead-letter")
        ("maintenance-topic", po::value(&s.maintenance_topic)->default_value(s.maintenance_topic), "Kafka topic of the status messages (with --brokers); '' for none")
        ("maintenance-interval-ms", po::value(&s.maintenance_interval_ms)->default_value(s.maintenance_interval_ms), "between status messages")
        ("instance-id", optional(s.instance_id), "this instance's name in status messages (default host-pid)")
        ("handlers-topic", optional(s.handlers_topic), "compacted Kafka topic of Lua scripts (key = name, value = source, empty = delete) followed by every instance")
        (",X", po::value(&x_properties)->composing(), "librdkafka property key=value for every Kafka client (repeatable); secrets are masked in logs");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        fmt::print(stderr, "rtcrm-topology: {}\n{}", e.what(), (std::ostringstream{} << desc).str());
        return 2;
    }
    if (vm.count("help") != 0U) {
        std::cout << desc << '\n';
        return 0;
    }
    if (const auto level = rtcrm::parse_log_level(log_level); level) {
        rtcrm::set_log_level(*level);
    } else {
        fmt::print(stderr, "rtcrm-topology: --log-level '{}': use debug, info, warning, error or off\n", log_level);
        return 2;
    }
    s.kafka_properties.insert(s.kafka_properties.end(), x_properties.begin(), x_properties.end());
    // Secrets stay out of files and command lines (which `ps` shows).
    if (const char* password = std::getenv("RTCRM_CASSANDRA_PASSWORD"); password != nullptr) {
        s.cassandra_password = password;
    }
    if (check_config) {
        try {
            s.validate();
        } catch (const std::exception& e) {
            fmt::print(stderr, "rtcrm-topology: {}{}\n", config_file.empty() ? "" : config_file + ": ", e.what());
            return 2;
        }
        fmt::print("ok\n");
        return 0;
    }

    try {
        auto parts = rtcrm::assemble(s);  // the engine and the sinks outlive the runtime
        auto& engine = parts.engine;
        rtcrm::runtime rt{std::move(parts.topology)};
        if (!parts.properties.empty()) {
            fmt::print(stderr, "rtcrm-topology: kafka properties: {}\n", rtcrm::describe(parts.properties));
        }

        // Status on the maintenance topic, and the group's handler scripts.
        std::unique_ptr<rtcrm::maintenance_reporter> reporter;
        std::unique_ptr<rtcrm::kafka_handler_feed> feed;
        if (!s.handlers_topic.empty()) {
            feed = std::make_unique<rtcrm::kafka_handler_feed>(
                rtcrm::handler_feed_options{.brokers = s.brokers, .topic = s.handlers_topic,
                                            .properties = parts.properties},
                [&engine](const rtcrm::kafka_handler_feed::script_set& set) -> std::optional<std::string> {
                    std::vector<rtcrm::lua_script> scripts;
                    for (const auto& [name, source] : set) {
                        scripts.push_back({name, source});
                    }
                    if (auto r = engine->load(std::move(scripts)); !r) {
                        return r.error().reason;
                    }
                    return std::nullopt;
                },
                [&reporter](const std::string& why) {
                    if (reporter) {
                        reporter->report("handler_refused", {{"error", why}});
                    }
                });
        }
        if (!s.brokers.empty() && !s.maintenance_topic.empty()) {
            reporter = std::make_unique<rtcrm::maintenance_reporter>(
                rtcrm::maintenance_options{.brokers = s.brokers, .topic = s.maintenance_topic, .instance_id = s.instance_id,
                                           .interval = std::chrono::milliseconds(s.maintenance_interval_ms),
                                           .properties = parts.properties},
                [&rt, &parts, &engine, &feed] {
                    const auto stats = rt.stats();
                    rtcrm::maintenance_status m{.events_in = stats.events_in, .processed = stats.processed,
                                                .dead_lettered = stats.dead_lettered, .handler_errors = stats.handler_errors,
                                                .store_errors = stats.store_errors, .nacked = stats.nacked};
                    if (parts.kafka != nullptr) {
                        const auto k = parts.kafka->status();
                        m.assigned = k.assigned;
                        m.lag = k.lag;
                    }
                    if (engine) {
                        m.handlers_version = engine->version();
                    }
                    if (feed) {
                        m.handlers_digest = feed->digest();
                    }
                    return m;
                });
        }
        if (feed) {
            feed->start();  // the group's scripts are loaded before the first event
        }

        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        const auto start = std::chrono::steady_clock::now();
        rt.start();
        if (parts.gateway != nullptr) {
            fmt::print(stderr, "rtcrm-topology: listening on {}:{}\n", s.listen.substr(0, s.listen.rfind(':')), parts.gateway->port());
        }
        std::unique_ptr<rtcrm::admin_server> admin;
        if (!s.admin.empty()) {
            // Audience queries run under the engine's guards; without an engine, under the defaults.
            std::shared_ptr<const rtcrm::segment_compiler> segments = engine;
            if (!segments) {
                segments = std::make_shared<rtcrm::lua_segment_compiler>();
            }
            admin = std::make_unique<rtcrm::admin_server>(rtcrm::admin_options{.listen = s.admin, .token = admin_token(s)}, rt,
                                                          engine, std::move(segments));
            if (auto* gw = parts.gateway) {
                admin->add_metrics([gw](std::string& out) {
                    const auto g = gw->stats();
                    out += fmt::format("# HELP rtcrm_gateway_events_accepted_total Events accepted by POST /events.\n"
                                       "# TYPE rtcrm_gateway_events_accepted_total counter\nrtcrm_gateway_events_accepted_total {}\n"
                                       "# HELP rtcrm_gateway_busy_total Requests answered 503 (queue full).\n"
                                       "# TYPE rtcrm_gateway_busy_total counter\nrtcrm_gateway_busy_total {}\n",
                                       g.accepted, g.busy);
                });
            }
            if (auto* ks = parts.kafka) {
                admin->add_metrics([ks](std::string& out) {
                    const auto k = ks->status();
                    out += fmt::format("# HELP rtcrm_kafka_lag Messages behind the end of the assigned partitions.\n"
                                       "# TYPE rtcrm_kafka_lag gauge\nrtcrm_kafka_lag {}\n", k.lag);
                });
                admin->add_readiness([ks]() -> std::optional<std::string> {
                    if (ks->status().assigned.empty()) {
                        return "no Kafka partition assigned yet";
                    }
                    return std::nullopt;
                });
            }
            fmt::print(stderr, "rtcrm-topology: admin API on {}:{}\n", s.admin.substr(0, s.admin.rfind(':')), admin->port());
        }
        while (!rt.wait_for(std::chrono::milliseconds(100))) {
            if (signals.load() > 0) {
                break;
            }
        }
        bool lost = false;
        if (signals.load() > 0) {
            // stop() on a thread of its own, so this one keeps the deadline and sees a second signal.
            const int seen = signals.load();
            const auto drain = rtcrm::parse_duration(s.drain_timeout).value();
            const auto grace = rtcrm::parse_duration(s.shutdown_grace).value();
            const auto leave_at = std::chrono::steady_clock::now() + drain + grace;
            std::atomic<bool> stopped{false};
            rtcrm::stop_report report;
            std::thread stopper([&] {
                report = rt.stop();
                stopped.store(true);
            });
            while (!stopped.load() && signals.load() == seen && std::chrono::steady_clock::now() < leave_at) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            if (!stopped.load()) {
                fmt::print(stderr, "rtcrm-topology: {}: leaving without a complete drain\n",
                           signals.load() != seen ? "a second signal"
                                                  : fmt::format("not stopped {} ms after the signal", (drain + grace).count()));
                report_unfinished(rt);
                leave_stuck();
            }
            stopper.join();
            if (!report.stopped) {
                fmt::print(stderr, "rtcrm-topology: the drain did not finish within {} ms; leaving what is stuck:\n", drain.count());
                print_lines("rtcrm-topology:   ", report.summary());
                fmt::print(stderr, "rtcrm-topology: {}\n", rt.stats().summary());
                leave_stuck();
            }
            if (!report.clean()) {
                fmt::print(stderr, "rtcrm-topology: not everything was committed:\n");
                print_lines("rtcrm-topology:   ", report.summary());
                lost = true;
            }
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const auto stats = rt.stats();
        fmt::print(stderr, "rtcrm-topology: {} shards, store {}, {:.3f} s, {:.0f} events/s\nrtcrm-topology: {}\n", rt.shards(),
                   rt.store()->name(), seconds, seconds > 0 ? static_cast<double>(stats.events_in) / seconds : 0.0,
                   stats.summary());
        if (engine) {
            for (const auto& h : engine->stats()) {
                if (h.errors > 0 || h.disabled) {
                    fmt::print(stderr, "rtcrm-topology: {} '{}' ({}): {} errors{}; last: {}\n", h.kind, h.id, h.where, h.errors,
                               h.disabled ? ", disabled" : "", h.last_error);
                }
                if (h.kind == "campaign") {
                    fmt::print(stderr, "rtcrm-topology: campaign '{}': {} triggers, {} dry-run, suppressed: {} by cap, {} by rate, {} by kill switch\n",
                               h.id, h.triggers, h.shadow_triggers, h.suppressed_cap, h.suppressed_rate, h.suppressed_kill);
                }
            }
        }
        if (parts.gateway != nullptr) {
            const auto g = parts.gateway->stats();
            fmt::print(stderr, "rtcrm-topology: gateway: {} requests, {} events accepted, {} bad lines, {} answered 503\n",
                       g.requests, g.accepted, g.bad_lines, g.busy);
        }
        if (parts.kafka != nullptr) {
            const auto k = parts.kafka->status();
            fmt::print(stderr, "rtcrm-topology: kafka source: {} messages, {} rebalances, {} commits ({} failed)\n", k.messages,
                       k.rebalances, k.committed, k.commit_failures);
        }
        if (parts.webhook) {
            const auto w = parts.webhook->stats();
            fmt::print(stderr, "rtcrm-topology: webhook: {} requests, {} delivered, {} retries, {} given up\n", w.requests,
                       w.delivered, w.retries, w.given_up);
        }
        for (const auto* snk : {parts.kafka_triggers.get(), parts.kafka_dead_letters.get()}) {
            if (snk != nullptr) {
                const auto k = snk->stats();
                fmt::print(stderr, "rtcrm-topology: {}: {} produced, {} delivered, {} failed\n", snk->name(), k.produced,
                           k.delivered, k.failed);
            }
        }
        return stats.nacked == 0 && !lost ? 0 : 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "rtcrm-topology: {}\n", e.what());
        return 1;
    }
}
