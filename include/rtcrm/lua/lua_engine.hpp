/// @file lua_engine.hpp
/// Runs CRM logic written in Lua 5.4: updaters keep profiles up to date, campaigns decide
/// whom to send an offer. Designers change the scripts while the pipeline runs.
///
/// A `lua_engine` owns the current *script set* (every `.lua` file of a directory, plus
/// scripts uploaded through the API) and hands the runtime a bolt factory: each shard gets
/// a `crm` bolt with a Lua state of its own. Per event, the bolt looks up the handlers of
/// the event's type in C++ (other types never enter Lua), runs the updaters in
/// registration order, then the campaigns, which see the updated profile. A campaign that
/// fires emits one trigger on `stream::main` (or `stream::shadow` when `dry_run`):
/// @code
///   {"campaign_id":3,"player_id":42,"content":{...},"event_id":"e-1","event_type":"fight","ts":...,"dry_run":false,
///    "trigger_id":"3:42:e:e-1"}
/// @endcode
/// (`trigger_id` names the firing so consumers can drop redelivered triggers: see
/// core/trigger_id.hpp.)
///
/// The Lua API (see lua/prelude.lua and lua/examples/):
/// @code{.lua}
///   crm.updater{ id = "fight-stats", on = "fight", fn = function(event, profile) ... end }
///   crm.campaign{ id = 3, content = {...}, on = "fight", when = function(event, profile) ... end,
///                 segment = function(profile) ... end, cap = { per_player = 1, every = "1d" },
///                 rate = { per_second = 500 }, dry_run = false }
///   crm.campaign{ id = 31, on = "login", after = "3d", unless = "login",   -- a delayed campaign
///                 active = { from = "2026-02-10T00:00:00Z" },
///                 quiet = { from = "22:00", to = "08:00", tz = "tz", default_tz = "UTC", defer = true } }
/// @endcode
/// `event` reads any field (`event.type`, `event.player`, `event.ts`, `event.id`,
/// `event.data.result`, nested); `profile` has `get(name)`, `set(name, value)`,
/// `incr(name [, delta [, window]])`, `count(name [, window])`, `recent([type [, n]])`,
/// `last_trigger(campaign)`, `player()`, and the player's timers `set_timer(name, due_ms
/// [, data])`, `cancel_timer(name)`, `timer(name)`: the runtime delivers `timer:NAME` at
/// the due time, which `on = "timer:NAME"` handles and `on = "*"` does not match. A
/// delayed campaign (`after`) arms the timer `campaign:<id>` on its `on` event, an `unless`
/// event before the due time cancels it, and it fires at the due time (README, "Lua API
/// reference"). Windows are durations like "1w", "1d", "6h",
/// "30m", "10s" (rtcrm/core/duration.hpp, the grammar of configuration files too), counted in
/// event time.
///
/// Runtime change, safely:
/// - `reload()` (or a change in the watched directory) loads the new set into a fresh Lua
///   state and checks it; only then do the shards switch, each at an event boundary. Any
///   error keeps the old set running and is reported as `file:line: message` (with
///   `watch`, in the log: an error of component `lua`; a set loaded is an info message).
/// - Scripts run sandboxed: no io, os (but os.time/os.clock/os.date), require, load,
///   debug, collectgarbage, string.dump or `__gc` finalizers; each script has its own
///   globals, read-only once the set has loaded (a script's top-level locals are not: they
///   belong to one shard's Lua state, so keep player state in the profile).
/// - A bad script cannot stop a shard: every piece of Lua code the engine runs (handlers,
///   `when`/`segment`, top levels at load, metamethods called from C, `__close`, `xpcall`
///   message handlers) runs under a per-call budget of work (`instruction_budget`: VM
///   instructions plus the work of built-ins such as pattern matching and string
///   building), a wall-clock deadline (`call_deadline`) and a memory budget
///   (`call_memory_budget`), which a handler cannot catch its way past.
/// - A handler call's profile writes apply only if it returns normally; profile limits
///   (`profile_limits`) bound what a handler can store.
/// - A handler that errors is counted, the event goes on to the next handler, and a circuit
///   breaker disables a handler everywhere until the next reload after
///   `max_consecutive_errors` errors in a row, when `max_error_share` of its last 64 calls
///   failed, or when its failed calls take `max_failure_time_share` of its shard's recent
///   handler time (a warning of component `lua` in the log, `rtcrm/core/log.hpp`).
/// - Guards: per-player frequency caps (`cap`), a per-campaign rate limit (`rate`, shared
///   evenly by the shards), dry-run campaigns (triggers to the shadow stream only), and a
///   kill switch (`disable(campaign_id)`), checked before every event.
///
/// Caveats:
/// - The engine must outlive every runtime or test driver that uses its bolts.
/// - Handlers must not keep `event` or `profile` beyond their call: a stale one raises an
///   error when used.
/// - Rate limits count wall-clock time (they protect the outside world); caps and windows
///   count event time (so a replay gives the same answers).
///
/// Example:
/// @code
///   auto engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = "lua/examples"});
///   topology.add_shard_bolt(engine->make_bolt_factory());
///   ...
///   if (auto r = engine->reload(); !r) { log(r.error().reason); }   // "fight_stats.lua:3: ..."
///   engine->disable("3");                                            // kill switch
/// @endcode
#pragma once

