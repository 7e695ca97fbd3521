/// @file bolt.hpp
/// A processing step: validation, filtering, the CRM handlers.
///
/// Bolts run on the shards, after routing, in two groups. *Ingest bolts* run first, on
/// freshly parsed events, before any profile is loaded: validation and filtering. *Shard
/// bolts* run next, with the profiles of the players that shard owns: updaters and
/// campaigns. (Source threads only find each event's player key and route it, so parsing
/// and validation scale with the shards.) Each shard gets its own bolt instances from
/// each `bolt_factory`, so a bolt needs no locks (a Lua state per shard, a schema
/// validator per shard).
///
/// A bolt sees a batch at a time. For each event it may do nothing (the event goes on),
/// `emit` outputs, `reject` it (dead-letter with a reason) or `drop` it (filtered out on
/// purpose). Rejected and dropped events are not shown to later bolts.
///
/// Caveats:
/// - `process` must not throw for a bad event: reject it. An exception escaping `process`
///   is caught by the runtime, and every still-live event of the batch is dead-lettered
///   with `errc::handler_failed`.
/// - The context is valid only during the `process` call.
///
/// Example (a filter):
/// @code
///   class drop_bots final : public rtcrm::bolt {
///   public:
///     std::string_view name() const noexcept override { return "drop_bots"; }
///     void process(std::span<rtcrm::event> batch, rtcrm::bolt_context& ctx) override {
///       for (auto& ev : batch) if (ev.field("bot")) ctx.drop(ev);
///     }
///   };
/// @endcode
#pragma once

#include <rtcrm/core/error.hpp>
#include <rtcrm/core/event.hpp>
#include <rtcrm/core/output.hpp>
#include <rtcrm/core/profile.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcrm {

/// What a bolt can do with the events of the batch it is processing. Implemented by the
/// runtime; used on the bolt's thread only.
class bolt_context {
public:
    virtual ~bolt_context() = default;
    /// Emits an output caused by `cause` on `to` (the output holds a share of its ack).
    virtual void emit(event& cause, stream to, std::string body) = 0;
    /// Dead-letters `ev` with `code` and `reason`; later bolts do not see it.
    virtual void reject(event& ev, errc code, std::string_view reason) = 0;
    /// Filters `ev` out on purpose; it counts as processed and later bolts do not see it.
    virtual void drop(event& ev) = 0;
    /// The profile of `ev`'s player, loaded and owned by this shard; marks it changed.
    /// nullptr in ingest bolts, which run before profiles are loaded.
    virtual profile* profile_of(const event& ev) = 0;
    /// This shard's index (0-based).
    [[nodiscard]] virtual std::uint32_t worker() const noexcept = 0;
    /// The profile limits configured for the runtime (ring sizes, buckets).
    [[nodiscard]] virtual const profile_limits& limits() const noexcept = 0;
};

/// A processing step. One instance per thread; see the file overview.
class bolt {
public:
    virtual ~bolt() = default;
    /// A short name for logs and metrics.
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
    /// Processes a batch of live events on this bolt's thread.
    virtual void process(std::span<event> batch, bolt_context& ctx) = 0;
    /// Called on the bolt's thread about every flush interval, and once at stop.
    virtual void tick() {}
    /// What this bolt is doing right now, for the runtime's reports of a stuck shard
    /// (`runtime::shard_health`): e.g. "updater 'fight-stats' (fight_stats.lua:3), at
    /// fight_stats.lua:7", or "" when there is nothing to name (the default).
    /// Called from another thread (the runtime's watchdog, an admin request) while `process`
    /// may be running on the bolt's thread: it must be thread-safe, cheap, and never block
    /// (take no lock that the bolt's thread may hold for long).
    [[nodiscard]] virtual std::string activity() const { return {}; }
    /// The rank of the timer `name` among a player's timers due at the same time: timers
    /// fire by due time, then by this rank (lower first; the script engine ranks the timers
    /// of its campaigns by campaign registration order), then timers without a rank, then
    /// by name. The default ranks none. Called on the bolt's thread.
    [[nodiscard]] virtual std::optional<std::size_t> timer_rank(std::string_view name) const {
        (void)name;
        return std::nullopt;
    }
    /// Appends the counter changes this bolt made since its last call (`tally`: name,
    /// amount to add), for a durable store that keeps tallies to write in the same commit
    /// as the profiles they came from (profile_store.hpp). Called on the bolt's thread
    /// right before each write-back is handed to the store. The default has none.
    virtual void take_tallies(std::vector<std::pair<std::string, std::int64_t>>& out) { (void)out; }
};

/// Where a bolt instance will run.
struct bolt_placement {
    std::uint32_t worker = 0;   ///< shard index
    std::uint32_t workers = 1;  ///< number of shards
    /// The tallies the store held when the runtime started (`profile_store::tallies`),
    /// the same object for every shard bolt of a runtime; null if the store keeps no
    /// tallies, and for ingest bolts.
    std::shared_ptr<const std::vector<std::pair<std::string, std::int64_t>>> stored_tallies;
};

/// Makes one bolt instance per worker; called on the thread that builds the runtime.
/// May throw `rtcrm::error` to refuse a bad configuration.
using bolt_factory = std::function<std::unique_ptr<bolt>(const bolt_placement&)>;

}  // namespace rtcrm
