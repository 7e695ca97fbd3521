// Internal: the state a lua_engine shares with its per-shard bolts.
#pragma once

#include "campaign_ledger.hpp"
#include "campaign_report.hpp"
#include "vm.hpp"

#include <rtcrm/lua/lua_engine.hpp>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rtcrm::detail::lua {

// Counters of one handler in one shard: written by that shard only.
struct handler_counters {
    std::atomic<std::uint64_t> calls{0};
    std::atomic<std::uint64_t> errors{0};
    std::atomic<std::uint64_t> nanoseconds{0};
    std::atomic<std::uint64_t> triggers{0};
    std::atomic<std::uint64_t> shadow_triggers{0};
    std::atomic<std::uint64_t> suppressed_cap{0};
    std::atomic<std::uint64_t> suppressed_rate{0};
    std::atomic<std::uint64_t> suppressed_kill{0};
    // Delayed campaigns and quiet hours (the campaign's timers).
    std::atomic<std::uint64_t> timers_armed{0};      // waits armed or re-armed by an `on` event
    std::atomic<std::uint64_t> timers_cancelled{0};  // waits cancelled by an `unless` event
    std::atomic<std::uint64_t> timers_fired{0};      // waits that came due
    std::atomic<std::uint64_t> dropped_inactive{0};  // waits that came due outside `active`
    std::atomic<std::uint64_t> deferred_quiet{0};    // triggers deferred to the end of quiet hours
    std::atomic<std::uint64_t> dropped_quiet{0};     // triggers dropped in quiet hours (defer = false)

    static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

// Identity of a handler of a script set: updaters first, then campaigns, in registration order.
struct handler_info {
    std::string kind;
    std::string id;
    std::string where;
};

// One loaded script set, immutable but for its counters and disabled flags.
struct script_set {
    std::uint64_t version = 0;
    std::vector<lua_script> scripts;
    std::vector<handler_info> handlers;
    std::size_t updater_count = 0;
    // The campaigns as the campaign report describes them, in registration order: read
    // from the set's check at install, so the report needs no shard's Lua state.
    std::vector<campaign_description> campaigns;

    // Per-handler state shared by the shards.
    std::unique_ptr<std::atomic<bool>[]> disabled;
    mutable std::mutex mutex;  // guards shard_counters' growth and last_errors
    std::deque<std::vector<handler_counters>> shard_counters;  // deque: blocks never move
    std::vector<std::string> last_errors;
    std::vector<std::string> disabled_reasons;  // guarded by mutex

    std::vector<handler_counters>* attach();  // a counter block for one shard
    void record_error(std::size_t handler, const std::string& message);
};

// One shard's campaign ledgers: the shard's bolt writes them, the campaign report reads
// them. `delta` holds what happened since the last durable write-back took it (into the
// store, as tallies, in the same commit as the profiles); `committed` what came before.
struct shard_ledger {
    mutable std::mutex mutex;
    campaign_ledger committed;
    campaign_ledger delta;
    // Advances whenever `delta` or `committed` is cleared, so the bolt knows that the
    // tallies it looked up (and kept the addresses of) are gone.
    std::uint64_t epoch = 0;
};

struct engine_state {
    engine_state();
    ~engine_state();  // in watcher.cpp, where the watcher is complete
    engine_state(const engine_state&) = delete;
    engine_state& operator=(const engine_state&) = delete;

    lua_options options;

    mutable std::mutex mutex;
    std::shared_ptr<script_set> current;   // guarded by mutex
    std::atomic<std::uint64_t> version{0};

    std::set<std::string, std::less<>> killed;  // guarded by mutex
    std::atomic<std::uint64_t> kill_version{0};

    std::atomic<std::uint64_t> failed_reloads{0};
    // Campaign timers that came due after their campaign left the script set: they fire nothing.
    std::atomic<std::uint64_t> orphaned_timers{0};
    std::string last_reload_error;  // guarded by mutex
    std::atomic<std::uint32_t> shards{1};

    // The campaign counters: the store's tallies read when the runtime started (`base`)
    // plus every shard's ledgers. Keyed by campaign id, so they outlive script sets.
    campaign_ledger base;                 // guarded by mutex
    std::deque<shard_ledger> ledgers;     // guarded by mutex (growth); deque: blocks never move
    shard_ledger& attach_ledger();
    // Makes the store's tallies (bolt_placement::stored_tallies) the base, once per object:
    // the shards' ledgers counted an earlier run over that store, which its tallies hold
    // already, so they are cleared. In crm_bolt.cpp.
    using stored_tallies = std::vector<std::pair<std::string, std::int64_t>>;
    void adopt_base(const std::shared_ptr<const stored_tallies>& tallies);
    std::shared_ptr<const stored_tallies> adopted_tallies;  // guarded by mutex
    // base + every shard's ledgers.
    campaign_ledger ledger_snapshot() const;

    // Validates `scripts` in a fresh VM and, if they load, makes them current.
    reload_result install(std::vector<lua_script> scripts);
    std::shared_ptr<script_set> snapshot() const;
    std::set<std::string, std::less<>> killed_snapshot() const;
    // Disables a handler of `set` in every shard until the next reload; `reason` says which
    // rule tripped, `last_error` is the error that tripped it.
    void disable_handler(script_set& set, std::size_t handler, const std::string& reason, const std::string& last_error);

    // The directory watcher (watcher.cpp).
    struct watcher;
    std::unique_ptr<watcher> watch;
};

// Reads every *.lua of `dir`, sorted by file name. Throws rtcrm::error(invalid_config).
std::vector<lua_script> read_script_dir(const std::string& dir);

// A bolt factory bound to `state`.
bolt_factory make_crm_bolt_factory(std::shared_ptr<engine_state> state);

}  // namespace rtcrm::detail::lua
