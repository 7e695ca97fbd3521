// Internal: one sandboxed Lua state with a script set loaded into it.
//
// `vm::build` opens a fresh state (with a memory cap), runs the trusted prelude, then
// runs each script in an environment of its own (sandboxed standard library, frozen after
// loading) under the load budget, and reads the handlers the scripts registered. All of it
// runs in protected mode: any failure throws a `script_error` whose message is
// "file:line: message", never a Lua error into the host. `vm::call` runs one handler
// under the call budget (budget.hpp) and stages its profile writes.
#pragma once

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/profile.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include "budget.hpp"
#include "quiet_hours.hpp"
#include "core/profile_journal.hpp"

#include <lua.hpp>

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::detail::lua {

// The longest timer name profile:set_timer takes.
inline constexpr std::size_t max_timer_name_bytes = 128;
// The timers the engine arms for campaigns, named by the campaign's id: a delayed
// campaign's wait ("campaign:<id>") and a trigger deferred past quiet hours ("quiet:<id>").
// profile:set_timer refuses these prefixes, so a script never arms or cancels them.
inline constexpr std::string_view campaign_timer_prefix = "campaign:";
inline constexpr std::string_view quiet_timer_prefix = "quiet:";
inline constexpr std::string_view reserved_timer_prefixes[] = {campaign_timer_prefix, quiet_timer_prefix};

// A script failed to load or register; what() is "file:line: message".
class script_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct updater_spec {
    std::string id;
    std::vector<std::string> on;
    int fn = LUA_NOREF;
    std::string where;
};

// One arm of an experiment (`variants`): its name, weight and content.
struct campaign_variant {
    std::string name;
    std::int64_t weight = 1;   // a positive integer
    std::string content_json;  // "" : the campaign's content
};

// What counts as a conversion of an exposure (`goal`).
struct campaign_goal {
    std::string on;              // the event type
    std::int64_t within_ms = 0;  // an exposure at t converts on a goal event with t < ts <= t + within
    int when = LUA_NOREF;        // (event, profile) -> bool; LUA_NOREF: every `on` event counts
};

// `crm.fatigue`: at most `per_player` exposures of non-transactional campaigns per player
// in any `every_ms` of event time.
struct fatigue_rule {
    std::int64_t per_player = 0;
    std::int64_t every_ms = 0;
};

struct campaign_spec {
    std::string id;             // as text: the key of trigger histories and the kill switch
    bool numeric_id = false;    // written as a JSON number in triggers
    std::vector<std::string> on;
    int when = LUA_NOREF;
    int segment = LUA_NOREF;
    std::string content_json;   // serialised once, at load
    std::int64_t cap_per_player = 0;  // 0: no cap
    std::int64_t cap_every_ms = 0;    // 0: ever
    double rate_per_second = 0;       // 0: no limit
    bool dry_run = false;
    // A delayed campaign (`after`): an `on` event whose `when` passes arms the player's
    // timer "campaign:<id>" due `after_ms` later, an `unless` event before then cancels it,
    // and the campaign fires when it comes due. 0: the campaign fires on the event.
    std::int64_t after_ms = 0;
    std::vector<std::string> unless;  // only with after_ms > 0
    // `active`: the campaign sees only events with active_from <= ts < active_to, and a
    // wait that comes due outside them sends nothing (counted: dropped_inactive). A
    // trigger deferred past quiet hours was decided inside them: it is sent after `to`.
    std::int64_t active_from = std::numeric_limits<std::int64_t>::min();
    std::int64_t active_to = std::numeric_limits<std::int64_t>::max();
    // `quiet`: a trigger due inside the player's quiet hours is deferred to their end
    // (through the timer "quiet:<id>") or dropped.
    std::optional<quiet_hours> quiet;
    // Experiments: the first `holdout_buckets` of 10000 buckets are the control arm
    // (floor(holdout * 10000 + 0.5)); the rest is split among `variants` by weight, or is
    // the one arm "treatment" without variants.
    std::int64_t holdout_buckets = 0;
    std::vector<campaign_variant> variants;
    std::optional<campaign_goal> goal;
    std::int64_t priority = 0;    // higher first among the campaigns of one event
    bool transactional = false;   // exempt from fatigue: neither checked nor counted
    std::string where;

    // True if the campaign reports arms (it has a goal, a holdout or variants).
    [[nodiscard]] bool has_arms() const noexcept { return holdout_buckets > 0 || !variants.empty() || goal.has_value(); }

    [[nodiscard]] bool delayed() const noexcept { return after_ms > 0; }
    [[nodiscard]] bool active_at(std::int64_t ts) const noexcept { return active_from <= ts && ts < active_to; }
};

// What the handlers see of the event and profile being processed. The userdata that Lua
// holds point here; `generation` changes with every event so JSON proxies kept past their
// event are refused instead of dangling.
struct binding {
    const event* ev = nullptr;
    profile* prof = nullptr;
    const profile_limits* limits = nullptr;
    std::int64_t now_ms = 0;  // "now" for windows: the event's time, or what a segment scan says
    std::uint64_t generation = 0;
    // The persistent userdata, to recognise them by address (cheaper than
    // luaL_checkudata's metatable lookup by name on every call).
    const void* event_object = nullptr;
    const void* profile_object = nullptr;
    // The current call's profile writes (the profile_* bindings record them): vm::call
    // commits them when the handler returns normally and rolls them back when it fails.
    profile_journal journal;
    std::uint64_t journal_generation = 0;  // the event whose writes the journal holds
};

class vm {
public:
    // Builds a state with `scripts` loaded. Throws script_error ("file:line: message").
    // Everything runs in protected mode, and each script's top level under the load budget.
    static std::unique_ptr<vm> build(const std::vector<lua_script>& scripts, const lua_options& options);
    ~vm();
    vm(const vm&) = delete;
    vm& operator=(const vm&) = delete;

    [[nodiscard]] lua_State* state() const noexcept { return state_; }
    [[nodiscard]] const std::vector<updater_spec>& updaters() const noexcept { return updaters_; }
    [[nodiscard]] const std::vector<campaign_spec>& campaigns() const noexcept { return campaigns_; }
    // The script set's `crm.fatigue` rule, if it has one.
    [[nodiscard]] const std::optional<fatigue_rule>& fatigue() const noexcept { return fatigue_; }
    binding& current() noexcept { return binding_; }

    // Points the event and profile userdata at `ev` and `prof` for the next calls.
    void bind(const event& ev, profile& prof, const profile_limits& limits) noexcept;
    // For a segment: a profile and no event; windows end at `now_ms`.
    void bind_profile(profile& prof, const profile_limits& limits, std::int64_t now_ms) noexcept;

    // Calls the function `ref` with the event and/or profile userdata (per `with_event`),
    // under the call budget (work, deadline, allocation). Its profile writes apply only if
    // it returns normally. Returns true on success; the truthiness of its result lands in
    // `truthy`. On error returns false with the message in `error`, which names the file
    // and line ("file.lua:12: ..."; `where` for errors that have no position).
    bool call(int ref, bool with_event, std::string_view where, bool& truthy, std::string& error);

    [[nodiscard]] std::size_t memory_used() const noexcept { return memory_used_; }
    // The budget of the call running now (its line, for reports from other threads).
    [[nodiscard]] const call_budget& budget() const noexcept { return budget_; }

private:
    struct build_context;
    vm() = default;
    static void* allocate(void* ud, void* ptr, std::size_t osize, std::size_t nsize) noexcept;
    static int build_protected(lua_State* L);
    void load(lua_State* L, const std::vector<lua_script>& scripts);
    void read_handlers(lua_State* L, int registry);

    lua_State* state_ = nullptr;
    std::size_t memory_used_ = 0;
    std::size_t memory_limit_ = 0;
    bool call_allocation_refused_ = false;  // the per-call allocation budget, not the state's cap, said no
    call_budget budget_;
    call_budget::limits call_limits_;
    call_budget::limits load_limits_;
    binding binding_;
    int event_ref_ = LUA_NOREF;
    int profile_ref_ = LUA_NOREF;
    std::vector<updater_spec> updaters_;
    std::vector<campaign_spec> campaigns_;
    std::optional<fatigue_rule> fatigue_;
};

// The bindings (bindings.cpp): registers the userdata types and returns the persistent
// event and profile objects' registry refs.
void open_bindings(lua_State* L, binding* b, int& event_ref, int& profile_ref);

// The prelude's source, compiled into the library from lua/prelude.lua.
extern const char* const prelude_source;

}  // namespace rtcrm::detail::lua
