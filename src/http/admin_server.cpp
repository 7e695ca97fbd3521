#include <rtcrm/core/error.hpp>
#include <rtcrm/core/json_text.hpp>
#include <rtcrm/http/admin_server.hpp>

#include "core/bounded_json.hpp"

#include "listen_address.hpp"
#include "server.hpp"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <mutex>

namespace rtcrm {

namespace http = detail::http;

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Bodies are JSON text, so UTF-8: a message or a name quoting ill-formed bytes (a script's
// compile error on an uploaded file, a handler's last error) shows U+FFFD in their place.
std::string json_error(std::string_view message) {
    std::string out = R"({"error":)";
    append_json_string(out, message);
    out += '}';
    return out;
}

void write_text(json_writer& w, std::string_view text) {
    if (is_valid_utf8(text)) {
        w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    } else {
        const auto valid = to_valid_utf8(text);
        w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
    }
}

http::response error_response(unsigned status, std::string_view message) { return {status, json_error(message)}; }

// A Prometheus label value: backslash, quote and newline escaped.
std::string label(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

void metric_header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void histogram(std::string& out, std::string_view name, std::string_view help, const latency_histogram& h) {
    metric_header(out, name, "histogram", help);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < latency_histogram::bounds.size(); ++i) {
        cumulative += h.counts[i];
        fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name, latency_histogram::bounds[i], cumulative);
    }
    fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.count, name,
                   h.sum_seconds, name, h.count);
}

bool is_loopback(const std::string& host) { return host == "127.0.0.1" || host == "::1" || host == "localhost"; }

}  // namespace

struct admin_server::impl {
    admin_options options;
    runtime* rt;
    std::shared_ptr<script_admin> scripts;
    std::shared_ptr<const segment_compiler> segments;
    std::vector<std::function<void(std::string&)>> extra_metrics;
    std::vector<std::function<std::optional<std::string>()>> readiness;
    std::unique_ptr<http::server> server;

    bool authorized(const http::request& req) const {
        return options.token.empty() || req.authorization == "Bearer " + options.token;
    }

    http::response handle(const http::request& req) {
        const std::string path = req.target.substr(0, req.target.find('?'));
        const bool write = req.method != "GET" && req.method != "HEAD";
        if (write && !authorized(req)) {
            return {401, json_error("this endpoint needs Authorization: Bearer <token>"), "application/json",
                    {{"WWW-Authenticate", "Bearer"}}};
        }
        if (req.method == "GET" && path == "/metrics") {
            return {200, metrics(), "text/plain; version=0.0.4; charset=utf-8"};
        }
        if (req.method == "GET" && path == "/healthz") {
            return health();
        }
        if (req.method == "GET" && path == "/readyz") {
            return ready();
        }
        if (req.method == "GET" && path.starts_with("/profiles/")) {
            return profile_of(path.substr(10));
        }
        if (path == "/handlers" && req.method == "GET") {
            return handlers();
        }
        if (path == "/campaigns" && req.method == "GET") {
            if (!scripts) {
                return error_response(404, "no Lua engine");
            }
            return {200, scripts->campaign_report()};
        }
        if (path.starts_with("/handlers/")) {
            return change_handler(req.method, path.substr(10), req.body);
        }
        if (path.starts_with("/campaigns/") && req.method == "POST") {
            return kill_switch(path.substr(11));
        }
        if (path == "/audience" && req.method == "POST") {
            return audience(req.body);
        }
        return error_response(404, fmt::format("no {} {}", req.method, path));
    }

