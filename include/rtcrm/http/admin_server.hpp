/// @file admin_server.hpp
/// The operators' HTTP API over a running runtime (off by default in the library; on in
/// `rtcrm-topology --admin HOST:PORT`).
///
/// Read endpoints:
/// - `GET /metrics`: Prometheus text format (events in/processed/dead-lettered by reason,
///   outputs per stream, queue depths, handler calls/errors/time, per campaign its triggers
///   (`rtcrm_campaign_triggers_total{campaign}`), suppressions
///   (`rtcrm_campaign_suppressed_total{campaign,reason}`) and per arm its exposures and
///   conversions (`rtcrm_campaign_exposures_total{campaign,arm}`,
///   `rtcrm_campaign_conversions_total{campaign,arm}`), totals of the campaign report
///   that hold across reloads, histograms of event latency and of durable store commits,
///   cache and store counters, stuck shards (`rtcrm_stuck_shards`, `rtcrm_stuck_episodes_total`,
///   `rtcrm_shard_step_seconds` per shard), plus what `add_metrics` adds).
/// - `GET /healthz`: 200 while the process answers; the body is `{"status":"ok"}`, or
///   `{"status":"stuck","stuck_shards":[{"shard":1,"seconds":7.5,"doing":"..."}]}` while a
///   shard is stuck (`runtime::shard_health`), so a liveness probe does not restart a
///   process that may still recover, and an operator sees what it is in.
/// - `GET /readyz`: 200 when no shard is stuck, the durable store writes
///   (`runtime::store_failure`) and every readiness check passes; 503 with the reasons
///   otherwise (a stuck shard is named with what it is doing, a failing store with its
///   last error).
/// - `GET /profiles/{player}`: the profile as JSON, read on its owning shard's thread.
/// - `GET /handlers`: the script set (names, version) and per-handler counters.
/// - `GET /campaigns`: the campaign report (`script_admin::campaign_report`,
///   docs/CAMPAIGN_REPORT.md): per campaign and event-time day, triggers, suppressions,
///   players reached, exposures and conversions per arm, and the uplift of each variant.
///
/// Write endpoints (`Authorization: Bearer <token>` when a token is set):
/// - `PUT /handlers/{name}.lua` (body: the Lua source): validated and hot-reloaded; 400
///   with `file:line: message` if it does not load (the running set stays).
/// - `DELETE /handlers/{name}.lua`.
/// - `POST /campaigns/{id}/disable` and `/enable`: the kill switch.
/// - `POST /audience` with `{"segment":"<Lua>","limit":20}`: how many profiles match (the
///   shards' and the store's), and a sample of player ids; the segment is compiled once
///   to check it, then once per scan worker, by the `segment_compiler` (a `lua_engine`
///   runs it in the handlers' sandbox under its guards: budget, deadline and memory per
///   profile), and the scan stops at `audience_time_limit` (`"complete":false`).
///
/// The server knows no script language: the handler endpoints go through a
/// `script_admin` and audience queries through a `segment_compiler` (both in the core),
/// which `rtcrm::lua_engine` implements.
///
/// Caveats:
/// - Without a token, the constructor refuses to serve write endpoints on a non-loopback
///   address.
/// - An audience query runs on an admin I/O thread and its scan workers, not on the
///   shards: each shard only copies its not yet written profiles (between two batches),
///   and events keep flowing during the scan (see `runtime::scan_profiles`).
///
/// Example:
/// @code
///   auto engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = "lua"});
///   ...
///   rtcrm::admin_server admin{{.listen = "127.0.0.1:9090", .token = token}, rt, engine, engine};
/// @endcode
#pragma once

#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/script_admin.hpp>
#include <rtcrm/core/segment_compiler.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace rtcrm {

/// Options of `admin_server`. An aggregate: use designated initialisers.
struct admin_options {
    std::string listen = "127.0.0.1:9090";                  ///< HOST:PORT (port 0: any, see `port()`)
    std::string token;                                      ///< bearer token of the write endpoints; "" = none (loopback only)
    unsigned threads = 2;                                   ///< I/O threads (an audience query holds one)
    std::chrono::milliseconds audience_time_limit{10000};   ///< the longest an audience scan runs
    std::size_t audience_workers = 2;                       ///< parallel scan workers over the store
};

/// The admin API. Serves from construction to destruction; the runtime must outlive it.
class admin_server {
public:
    /// @param scripts the handler set (`GET /handlers`, uploads, the kill switch, handler
    ///        metrics), e.g. a `lua_engine`; or nullptr (then those endpoints answer 404).
    /// @param segments compiles audience segments, e.g. the same `lua_engine` or a
    ///        `lua_segment_compiler`; or nullptr (then `POST /audience` answers 404).
    /// @throws rtcrm::error(invalid_config) for write endpoints without a token on a
    ///         non-loopback address; error(io_error) if it cannot listen.
    admin_server(admin_options options, runtime& rt, std::shared_ptr<script_admin> scripts,
                 std::shared_ptr<const segment_compiler> segments);
    ~admin_server();
    admin_server(const admin_server&) = delete;
    admin_server& operator=(const admin_server&) = delete;

    /// Appends more Prometheus text to every `/metrics` answer (a Kafka source's lag, a
    /// gateway's counters). Call before requests arrive.
    void add_metrics(std::function<void(std::string& out)> writer);
    /// Adds a readiness check: nullopt when ready, else why not. Call before requests arrive.
    void add_readiness(std::function<std::optional<std::string>()> check);

    [[nodiscard]] std::uint16_t port() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
