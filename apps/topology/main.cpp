// rtcrm-topology: runs a whole CRM topology from the command line, or from a JSON file
// (rtcrm/config/topology_config.hpp) whose values the flags given override. The flags of
// the settings come from the library's table (rtcrm/config/topology_flags.hpp), which also
// prints README's reference table: rtcrm-topology --print-config-reference.
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
// --log-level up. With --report FILE, the campaign report (docs/CAMPAIGN_REPORT.md) goes
// to FILE when the run ends (written to FILE.tmp-PID, then renamed over FILE).
// SIGINT/SIGTERM stop it cleanly: events in flight are drained first. A
// stuck shard (a sink, store or bolt that never returns) cannot hold it: once the drain
// has not finished within --drain-timeout plus --shutdown-grace, or at a second signal,
// it prints what was lost (events not committed per source, what each stuck shard is
// doing) and exits with status 3. Exit status: 0 after a clean run, 1 if a source failed
// (a file that cannot be read), events failed, were left uncommitted or were not stored
// (a durable store whose writes failed until the drain deadline), or the --report file
// could not be written, 2 for a bad configuration, 3 when it had to leave a stuck shard.
#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/config/topology_flags.hpp>
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
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include <unistd.h>

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
    if (const auto& file = s.admin.token_file; !file.empty()) {
        std::ifstream in(file);
        std::string token;
        if (!in || !std::getline(in, token) || token.empty()) {
            throw rtcrm::error(rtcrm::errc::invalid_config, fmt::format("--admin-token-file {}: no token in it", file));
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

// The settings' flags, one group per section of the configuration, with the values of
// `s` (built-in, or the --config file's) as their defaults.
void add_setting_flags(po::options_description& desc, const rtcrm::topology_config& s) {
    std::vector<po::options_description> sections;
    std::string section;
    for (const auto& flag : rtcrm::topology_flags()) {
        if (sections.empty() || section != flag.section) {
            section = flag.section;
            sections.emplace_back(section);
        }
        auto* semantic = std::visit(
            [&flag](const auto& value) -> po::value_semantic* {
                using T = std::decay_t<decltype(value)>;
                if constexpr (std::is_same_v<T, bool>) {
                    return po::bool_switch()->default_value(value);
                } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                    return po::value<T>()->composing();
                } else {
                    auto* v = po::value<T>();
                    if constexpr (std::is_same_v<T, std::string>) {
                        if (flag.hides_empty && value.empty()) {
                            return v;
                        }
                    }
                    return v->default_value(value);
                }
            },
            flag.get(s));
        sections.back().add_options()(flag.name.c_str(), semantic, flag.help.c_str());
    }
    for (const auto& group : sections) {
        desc.add(group);
    }
}

// Sets what the flags given on the command line say (not those left at their defaults).
// @throws rtcrm::error(invalid_config) for a value its setting cannot hold.
void apply_setting_flags(const po::variables_map& vm, rtcrm::topology_config& s) {
    for (const auto& flag : rtcrm::topology_flags()) {
        const auto key = flag.name.starts_with(',') ? "-" + flag.name.substr(1) : flag.name;
        const auto given = vm.find(key);
        if (given == vm.end() || given->second.defaulted()) {
            continue;
        }
        std::visit(
            [&](const auto& type) {
                using T = std::decay_t<decltype(type)>;
                flag.set(s, given->second.as<T>());
            },
            flag.get(s));
    }
}

// Writes the campaign report to `path` through a temporary file renamed over it, so a
// reader sees the previous report or the whole new one, never a part.
// @throws rtcrm::error(io_error) naming the file when it cannot be written.
void write_report(const std::string& path, const std::string& report) {
    namespace fs = std::filesystem;
    const fs::path target{path};
    fs::path temp = target;
    temp += fmt::format(".tmp-{}", ::getpid());
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        out << report << '\n';
        out.close();
        if (!out) {
            std::error_code ignored;
            fs::remove(temp, ignored);
            throw rtcrm::error(rtcrm::errc::io_error, fmt::format("--report {}: cannot write {}", path, temp.string()));
        }
    }
    std::error_code ec;
    fs::rename(temp, target, ec);
    if (ec) {
        std::error_code ignored;
        fs::remove(temp, ignored);
        throw rtcrm::error(rtcrm::errc::io_error, fmt::format("--report {}: {}", path, ec.message()));
    }
}

