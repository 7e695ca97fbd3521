/// @file script_admin.hpp
/// A script engine's handler set as operators manage it while the pipeline runs: which
/// scripts and handlers there are and how they fare, uploading or removing one script,
/// the campaigns' kill switch, and the campaign report.
///
/// `rtcrm::lua_engine` (`<rtcrm/lua/lua_engine.hpp>`) implements it; `rtcrm::admin_server`
/// serves it over HTTP (`/handlers`, `/campaigns`, `/campaigns/{id}/disable`, handler and
/// campaign metrics) without
/// depending on the engine.
///
/// Contract:
/// - Every member may be called from any thread, also while the engine's shards run.
/// - A change to the set (`put_script`, `remove_script`) checks the whole new set first
///   and switches the shards only if it loads; otherwise the running set stays and the
///   failure says why (`file:line: message`).
/// - The kill switch holds across changes to the set.
///
/// Caveats: the set may change between two calls (another thread, a watched directory, a
/// handler feed), so `script_names()` and `version()` read one after the other may describe
/// different sets.
///
/// Example:
/// @code
///   if (auto r = scripts.put_script("welcome.lua", source); !r) { log(r.error().reason); }
///   scripts.disable("3");   // campaign 3 stops firing at the shards' next event
/// @endcode
#pragma once

#include <rtcrm/core/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm {

/// The outcome of a change to the script set: the new version number, or why the old set
/// stays.
using reload_result = result<std::uint64_t>;

/// Counters of one handler, summed over the shards.
struct handler_stats {
    std::string kind;  ///< "updater" or "campaign"
    std::string id;
    std::string where;                 ///< "file.lua:line" of its definition
    std::uint64_t calls = 0;           ///< calls made (a campaign's `when` and `segment` count one each)
    std::uint64_t errors = 0;          ///< calls that raised an error
    std::uint64_t nanoseconds = 0;     ///< time spent in its calls
    bool disabled = false;             ///< disabled by the circuit breaker, until the next reload
    std::string disabled_reason;       ///< which rule disabled it (e.g. "40 of its last 64 calls failed")
    // Campaigns only:
    std::uint64_t triggers = 0;        ///< triggers emitted (main stream)
    std::uint64_t shadow_triggers = 0; ///< dry-run triggers (shadow stream)
    std::uint64_t suppressed_cap = 0;  ///< matched, but the player's frequency cap was reached
    std::uint64_t suppressed_rate = 0; ///< matched, but the campaign's rate limit was reached
    std::uint64_t suppressed_kill = 0; ///< events skipped while the campaign was disabled
    // Delayed campaigns (`after`) and quiet hours:
    std::uint64_t timers_armed = 0;      ///< waits armed or re-armed by an `on` event
    std::uint64_t timers_cancelled = 0;  ///< waits cancelled by an `unless` event
    std::uint64_t timers_fired = 0;      ///< waits that came due (then the guards decide)
    std::uint64_t dropped_inactive = 0;  ///< waits that came due outside `active`: nothing sent
    std::uint64_t deferred_quiet = 0;    ///< triggers deferred to the end of the player's quiet hours
    std::uint64_t dropped_quiet = 0;     ///< triggers dropped in quiet hours (`defer = false`)
    std::string last_error;            ///< the latest error, "file:line: message"
};

/// How much a campaign report says: every day, or each campaign's totals only (no `days`
/// and no `uplift`; what the maintenance topic's status messages carry).
enum class campaign_report_scope : std::uint8_t { days, totals };

/// The operators' hold on a running handler set. Thread-safe (see the contract above).
class script_admin {
public:
    virtual ~script_admin() = default;

    /// The names of the current set's scripts, in registration order.
    [[nodiscard]] virtual std::vector<std::string> script_names() const = 0;
    /// The current set's version (1 for the first set, +1 per switch).
    [[nodiscard]] virtual std::uint64_t version() const noexcept = 0;
    /// Adds or replaces the script `name`, then switches if the set loads.
    virtual reload_result put_script(std::string name, std::string source) = 0;
    /// Removes the script `name`, then switches if the set loads. An unknown name is an error.
    virtual reload_result remove_script(std::string_view name) = 0;
    /// Changes to the set that failed (the old set stayed).
    [[nodiscard]] virtual std::uint64_t failed_reloads() const noexcept = 0;
    /// Campaign timers that came due after a change to the set had removed their campaign
    /// (they fired nothing). The default counts none.
    [[nodiscard]] virtual std::uint64_t orphaned_timers() const noexcept { return 0; }

    /// Kill switch: the campaign stops firing at the next event boundary of every shard.
    virtual void disable(std::string_view campaign_id) = 0;
    /// Lifts the kill switch.
    virtual void enable(std::string_view campaign_id) = 0;
    /// True if the kill switch is on for `campaign_id`.
    [[nodiscard]] virtual bool disabled(std::string_view campaign_id) const = 0;

    /// Per-handler counters of the current set, summed over the shards.
    [[nodiscard]] virtual std::vector<handler_stats> stats() const = 0;

    /// What every campaign did (docs/CAMPAIGN_REPORT.md): a JSON document
    /// `{"campaigns":[...]}` with each campaign's triggers, suppressions by reason, players
    /// reached, arms and uplift, per event-time day unless `scope` is `totals`. The default,
    /// for engines without campaigns, reports none.
    [[nodiscard]] virtual std::string campaign_report(campaign_report_scope scope = campaign_report_scope::days) const {
        (void)scope;
        return R"({"campaigns":[]})";
    }
};

}  // namespace rtcrm