    std::string metrics() const {
        const auto s = rt->stats();
        std::string out;
        auto counter = [&](std::string_view name, std::string_view help, std::uint64_t value) {
            metric_header(out, name, "counter", help);
            fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
        };
        auto gauge = [&](std::string_view name, std::string_view help, std::uint64_t value) {
            metric_header(out, name, "gauge", help);
            fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
        };
        counter("rtcrm_events_in_total", "Records received from the sources.", s.events_in);
        counter("rtcrm_events_processed_total", "Events that went through every shard bolt.", s.processed);
        counter("rtcrm_events_dropped_total", "Events a bolt filtered out on purpose.", s.dropped);
        counter("rtcrm_events_replayed_total", "Events skipped because their profile had them already.", s.replayed);
        metric_header(out, "rtcrm_events_dead_lettered_total", "counter", "Events sent to the dead-letter stream, by reason.");
        for (const auto& [code, n] : s.dead_lettered_by_reason) {
            fmt::format_to(std::back_inserter(out), "rtcrm_events_dead_lettered_total{{reason=\"{}\"}} {}\n", errc_name(code), n);
        }
        metric_header(out, "rtcrm_outputs_total", "counter", "Outputs emitted, by stream.");
        for (std::size_t i = 0; i < stream_count; ++i) {
            fmt::format_to(std::back_inserter(out), "rtcrm_outputs_total{{stream=\"{}\"}} {}\n",
                           stream_name(static_cast<stream>(i)), s.outputs[i]);
        }
        counter("rtcrm_events_nacked_total", "Events whose ack failed (their positions are not committed).", s.nacked);
        counter("rtcrm_handler_exceptions_total", "Exceptions caught around bolts.", s.handler_errors);
        counter("rtcrm_store_errors_total", "Failed store reads or writes.", s.store_errors);
        counter("rtcrm_events_unstored_total", "Processed events whose store writes were given up (not committed).",
                s.unstored);
        gauge("rtcrm_cached_profiles", "Profiles held in the shards' caches.", s.cached_profiles);
        counter("rtcrm_evicted_profiles_total", "Profiles dropped from the caches to respect their bound.", s.evicted_profiles);
        counter("rtcrm_expired_profiles_total", "Profiles restarted or deleted by the profile TTL.", s.expired_profiles);
        counter("rtcrm_timers_fired_total", "Timer events delivered (profile timers and delayed campaigns).",
                s.timers_fired);
        gauge("rtcrm_timer_players_cached", "Cached players with a pending timer.", s.timer_players_cached);
        gauge("rtcrm_timer_clock_ms", "The timers' event-time clock of the slowest shard (ms since the epoch).",
              static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.timer_clock_ms)));
        metric_header(out, "rtcrm_queue_depth", "gauge", "Batches waiting in each shard's queues.");
        for (std::size_t i = 0; i < s.queue_depth.size(); ++i) {
            fmt::format_to(std::back_inserter(out), "rtcrm_queue_depth{{shard=\"{}\"}} {}\n", i, s.queue_depth[i]);
        }
        const auto health = rt->shard_health();
        gauge("rtcrm_stuck_shards", "Shards whose current step has run longer than stuck_after.",
              static_cast<std::uint64_t>(
                  std::count_if(health.begin(), health.end(), [](const shard_health& h) { return h.stuck; })));
        counter("rtcrm_stuck_episodes_total", "Times a shard's step ran past stuck_after, as the watchdog noticed.",
                rt->stuck_episodes());
        metric_header(out, "rtcrm_shard_step_seconds", "gauge",
                      "How long each shard's current step has run; 0 while it waits for work.");
        for (const auto& h : health) {
            fmt::format_to(std::back_inserter(out), "rtcrm_shard_step_seconds{{shard=\"{}\"}} {}\n", h.shard,
                           static_cast<double>(h.busy_for.count()) / 1e3);
        }
        histogram(out, "rtcrm_event_latency_seconds", "Per event: parsed on its shard to its outputs handed to the sinks.",
                  s.event_latency);
        histogram(out, "rtcrm_store_commit_seconds", "Per durable group commit: the write and its fsync.", s.store_commit);
        if (scripts) {
            const auto handlers = scripts->stats();
            auto per_handler = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
                metric_header(out, name, type, help);
                for (const auto& h : handlers) {
                    fmt::format_to(std::back_inserter(out), "{}{{kind=\"{}\",handler=\"{}\"}} {}\n", name, h.kind, label(h.id),
                                   value(h));
                }
            };
            per_handler("rtcrm_handler_calls_total", "counter", "Lua handler calls.", [](const handler_stats& h) { return h.calls; });
            per_handler("rtcrm_handler_errors_total", "counter", "Lua handler calls that raised an error.",
                        [](const handler_stats& h) { return h.errors; });
            per_handler("rtcrm_handler_seconds_total", "counter", "Time spent in Lua handler calls.",
                        [](const handler_stats& h) { return static_cast<double>(h.nanoseconds) / 1e9; });
            per_handler("rtcrm_handler_disabled", "gauge", "1 if the handler was disabled after too many errors.",
                        [](const handler_stats& h) { return h.disabled ? 1 : 0; });
            campaign_metrics(out);
            metric_header(out, "rtcrm_campaign_timers_total", "counter",
                          "Delayed campaigns' waits per campaign: armed (or re-armed), cancelled by an `unless` "
                          "event, fired (came due).");
            for (const auto& h : handlers) {
                if (h.kind != "campaign") {
                    continue;
                }
                fmt::format_to(std::back_inserter(out),
                               "rtcrm_campaign_timers_total{{campaign=\"{0}\",event=\"armed\"}} {1}\n"
                               "rtcrm_campaign_timers_total{{campaign=\"{0}\",event=\"cancelled\"}} {2}\n"
                               "rtcrm_campaign_timers_total{{campaign=\"{0}\",event=\"fired\"}} {3}\n",
                               label(h.id), h.timers_armed, h.timers_cancelled, h.timers_fired);
            }
            metric_header(out, "rtcrm_campaign_timed_out_total", "counter",
                          "Firings per campaign moved or dropped by its time rules: deferred past the player's "
                          "quiet hours, dropped in them (defer = false), dropped outside `active`.");
            for (const auto& h : handlers) {
                if (h.kind != "campaign") {
                    continue;
                }
                fmt::format_to(std::back_inserter(out),
                               "rtcrm_campaign_timed_out_total{{campaign=\"{0}\",by=\"quiet_deferred\"}} {1}\n"
                               "rtcrm_campaign_timed_out_total{{campaign=\"{0}\",by=\"quiet_dropped\"}} {2}\n"
                               "rtcrm_campaign_timed_out_total{{campaign=\"{0}\",by=\"inactive\"}} {3}\n",
                               label(h.id), h.deferred_quiet, h.dropped_quiet, h.dropped_inactive);
            }
            counter("rtcrm_campaign_orphaned_timers_total",
                    "Campaign timers that came due after a reload removed their campaign (they fired nothing).",
                    scripts->orphaned_timers());
            gauge("rtcrm_handlers_version", "The script set's version.", scripts->version());
            counter("rtcrm_handler_reloads_failed_total", "Script set reloads refused (the old set stayed).", scripts->failed_reloads());
        }
        for (const auto& more : extra_metrics) {
            more(out);
        }
        return out;
    }

    // The campaign report's totals as counters: they come from the campaign ledger, so they
    // hold across reloads and, with a durable store, restarts. A script_admin's report is
    // read defensively: members of another shape are left out, never trusted.
    void campaign_metrics(std::string& out) const {
        using value = rapidjson::Value;
        rapidjson::Document report;
        const auto text = scripts->campaign_report(campaign_report_scope::totals);
        report.Parse(text.data(), text.size());
        auto member = [](const value& object, const char* name) -> const value* {
            if (!object.IsObject()) {
                return nullptr;
            }
            const auto it = object.FindMember(name);
            return it == object.MemberEnd() ? nullptr : &it->value;
        };
        auto text_of = [](const value& v) { return label({v.GetString(), v.GetStringLength()}); };
        // (campaign label, its object) of every campaign with a string id.
        std::vector<std::pair<std::string, const value*>> campaigns;
        if (const auto* list = report.HasParseError() ? nullptr : member(report, "campaigns"); list && list->IsArray()) {
            for (const auto& c : list->GetArray()) {
                if (const auto* id = member(c, "id"); id && id->IsString()) {
                    campaigns.emplace_back(text_of(*id), &c);
                }
            }
        }
        metric_header(out, "rtcrm_campaign_triggers_total", "counter",
                      "Triggers sent per campaign (main stream; control exposures are not sent).");
        for (const auto& [id, c] : campaigns) {
            if (const auto* n = member(*c, "triggers"); n && n->IsInt64()) {
                fmt::format_to(std::back_inserter(out), "rtcrm_campaign_triggers_total{{campaign=\"{}\"}} {}\n", id,
                               n->GetInt64());
            }
        }
        // Each (label value, count) of an object of counters, and of an object of arms.
        auto counts = [&](const value* object, auto&& each) {
            if (object != nullptr && object->IsObject()) {
                for (const auto& m : object->GetObject()) {
                    each(text_of(m.name), m.value);
                }
            }
        };
        metric_header(out, "rtcrm_campaign_suppressed_total", "counter",
                      "Firings not sent, per campaign and reason (kill_switch, cap, fatigue, rate, quiet_hours, "
                      "schedule, dry_run).");
        // Plain names for the entries: a lambda may not capture a structured binding (C++20
        // allows it, clang before 16 does not).
        for (const auto& entry : campaigns) {
            const auto& id = entry.first;
            counts(member(*entry.second, "suppressed"), [&](const std::string& reason, const value& n) {
                if (n.IsInt64()) {
                    fmt::format_to(std::back_inserter(out),
                                   "rtcrm_campaign_suppressed_total{{campaign=\"{}\",reason=\"{}\"}} {}\n", id, reason,
                                   n.GetInt64());
                }
            });
        }
        auto per_arm = [&](std::string_view name, std::string_view help, const char* field) {
            metric_header(out, name, "counter", help);
            for (const auto& entry : campaigns) {
                const auto& id = entry.first;
                counts(member(*entry.second, "arms"), [&](const std::string& arm, const value& a) {
                    if (const auto* n = member(a, field); n && n->IsInt64()) {
                        fmt::format_to(std::back_inserter(out), "{}{{campaign=\"{}\",arm=\"{}\"}} {}\n", name, id, arm,
                                       n->GetInt64());
                    }
                });
            }
        };
        per_arm("rtcrm_campaign_exposures_total",
                "Exposures per campaign and arm (firings that passed every check; control ones are not sent).",
                "exposures");
        per_arm("rtcrm_campaign_conversions_total", "Exposures per campaign and arm followed by the campaign's goal.",
                "conversions");
    }

    // 200 while the process answers; the body names the stuck shards, if any.
    http::response health() const {
        rapidjson::StringBuffer buf;
        json_writer w(buf);
        w.StartObject();
        const auto shards = rt->shard_health();
        const bool any_stuck = std::any_of(shards.begin(), shards.end(), [](const shard_health& h) { return h.stuck; });
        w.Key("status");
        w.String(any_stuck ? "stuck" : "ok");
        if (any_stuck) {
            w.Key("stuck_shards");
            w.StartArray();
            for (const auto& h : shards) {
                if (!h.stuck) {
                    continue;
                }
                w.StartObject();
                w.Key("shard");
                w.Uint(h.shard);
                w.Key("seconds");
                w.Double(static_cast<double>(h.busy_for.count()) / 1e3);
                w.Key("doing");
                write_text(w, h.doing);
                w.EndObject();
            }
            w.EndArray();
        }
        w.EndObject();
        return {200, {buf.GetString(), buf.GetSize()}};
    }

    http::response ready() const {
        std::string why;
        for (const auto& h : rt->shard_health()) {
            if (h.stuck) {
                why += fmt::format("{}shard {} stuck for {:.1f} s in {}", why.empty() ? "" : "; ", h.shard,
                                   static_cast<double>(h.busy_for.count()) / 1e3, h.doing);
            }
        }
        if (auto failing = rt->store_failure()) {
            why += why.empty() ? *failing : "; " + *failing;  // events wait unacked until it writes again
        }
        for (const auto& check : readiness) {
            if (auto reason = check()) {
                why += why.empty() ? *reason : "; " + *reason;
            }
        }
        if (why.empty()) {
            return {200, R"({"status":"ready"})"};
        }
        return {503, json_error(why)};
    }

    http::response profile_of(std::string_view player) const {
        if (player.empty()) {
            return error_response(400, "GET /profiles/{player}");
        }
        try {
            const auto p = rt->profile_of(player_key{std::string{player}});
            if (!p) {
                return error_response(404, fmt::format("no profile for player {}", player));
            }
            return {200, p->to_json()};
        } catch (const std::exception& e) {
            return error_response(503, e.what());
        }
    }

    http::response handlers() const {
        if (!scripts) {
            return error_response(404, "no Lua engine");
        }
        rapidjson::StringBuffer buf;
        json_writer w(buf);
        w.StartObject();
        w.Key("version");
        w.Uint64(scripts->version());
        w.Key("scripts");
        w.StartArray();
        for (const auto& name : scripts->script_names()) {
            write_text(w, name);
        }
        w.EndArray();
        w.Key("handlers");
        w.StartArray();
        for (const auto& h : scripts->stats()) {
            w.StartObject();
            w.Key("kind");
            w.String(h.kind.c_str());
            w.Key("id");
            write_text(w, h.id);
            w.Key("where");
            write_text(w, h.where);
            w.Key("calls");
            w.Uint64(h.calls);
            w.Key("errors");
            w.Uint64(h.errors);
            w.Key("disabled");
            w.Bool(h.disabled);
            if (!h.disabled_reason.empty()) {
                w.Key("disabled_reason");
                write_text(w, h.disabled_reason);
            }
            if (!h.last_error.empty()) {
                w.Key("last_error");
                write_text(w, h.last_error);
            }
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        return {200, {buf.GetString(), buf.GetSize()}};
    }

    http::response change_handler(const std::string& method, const std::string& name, std::string body) {
        if (!scripts) {
            return error_response(404, "no Lua engine");
        }
        if (!name.ends_with(".lua") || name.size() <= 4 || name.find('/') != std::string::npos) {
            return error_response(400, "handlers are named like fight_stats.lua");
        }
        reload_result r = failure{};
        if (method == "PUT") {
            r = scripts->put_script(name, std::move(body));
        } else if (method == "DELETE") {
            const auto names = scripts->script_names();
            if (std::find(names.begin(), names.end(), name) == names.end()) {
                return error_response(404, fmt::format("no handler script {}", name));
            }
            r = scripts->remove_script(name);
        } else {
            return {405, json_error("use PUT or DELETE"), "application/json", {{"Allow", "PUT, DELETE"}}};
        }
        if (!r) {
            return error_response(400, r.error().reason);  // "file.lua:3: ...": the running set stays
        }
        return {200, fmt::format(R"({{"version":{}}})", r.value())};
    }

    http::response kill_switch(const std::string& rest) {
        if (!scripts) {
            return error_response(404, "no Lua engine");
        }
        const auto slash = rest.rfind('/');
        if (slash == std::string::npos || slash == 0) {
            return error_response(404, "POST /campaigns/{id}/disable or /enable");
        }
        const auto id = rest.substr(0, slash);
        const auto action = rest.substr(slash + 1);
        if (action == "disable") {
            scripts->disable(id);
        } else if (action == "enable") {
            scripts->enable(id);
        } else {
            return error_response(404, "POST /campaigns/{id}/disable or /enable");
        }
        std::string out = R"({"campaign":)";
        append_json_string(out, id);
        fmt::format_to(std::back_inserter(out), R"(,"disabled":{}}})", scripts->disabled(id));
        return {200, std::move(out)};
    }

    http::response audience(const std::string& body) {
        if (!segments) {
            return error_response(404, "no segment compiler");
        }
        rapidjson::Document doc;
        if (detail::parse_bounded_json(doc, body, detail::max_nested_json_depth) || !doc.IsObject() || !doc.HasMember("segment") || !doc["segment"].IsString()) {
            return error_response(400, R"(expected {"segment":"<Lua>","limit":20})");
        }
        const std::string text{doc["segment"].GetString(), doc["segment"].GetStringLength()};
        std::size_t limit = 20;
        if (doc.HasMember("limit") && doc["limit"].IsUint()) {
            limit = doc["limit"].GetUint();
        }
        // Compiled once here so that a text that does not compile is a 400, not a scan of errors.
        try {
            static_cast<void>(segments->compile_segment(text));
        } catch (const std::exception& e) {
            return error_response(400, e.what());
        }
        // Shared with the visitors: a scan that outlives its time limit must not touch a dead frame.
        struct state {
            std::string text;
            std::chrono::steady_clock::time_point deadline;
            std::atomic<std::uint64_t> matched{0};
            std::atomic<std::uint64_t> failed{0};
            std::atomic<bool> out_of_time{false};
            std::mutex mutex;
            std::vector<std::string> sample;
            std::string first_error;
            std::size_t limit = 0;
        };
        auto st = std::make_shared<state>();
        st->text = text;
        st->limit = limit;
        const auto started = std::chrono::steady_clock::now();
        st->deadline = started + options.audience_time_limit;
        const auto scanned = rt->scan_profiles(
            // Called during scan_profiles, while `segments` lives; the predicates do not need it.
            [st, compiler = segments.get()](std::size_t) -> profile_visitor {
                std::shared_ptr<profile_predicate> seg = compiler->compile_segment(st->text);  // one per worker
                return [st, seg](const profile& p) {
                    if (std::chrono::steady_clock::now() > st->deadline) {
                        st->out_of_time = true;
                        return false;
                    }
                    const auto in = seg->matches(p);
                    if (!in) {
                        if (st->failed.fetch_add(1) == 0) {
                            std::lock_guard lock(st->mutex);
                            st->first_error = in.error().reason;
                        }
                        return true;
                    }
                    if (in.value()) {
                        st->matched.fetch_add(1);
                        std::lock_guard lock(st->mutex);
                        if (st->sample.size() < st->limit) {
                            st->sample.emplace_back(p.key().text());
                        }
                    }
                    return true;
                };
            },
            options.audience_workers, options.audience_time_limit);
        if (!scanned && scanned.error().code == errc::timeout) {
            st->out_of_time = true;
        } else if (!scanned) {
            return error_response(503, fmt::format("audience scan failed: {}", scanned.error().reason));
        }
        rapidjson::StringBuffer buf;
        json_writer w(buf);
        w.StartObject();
        w.Key("count");
        w.Uint64(st->matched.load());
        w.Key("sample");
        w.StartArray();
        {
            std::lock_guard lock(st->mutex);
            for (const auto& id : st->sample) {
                write_text(w, id);
            }
        }
        w.EndArray();
        w.Key("complete");
        w.Bool(!st->out_of_time.load());
        w.Key("errors");
        w.Uint64(st->failed.load());
        if (st->failed.load() > 0) {
            std::lock_guard lock(st->mutex);
            w.Key("first_error");
            write_text(w, st->first_error);
        }
        w.Key("seconds");
        w.Double(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        w.EndObject();
        return {200, {buf.GetString(), buf.GetSize()}};
    }
};

admin_server::admin_server(admin_options options, runtime& rt, std::shared_ptr<script_admin> scripts,
                           std::shared_ptr<const segment_compiler> segments)
    : impl_(std::make_unique<impl>()) {
    auto& d = *impl_;
    d.options = std::move(options);
    d.rt = &rt;
    d.scripts = std::move(scripts);
    d.segments = std::move(segments);
    const auto [host, port] = http::split_listen("admin", d.options.listen);
    if (d.options.token.empty() && !is_loopback(host)) {
        throw error(errc::invalid_config,
                    fmt::format("admin: write endpoints on {} need a token (or listen on 127.0.0.1)", d.options.listen));
    }
    d.server = std::make_unique<http::server>(
        http::server_options{.address = host, .port = port, .body_limit = 4 * 1024 * 1024, .threads = d.options.threads},
        [&d](http::request&& req, http::respond_fn respond) {
            http::response res;
            try {
                res = d.handle(req);
            } catch (const std::exception& e) {
                res = error_response(500, e.what());
            }
            respond(std::move(res));
        });
}

admin_server::~admin_server() {
    if (impl_->server) {
        impl_->server->stop();
    }
}

void admin_server::add_metrics(std::function<void(std::string& out)> writer) { impl_->extra_metrics.push_back(std::move(writer)); }

void admin_server::add_readiness(std::function<std::optional<std::string>()> check) {
    impl_->readiness.push_back(std::move(check));
}

std::uint16_t admin_server::port() const noexcept { return impl_->server->port(); }

}  // namespace rtcrm