#include <rtcrm/core/bolt.hpp>
#include <rtcrm/core/result.hpp>
#include <rtcrm/core/script_admin.hpp>
#include <rtcrm/core/segment_compiler.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm {

namespace detail::lua {
struct engine_state;
}

/// Options of `lua_engine`. An aggregate: use designated initialisers.
struct lua_options {
    std::string script_dir;                        ///< directory whose `*.lua` files form the script set; "" for none
    bool watch = false;                            ///< reload when the directory changes (libuv fs events)
    std::chrono::milliseconds watch_debounce{200}; ///< wait this long after the last change before reloading
    std::uint64_t instruction_budget = 1'000'000;  ///< work per handler call: VM instructions, plus built-ins' work (see Limits); a script's top level gets 10×
    std::chrono::milliseconds call_deadline{250};  ///< wall-clock limit of one handler call
    std::chrono::milliseconds load_deadline{2000}; ///< wall-clock limit of one script's top level at load
    std::size_t call_memory_budget = 4 * 1024 * 1024; ///< bytes one call may add to its state's live memory (at least 64 KiB; at most memory_limit applies)
    std::size_t memory_limit = 64 * 1024 * 1024;   ///< bytes per Lua state (one per shard)
    std::uint32_t max_consecutive_errors = 10;     ///< errors in a row that disable a handler
    double max_error_share = 0.5;                  ///< disable a handler when this share of its last 64 calls failed (0 = never)
    double max_failure_time_share = 0.5;           ///< disable a handler when its failed calls take this share of its shard's recent handler time (0 = never)
    std::uint32_t shards_hint = 0;                 ///< shards sharing each rate limit; 0 = the runtime's shard count

    /// @throws rtcrm::error(invalid_config) for a zero budget or limit.
    void validate() const;
};

/// One script: its name (e.g. "fight_stats.lua", shown in error messages) and source.
struct lua_script {
    std::string name;
    std::string source;
};

/// The Lua engine. Thread-safe: any thread may reload, disable, or read stats. It is the
/// admin API's `script_admin` (handler set, kill switch, counters) and `segment_compiler`
/// (audience segments run under its guards).
class lua_engine final : public script_admin, public segment_compiler {
public:
    /// Loads the initial script set from `options.script_dir` (if set) and starts the
    /// watcher (if `watch`).
    /// @throws rtcrm::error(invalid_config) with `file:line: message` if the initial set does
    ///         not load, or the directory cannot be read.
    explicit lua_engine(lua_options options);
    ~lua_engine() override;
    lua_engine(const lua_engine&) = delete;
    lua_engine& operator=(const lua_engine&) = delete;

    /// A factory of per-shard CRM bolts running this engine's current script set.
    [[nodiscard]] bolt_factory make_bolt_factory();