// The rows of README's reference table for rtcrm-topology's own flags.
constexpr std::string_view own_reference_rows =
    "| — | `--log-level` | `debug` \\| `info` \\| `warning` \\| `error` \\| `off` | `info` | the library's own "
    "messages (`rtcrm: <component>: <message>` on standard error) below this level are not printed; the summary and "
    "the binary's `rtcrm-topology:` lines always are |\n";

}  // namespace

int main(int argc, char** argv) {
    // Built-in defaults, then the --config file, then the flags given.
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
    bool check_config = false;
    bool print_reference = false;
    std::string log_level = "info";
    po::options_description desc("rtcrm-topology: run a real-time CRM topology\n\nOptions");
    // clang-format off
    desc.add_options()
        ("help,h", "show this help (defaults shown are those of --config FILE, if given)")
        ("config", po::value<std::string>(), "JSON topology file (examples/configs/*.json); flags given as well override it")
        ("check-config", po::bool_switch(&check_config), "check the configuration (file and flags), print ok and exit; builds nothing")
        ("log-level", po::value(&log_level)->default_value(log_level), "the library's messages below this level are not printed: debug | info | warning | error | off")
        ("print-config-reference", po::bool_switch(&print_reference), "print the reference table of every setting (Markdown, as in README.md) and exit");
    // clang-format on
    add_setting_flags(desc, s);
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
    if (print_reference) {
        fmt::print("{}{}", rtcrm::topology_config_reference(), own_reference_rows);
        return 0;
    }
    if (const auto level = rtcrm::parse_log_level(log_level); level) {
        rtcrm::set_log_level(*level);
    } else {
        fmt::print(stderr, "rtcrm-topology: --log-level '{}': use debug, info, warning, error or off\n", log_level);
        return 2;
    }
    // A refused setting: with --check-config a failed check (status 2), else a run that
    // cannot start (status 1).
    const auto refused = [&](const std::exception& e) {
        if (check_config) {
            fmt::print(stderr, "rtcrm-topology: {}{}\n", config_file.empty() ? "" : config_file + ": ", e.what());
            return 2;
        }
        fmt::print(stderr, "rtcrm-topology: {}\n", e.what());
        return 1;
    };
    try {
        apply_setting_flags(vm, s);
    } catch (const std::exception& e) {
        return refused(e);
    }
    // Secrets stay out of files and command lines (which `ps` shows).
    if (const char* password = std::getenv("RTCRM_CASSANDRA_PASSWORD"); password != nullptr) {
        s.store.cassandra.password = password;
    }
    if (check_config) {
        try {
            s.validate();
        } catch (const std::exception& e) {
            return refused(e);
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
        if (!s.kafka.handlers_topic.empty()) {
            feed = std::make_unique<rtcrm::kafka_handler_feed>(
                rtcrm::handler_feed_options{
                    .brokers = s.kafka.brokers, .topic = s.kafka.handlers_topic, .properties = parts.properties},
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
        if (!s.kafka.brokers.empty() && !s.kafka.maintenance_topic.empty()) {
            reporter = std::make_unique<rtcrm::maintenance_reporter>(
                rtcrm::maintenance_options{.brokers = s.kafka.brokers,
                                           .topic = s.kafka.maintenance_topic,
                                           .instance_id = s.kafka.instance_id,
                                           .interval = s.kafka.maintenance_interval,
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
                        m.campaigns = engine->campaign_report(rtcrm::campaign_report_scope::totals);
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
            fmt::print(stderr, "rtcrm-topology: listening on {}:{}\n",
                       s.source.http.listen.substr(0, s.source.http.listen.rfind(':')), parts.gateway->port());
        }
        std::unique_ptr<rtcrm::admin_server> admin;
        if (!s.admin.listen.empty()) {
            // Audience queries run under the engine's guards; without an engine, under the defaults.
            std::shared_ptr<const rtcrm::segment_compiler> segments = engine;
            if (!segments) {
                segments = std::make_shared<rtcrm::lua_segment_compiler>();
            }
            admin = std::make_unique<rtcrm::admin_server>(
                rtcrm::admin_options{.listen = s.admin.listen, .token = admin_token(s)}, rt, engine, std::move(segments));
            if (auto* gw = parts.gateway) {
                admin->add_metrics([gw](std::string& out) {
                    const auto g = gw->stats();
                    out += fmt::format("# HELP rtcrm_gateway_events_accepted_total Events accepted by POST /events.\n"
                                       "# TYPE rtcrm_gateway_events_accepted_total counter\nrtcrm_gateway_events_accepted_total {}\n"
                                       "# HELP rtcrm_gateway_busy_total Requests answered 503 (queue full).\n"
                                       "# TYPE rtcrm_gateway_busy_total counter\nrtcrm_gateway_busy_total {}\n"
                                       "# HELP rtcrm_gateway_too_many_lines_total Requests answered 413 (more events than max_lines).\n"
                                       "# TYPE rtcrm_gateway_too_many_lines_total counter\nrtcrm_gateway_too_many_lines_total {}\n",
                                       g.accepted, g.busy, g.too_many_lines);
                });
            }
            if (auto* ks = parts.kafka) {
                admin->add_metrics([ks](std::string& out) {
                    const auto k = ks->status();
                    out += fmt::format("# HELP rtcrm_kafka_lag Messages behind the end of the assigned partitions.\n"
                                       "# TYPE rtcrm_kafka_lag gauge\nrtcrm_kafka_lag {}\n", k.lag);
                    out += fmt::format("# HELP rtcrm_kafka_unused_keys_total Message keys not used as player keys.\n"
                                       "# TYPE rtcrm_kafka_unused_keys_total counter\nrtcrm_kafka_unused_keys_total {}\n",
                                       k.unused_keys);
                });
                admin->add_readiness([ks]() -> std::optional<std::string> {
                    if (ks->status().assigned.empty()) {
                        return "no Kafka partition assigned yet";
                    }
                    return std::nullopt;
                });
            }
            if (auto dead = parts.kafka_dead_letters) {
                admin->add_metrics([dead](std::string& out) {
                    const auto k = dead->stats();
                    out += fmt::format(
                        "# HELP rtcrm_kafka_dead_letters_truncated_total Dead letters delivered with their raw event cut.\n"
                        "# TYPE rtcrm_kafka_dead_letters_truncated_total counter\n"
                        "rtcrm_kafka_dead_letters_truncated_total {}\n"
                        "# HELP rtcrm_kafka_dead_letters_fallback_total Dead letters written to the fallback file.\n"
                        "# TYPE rtcrm_kafka_dead_letters_fallback_total counter\n"
                        "rtcrm_kafka_dead_letters_fallback_total {}\n",
                        k.truncated, k.fallback_written);
                });
            }
            fmt::print(stderr, "rtcrm-topology: admin API on {}:{}\n",
                       s.admin.listen.substr(0, s.admin.listen.rfind(':')), admin->port());
        }
        while (!rt.wait_for(std::chrono::milliseconds(100))) {
            if (signals.load() > 0) {
                break;
            }
        }
        bool lost = false;
        rtcrm::stop_report report;
        if (signals.load() > 0) {
            // stop() on a thread of its own, so this one keeps the deadline and sees a second signal.
            const int seen = signals.load();
            const auto drain = s.drain_timeout;
            const auto grace = s.shutdown_grace;
            const auto leave_at = std::chrono::steady_clock::now() + drain + grace;
            std::atomic<bool> stopped{false};
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
        } else {
            report = rt.stop();  // the sources ended and drained: this collects what was left undone
        }
        if (!report.clean()) {
            fmt::print(stderr, "rtcrm-topology: not everything was committed:\n");
            print_lines("rtcrm-topology:   ", report.summary());
            lost = true;
        }
        if (!s.scripts.report.empty()) {
            try {
                write_report(s.scripts.report, engine ? engine->campaign_report() : R"({"campaigns":[]})");
            } catch (const std::exception& e) {
                fmt::print(stderr, "rtcrm-topology: {}\n", e.what());
                lost = true;  // the run's outcome is incomplete without it: exit status 1
            }
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const auto stats = rt.stats();
        fmt::print(stderr, "rtcrm-topology: {} shards, store {}, {:.3f} s, {:.0f} events/s\nrtcrm-topology: {}\n", rt.shards(),
                   rt.store()->name(), seconds, seconds > 0 ? static_cast<double>(stats.events_in) / seconds : 0.0,
                   stats.summary());
        if (engine) {
            if (const auto orphaned = engine->orphaned_timers(); orphaned > 0) {
                fmt::print(stderr, "rtcrm-topology: {} campaign timers came due after their campaign was removed (nothing sent)\n",
                           orphaned);
            }
            for (const auto& h : engine->stats()) {
                if (h.errors > 0 || h.disabled) {
                    fmt::print(stderr, "rtcrm-topology: {} '{}' ({}): {} errors{}; last: {}\n", h.kind, h.id, h.where, h.errors,
                               h.disabled ? ", disabled" : "", h.last_error);
                }
                if (h.kind == "campaign") {
                    fmt::print(stderr, "rtcrm-topology: campaign '{}': {} triggers, {} dry-run, suppressed: {} by cap, {} by rate, {} by kill switch\n",
                               h.id, h.triggers, h.shadow_triggers, h.suppressed_cap, h.suppressed_rate, h.suppressed_kill);
                    if (h.timers_armed + h.timers_fired + h.deferred_quiet + h.dropped_quiet > 0) {
                        fmt::print(stderr,
                                   "rtcrm-topology: campaign '{}': timers {} armed, {} cancelled, {} fired; {} dropped "
                                   "outside active; quiet hours: {} deferred, {} dropped\n",
                                   h.id, h.timers_armed, h.timers_cancelled, h.timers_fired, h.dropped_inactive,
                                   h.deferred_quiet, h.dropped_quiet);
                    }
                }
            }
        }
        if (parts.gateway != nullptr) {
            const auto g = parts.gateway->stats();
            fmt::print(stderr,
                       "rtcrm-topology: gateway: {} requests, {} events accepted, {} bad lines, {} answered 503, "
                       "{} over the line limit\n",
                       g.requests, g.accepted, g.bad_lines, g.busy, g.too_many_lines);
        }
        if (parts.kafka != nullptr) {
            const auto k = parts.kafka->status();
            fmt::print(stderr,
                       "rtcrm-topology: kafka source: {} messages, {} rebalances, {} commits ({} failed), {} message keys "
                       "not used as player keys\n",
                       k.messages, k.rebalances, k.committed, k.commit_failures, k.unused_keys);
        }
        if (parts.webhook) {
            const auto w = parts.webhook->stats();
            fmt::print(stderr, "rtcrm-topology: webhook: {} requests, {} delivered, {} retries, {} given up\n", w.requests,
                       w.delivered, w.retries, w.given_up);
        }
        for (const auto* snk : {parts.kafka_triggers.get(), parts.kafka_dead_letters.get()}) {
            if (snk != nullptr) {
                const auto k = snk->stats();
                fmt::print(stderr, "rtcrm-topology: {}: {} produced, {} delivered, {} failed", snk->name(), k.produced,
                           k.delivered, k.failed);
                if (snk == parts.kafka_dead_letters.get()) {
                    fmt::print(stderr, ", {} truncated, {} written to the fallback file", k.truncated,
                               k.fallback_written);
                }
                fmt::print(stderr, "\n");
            }
        }
        return stats.nacked == 0 && stats.unstored == 0 && !lost ? 0 : 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "rtcrm-topology: {}\n", e.what());
        return 1;
    }
}