    /// Re-reads `script_dir` and switches to it if it loads; otherwise keeps the old set.
    reload_result reload();
    /// Replaces the whole script set (API uploads). Names must be unique.
    reload_result load(std::vector<lua_script> scripts);
    /// Adds or replaces one script of the current set, then switches if the set loads.
    reload_result put_script(lua_script script);
    /// The same, as `script_admin` (the admin API's uploads).
    reload_result put_script(std::string name, std::string source) override;
    /// Removes one script, then switches if the set loads. An unknown name is an error.
    reload_result remove_script(std::string_view name) override;
    /// The current set's scripts.
    [[nodiscard]] std::vector<lua_script> scripts() const;
    /// The current set's script names, in registration order.
    [[nodiscard]] std::vector<std::string> script_names() const override;
    /// The options the engine was built with (its guards apply to audience queries too).
    [[nodiscard]] const lua_options& options() const noexcept;
    /// The current set's version (1 for the first set, +1 per switch).
    [[nodiscard]] std::uint64_t version() const noexcept override;

    /// Kill switch: the campaign stops firing at the next event boundary of every shard.
    void disable(std::string_view campaign_id) override;
    /// Lifts the kill switch.
    void enable(std::string_view campaign_id) override;
    /// True if the kill switch is on for `campaign_id`.
    [[nodiscard]] bool disabled(std::string_view campaign_id) const override;

    /// Per-handler counters of the current set, summed over the shards.
    [[nodiscard]] std::vector<handler_stats> stats() const override;
    /// What every campaign did, as JSON (docs/CAMPAIGN_REPORT.md describes each field):
    /// @code
    ///   {"campaigns":[{"id":"33","dry_run":false,"triggers":1234,"shadow":310,"players":800,
    ///     "suppressed":{"kill_switch":0,"cap":10,"fatigue":4,"rate":0,"quiet_hours":0,"schedule":0,"dry_run":0},
    ///     "arms":{"control":{"exposures":310,"conversions":40},"a":{"exposures":612,"conversions":101}},
    ///     "uplift":[{"variant":"a","rate":0.165,"control_rate":0.129,"diff":0.036,"ci95":[-0.01,0.08]}],
    ///     "days":[{"day":"2025-11-22","triggers":700,"shadow":200,"players":600,"suppressed":{...},"arms":{...}}]}]}
    /// @endcode
    /// The counters are those the store held at start plus every shard's since, keyed by
    /// campaign id, so they hold across reloads. The current set's campaigns come first in
    /// registration order (zeros until they fire), then campaigns counted before but no
    /// longer in the set, by id. `arms` appears for campaigns with a `holdout`, `variants`
    /// or a `goal`, `uplift` with a holdout (variant against control: difference of
    /// conversion rates with an unpooled two-proportion 95% z-interval; null while an arm
    /// has no exposure). `totals` leaves out `days` and `uplift`.
    [[nodiscard]] std::string campaign_report(campaign_report_scope scope = campaign_report_scope::days) const override;
    /// Reload attempts that failed (the old set stayed), and the latest failure.
    [[nodiscard]] std::uint64_t failed_reloads() const noexcept override;
    [[nodiscard]] std::string last_reload_error() const;
    /// Campaign timers (a delayed campaign's wait, a trigger deferred by quiet hours) that
    /// came due after a reload had removed their campaign: they fired nothing.
    [[nodiscard]] std::uint64_t orphaned_timers() const noexcept override;

    /// An audience segment (see segment.hpp) under this engine's guards: its
    /// `instruction_budget`, `call_deadline`, `call_memory_budget` and `memory_limit`.
    /// @throws rtcrm::error(invalid_config) with "where:line: message" if it does not compile.
    [[nodiscard]] std::unique_ptr<profile_predicate> compile_segment(std::string_view text) const override;

private:
    using state = detail::lua::engine_state;
    [[nodiscard]] std::vector<lua_script> scripts_() const;
    std::shared_ptr<state> state_;
};

}  // namespace rtcrm
