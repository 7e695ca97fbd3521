// The per-shard CRM bolt: runs the Lua updaters and campaigns of the engine's current
// script set over the events of one shard.
#include "arm_assignment.hpp"
#include "dispatch_table.hpp"
#include "engine_state.hpp"
#include "trigger_body.hpp"

#include "core/logging.hpp"

#include <rtcrm/core/error.hpp>
#include <rtcrm/core/json_text.hpp>
#include <rtcrm/core/trigger_id.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace rtcrm::detail::lua {
namespace {

using clock = std::chrono::steady_clock;


// The campaign id in a campaign timer's event type ("timer:campaign:<id>" or
// "timer:quiet:<id>"), with which of the two it is; nullopt for other types.
struct campaign_timer {
    std::string_view id;
    bool quiet = false;
};
std::optional<campaign_timer> campaign_timer_of(std::string_view name) noexcept {
    if (name.starts_with(campaign_timer_prefix)) {
        return campaign_timer{name.substr(campaign_timer_prefix.size()), false};
    }
    if (name.starts_with(quiet_timer_prefix)) {
        return campaign_timer{name.substr(quiet_timer_prefix.size()), true};
    }
    return std::nullopt;
}

// A token bucket in wall-clock time: `rate` per second, bursts up to `burst`.
struct rate_limiter {
    double rate = 0;
    double burst = 1;
    double tokens = 1;
    clock::time_point last{};

    bool take(clock::time_point now) noexcept {
        if (last != clock::time_point{}) {
            tokens = std::min(burst, tokens + std::chrono::duration<double>(now - last).count() * rate);
        }
        last = now;
        if (tokens >= 1.0) {
            tokens -= 1.0;
            return true;
        }
        return false;
    }
};

// The circuit breaker's view of one handler's recent calls in one shard.
struct breaker_state {
    std::uint64_t outcomes = 0;    // bit i set: the call i calls ago failed
    std::uint32_t consecutive = 0; // failures in a row
    std::uint64_t failed_ns = 0;   // time of its failed calls, in the shard's sliding window
};

constexpr unsigned breaker_window = 64;                      // calls, the width of `outcomes`
constexpr std::uint64_t time_horizon_ns = 1'000'000'000;      // handler time before the sums halve
constexpr std::uint64_t min_observed_ns = 50'000'000;         // handler time seen before the time rule applies

class crm_bolt final : public bolt {
public:
    crm_bolt(std::shared_ptr<engine_state> engine, std::uint32_t shard, std::uint32_t shards)
        : engine_(std::move(engine)), shard_(shard), shards_(shards), ledger_(&engine_->attach_ledger()) {
        swap_if_changed();
        if (!vm_) {
            throw error(errc::invalid_config,
                        fmt::format("lua: shard {} cannot load the script set: {}", shard_, last_swap_error_));
        }
    }

    [[nodiscard]] std::string_view name() const noexcept override { return "crm"; }

    // Called by the runtime's watchdog thread: the handler running now and the line of
    // its latest budget tick.
    [[nodiscard]] std::string activity() const override {
        std::lock_guard lock(swap_mutex_);
        const auto active = active_handler_.load(std::memory_order_relaxed);
        if (active == 0 || !set_ || active > set_->handlers.size()) {
            return {};
        }
        const auto& h = set_->handlers[active - 1];
        // The line of the latest budget tick, in the handler's file (a handler calls
        // only its own script's functions and the library).
        const int line = vm_->budget().line();
        const auto file = std::string_view{h.where}.substr(0, h.where.rfind(':'));
        return line > 0 ? fmt::format("{} '{}' ({}), at {}:{}", h.kind, h.id, h.where, file, line)
                        : fmt::format("{} '{}' ({})", h.kind, h.id, h.where);
    }

    void process(std::span<event> batch, bolt_context& ctx) override {
        swap_if_changed();  // script changes take effect between batches: an event boundary
        for (auto& ev : batch) {
            refresh_kill_switch();
            // A campaign's own timer: the campaign fires (after the handlers of its type).
            std::size_t due_campaign = no_campaign;
            bool deferred = false;
            if (is_timer_type(ev.type())) {
                if (const auto t = campaign_timer_of(ev.type().substr(timer_type_prefix.size()))) {
                    const auto it = campaign_index_.find(t->id);
                    if (it == campaign_index_.end()) {
                        // Its campaign left the script set: the timer fires nothing.
                        engine_->orphaned_timers.fetch_add(1, std::memory_order_relaxed);
                    } else {
                        due_campaign = it->second;
                        deferred = t->quiet;
                    }
                }
            }
            const dispatch_entry* handlers = dispatch_.handlers_for(ev.type());
            if (handlers == nullptr && due_campaign == no_campaign) {
                continue;  // no handler for this type: never enter Lua
            }
            profile* p = ctx.profile_of(ev);
            if (p == nullptr) {
                continue;
            }
            vm_->bind(ev, *p, ctx.limits());
            if (handlers != nullptr) {
                for (const auto index : handlers->updaters) {
                    bool ignored = false;
                    run(index, vm_->updaters()[index].fn, true, ignored);
                }
                for (const auto campaign : handlers->goals) {
                    convert(campaign, ev, *p);
                }
                for (const auto& hit : handlers->campaigns) {
                    evaluate(hit, ev, *p, ctx);
                }
            }
            if (due_campaign != no_campaign) {
                fire_due(due_campaign, deferred, ev, *p, ctx);
            }
        }
    }

    // A campaign's timers ("campaign:<id>", "quiet:<id>") rank by the campaigns'
    // evaluation order: descending priority, ties in registration order.
    [[nodiscard]] std::optional<std::size_t> timer_rank(std::string_view name) const override {
        if (const auto t = campaign_timer_of(name)) {
            if (const auto it = campaign_index_.find(t->id); it != campaign_index_.end()) {
                return dispatch_.rank(it->second);
            }
        }
        return std::nullopt;
    }

    // The ledger's changes since the last call, for the store; they move to `committed`.
    void take_tallies(std::vector<std::pair<std::string, std::int64_t>>& out) override {
        std::lock_guard lock(ledger_->mutex);
        ledger_->delta.append_tallies(out);
        ledger_->committed.add(ledger_->delta);
        ledger_->delta.clear();
        ++ledger_->epoch;
    }

private:
    static constexpr std::size_t no_campaign = static_cast<std::size_t>(-1);

    // Calls one handler function, counts it, and feeds the circuit breaker. Returns false
    // on error (or if the handler is disabled).
    bool run(std::size_t index, int ref, bool with_event, bool& truthy) {
        if (set_->disabled[index].load(std::memory_order_relaxed)) {
            return false;
        }
        auto& c = (*counters_)[index];
        // Timing every call would cost more than a small handler; sample one in 16.
        const bool timed = (calls_++ & 15U) == 0;
        const auto start = timed ? clock::now() : clock::time_point{};
        active_handler_.store(index + 1, std::memory_order_relaxed);
        const bool ok = vm_->call(ref, with_event, set_->handlers[index].where, truthy, error_);
        active_handler_.store(0, std::memory_order_relaxed);
        std::uint64_t took_ns = 0;
        if (timed) {
            took_ns = elapsed_ns(start);
            handler_counters::bump(c.nanoseconds, 16 * took_ns);
            // A timed call that succeeded stands for the 16 calls of its sample; one that
            // failed stands for itself, since every costly failed call is measured below.
            add_handler_time(ok ? 16 * took_ns : took_ns);
        }
        handler_counters::bump(c.calls);
        auto& b = breakers_[index];
        b.outcomes <<= 1U;
        if (ok) {
            b.consecutive = 0;
            return true;
        }
        b.outcomes |= 1U;
        ++b.consecutive;
        handler_counters::bump(c.errors);
        set_->record_error(index, error_);
        // A failed call's cost: measured if this call was timed, else from the budget's
        // clock, which starts at the call's first tick (a call that failed before it was
        // cheap, and costs no clock read here).
        if (!timed && vm_->budget().started() != clock::time_point{}) {
            took_ns = elapsed_ns(vm_->budget().started());
            add_handler_time(took_ns);
        }
        b.failed_ns += took_ns;
        trip_if_needed(index, b);
        return false;
    }

    static std::uint64_t elapsed_ns(clock::time_point since) noexcept {
        return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - since).count());
    }

    // The shard's handler time, as a sliding window: past `time_horizon_ns` every sum is
    // halved, so the shares below weigh the latest second or two of handler time most.
    void add_handler_time(std::uint64_t ns) noexcept {
        handler_ns_ += ns;
        if (handler_ns_ > time_horizon_ns) {
            handler_ns_ /= 2;
            for (auto& b : breakers_) {
                b.failed_ns /= 2;
            }
        }
    }

    // The circuit breaker's three rules; the first that trips disables the handler in
    // every shard until the next reload.
    void trip_if_needed(std::size_t index, const breaker_state& b) {
        const auto& o = engine_->options;
        std::string reason;
        const auto failed_recently = static_cast<unsigned>(std::popcount(b.outcomes));
        if (b.consecutive >= o.max_consecutive_errors) {
            reason = fmt::format("{} consecutive errors", b.consecutive);
        } else if (o.max_error_share > 0 && failed_recently >= error_share_threshold_) {
            reason = fmt::format("{} of its last {} calls failed", failed_recently, breaker_window);
        } else if (o.max_failure_time_share > 0 && handler_ns_ >= min_observed_ns &&
                   static_cast<double>(b.failed_ns) >= o.max_failure_time_share * static_cast<double>(handler_ns_)) {
            reason = fmt::format("its failed calls took {:.0f}% of the shard's recent handler time",
                                 100.0 * static_cast<double>(b.failed_ns) / static_cast<double>(handler_ns_));
        } else {
            return;
        }
        engine_->disable_handler(*set_, index, reason, error_);
    }

    // One event for one campaign whose `on` or `unless` types hold the event's type.
    void evaluate(const campaign_hit& hit, event& ev, profile& p, bolt_context& ctx) {
        const std::size_t campaign = hit.campaign;
        const auto& spec = vm_->campaigns()[campaign];
        if (!spec.active_at(ev.ts())) {
            return;  // outside `active`: the campaign does not see the event
        }
        const std::size_t index = set_->updater_count + campaign;
        auto& c = (*counters_)[index];
        const std::string& timer_name = timer_names_[campaign];
        if (hit.unless) {
            // Only an event before the due time cancels: at the due time the timer has fired.
            if (const auto* t = p.timer(timer_name); t != nullptr && ev.ts() < t->due) {
                p.cancel_timer(timer_name);
                handler_counters::bump(c.timers_cancelled);
            }
        }
        if (!hit.on) {
            return;
        }
        if (killed_[campaign]) {
            handler_counters::bump(c.suppressed_kill);
            suppress(campaign, ev.ts(), suppression::kill_switch);
            return;
        }
        bool yes = true;
        if (spec.when != LUA_NOREF && (!run(index, spec.when, true, yes) || !yes)) {
            return;  // a pending timer stays as it is
        }
        if (spec.delayed()) {
            arm(campaign, ev, p, ctx.limits());
            return;
        }
        if (spec.segment != LUA_NOREF && (!run(index, spec.segment, false, yes) || !yes)) {
            return;
        }
        send(campaign, ev, ev.type(), false, p, ctx);
    }

    // A delayed campaign's `on` event passed `when`: its timer is (re)armed at ts + after.
    void arm(std::size_t campaign, const event& ev, profile& p, const profile_limits& limits) {
        const auto& spec = vm_->campaigns()[campaign];
        const std::size_t index = set_->updater_count + campaign;
        auto& c = (*counters_)[index];
        const std::string& name = timer_names_[campaign];
        if (at_timer_limit(p, name, limits, index, "the wait is not armed")) {
            return;
        }
        arm_timer(p, name, std::min(ev.ts(), max_event_ts - spec.after_ms) + spec.after_ms, ev, ev.type());
        handler_counters::bump(c.timers_armed);
    }

    // True (and counted as an error of the campaign) if arming `name` would pass max_timers.
    bool at_timer_limit(const profile& p, std::string_view name, const profile_limits& limits, std::size_t index,
                        std::string_view outcome) {
        if (p.timer(name) != nullptr || limits.max_timers == 0 || p.timers().size() < limits.max_timers) {
            return false;
        }
        const auto& spec = vm_->campaigns()[index - set_->updater_count];
        handler_counters::bump((*counters_)[index].errors);
        set_->record_error(index, fmt::format("{}: campaign '{}': the player holds {} pending timers, the profile "
                                              "limit max_timers ({}): {}",
                                              spec.where, spec.id, p.timers().size(), limits.max_timers, outcome));
        return true;
    }

    // Arms `name` at `due` for a trigger of `trigger_type`, remembering `ev` as the cause.
    void arm_timer(profile& p, std::string_view name, std::int64_t due, const event& ev, std::string_view trigger_type) {
        scratch_.clear();
        scratch_ += R"({"type":)";
        append_json_string(scratch_, trigger_type);
        scratch_ += '}';
        ref_.clear();
        append_event_ref(ref_, ev);
        p.set_timer(name, due, ev.id(), scratch_, ref_);
    }

    // A campaign's timer came due: its wait ended (`campaign:<id>`), or the quiet hours
    // it was deferred past (`quiet:<id>`). The runtime removed the timer already.
    void fire_due(std::size_t campaign, bool deferred, event& ev, profile& p, bolt_context& ctx) {
        const auto& spec = vm_->campaigns()[campaign];
        const std::size_t index = set_->updater_count + campaign;
        auto& c = (*counters_)[index];
        if (!deferred) {
            handler_counters::bump(c.timers_fired);
            // `active` holds for the firing too: a wait that ends at or after `to` sends nothing.
            if (!spec.active_at(ev.ts())) {
                handler_counters::bump(c.dropped_inactive);
                suppress(campaign, ev.ts(), suppression::schedule);
                return;
            }
        }
        if (killed_[campaign]) {
            handler_counters::bump(c.suppressed_kill);
            suppress(campaign, ev.ts(), suppression::kill_switch);
            return;
        }
        bool yes = true;
        // A deferred trigger passed its segment when it was first due.
        if (!deferred && spec.segment != LUA_NOREF && (!run(index, spec.segment, false, yes) || !yes)) {
            return;
        }
        // The trigger names the event that armed the wait: its type, in the timer's data.
        std::string_view type = ev.type();
        if (const auto* data = ev.field("data"); data != nullptr && data->IsObject()) {
            if (const auto it = data->FindMember("type"); it != data->MemberEnd() && it->value.IsString()) {
                type = {it->value.GetString(), it->value.GetStringLength()};
            }
        }
        send(campaign, ev, type, deferred, p, ctx);
    }

    // The guards every firing passes (cap, fatigue, quiet hours and rate at the event's
    // time), then the exposure: a trigger, or for the control arm a mark on the shadow
    // stream. `deferred`: the firing was deferred past quiet hours, which have ended.
    void send(std::size_t campaign, event& ev, std::string_view type, bool deferred, profile& p, bolt_context& ctx) {
        const auto& spec = vm_->campaigns()[campaign];
        const std::size_t index = set_->updater_count + campaign;
        auto& c = (*counters_)[index];
        const std::int64_t ts = ev.ts();
        // Guards. Dry-run campaigns keep their own history, so shadow caps behave as live
        // ones would without touching the live history.
        const std::string& key = history_key(campaign);
        if (spec.cap_per_player > 0) {
            const auto fired = spec.cap_every_ms > 0 ? p.triggers_since(key, ts - spec.cap_every_ms + 1)
                                                     : (p.triggers(key) != nullptr ? p.triggers(key)->total : 0);
            if (fired >= spec.cap_per_player) {
                handler_counters::bump(c.suppressed_cap);
                suppress(campaign, ts, suppression::cap);
                return;
            }
        }
        if (vm_->fatigue() && !spec.transactional && fatigued(spec.dry_run, p, ts)) {
            suppress(campaign, ts, suppression::fatigue);
            return;
        }
        if (spec.quiet && !deferred) {
            std::string_view zone;
            if (!spec.quiet->tz_attribute.empty()) {
                if (const auto* a = p.get(spec.quiet->tz_attribute); a != nullptr && std::holds_alternative<std::string>(*a)) {
                    zone = std::get<std::string>(*a);
                }
            }
            if (const auto verdict = quiet_until(*spec.quiet, zone, ts); verdict.until_ms) {
                // Deferred: the timer "quiet:<id>" sends it when they end, after the kill
                // switch, cap, fatigue and rate at that time.
                if (spec.quiet->defer &&
                    !at_timer_limit(p, quiet_names_[campaign], ctx.limits(), index, "the deferred trigger is dropped")) {
                    arm_timer(p, quiet_names_[campaign], *verdict.until_ms, ev, type);
                    handler_counters::bump(c.deferred_quiet);
                } else {
                    handler_counters::bump(c.dropped_quiet);
                    suppress(campaign, ts, suppression::quiet_hours);
                }
                return;
            }
        }
        if (spec.rate_per_second > 0 && !limiters_[campaign].take(clock::now())) {
            handler_counters::bump(c.suppressed_rate);
            suppress(campaign, ts, suppression::rate);
            return;
        }
        // An exposure. Whether the player is new to the campaign (ever, and today) is read
        // from the history before this firing joins it.
        const auto day = campaign_ledger::day_of(ts);
        bool first_ever = true;
        bool first_today = true;
        if (const auto* h = p.triggers(key); h != nullptr && h->total > 0) {
            first_ever = false;
            first_today = std::none_of(h->recent.begin(), h->recent.end(),
                                       [day](std::int64_t t) { return campaign_ledger::day_of(t) == day; });
        }
        const bool arms = spec.has_arms();
        const std::size_t arm = arms ? assign_arm(spec, ev.player()) : 1;
        const bool control = arm == 0;
        std::string_view content = spec.content_json;
        if (!spec.variants.empty() && !control && !spec.variants[arm - 1].content_json.empty()) {
            content = spec.variants[arm - 1].content_json;
        }
        // Both arms are recorded alike, so caps and fatigue treat them alike.
        p.record_trigger(key, ts, ctx.limits());
        const bool shadow = spec.dry_run || control;
        ctx.emit(ev, shadow ? stream::shadow : stream::main,
                 trigger_body(spec, ev, type, content, arms && !control ? arm_name(spec, arm) : std::string_view{}, control));
        handler_counters::bump(shadow ? c.shadow_triggers : c.triggers);
        std::lock_guard lock(ledger_->mutex);
        auto& d = tally(campaign, ts);
        ++(shadow ? d.shadow : d.triggers);
        if (spec.dry_run) {
            ++d.suppressed_by(suppression::dry_run);
        }
        if (arms) {
            ++d.arm(arm_name(spec, arm)).exposures;
        }
        if (!control) {
            slots_[campaign].campaign->players += first_ever ? 1 : 0;
            d.players += first_today ? 1 : 0;
        }
    }

    // True if the player has had `per_player` exposures of the script set's
    // non-transactional campaigns (live ones, or with `dry_run` the dry-run ones) with
    // times in (ts - every, ts].
    bool fatigued(bool dry_run, const profile& p, std::int64_t ts) const {
        const auto& rule = *vm_->fatigue();
        const std::int64_t low =
            ts < std::numeric_limits<std::int64_t>::min() + rule.every_ms ? std::numeric_limits<std::int64_t>::min() : ts - rule.every_ms;
        std::int64_t count = 0;
        for (const std::string* key : dry_run ? fatigue_dry_keys_ : fatigue_live_keys_) {
            if (const auto* h = p.triggers(*key)) {
                for (const auto t : h->recent) {
                    count += t > low && t <= ts ? 1 : 0;
                }
                if (count >= rule.per_player) {
                    return true;
                }
            }
        }
        return false;
    }

    // A goal event for `campaign`: the player's latest exposure at t converts if
    // t < ts <= t + within, it has not converted yet, and goal.when passes. Counted for
    // the player's arm on the day of the exposure, the cohort the conversion belongs to.
    // Goal events count whether or not the campaign is killed or inside `active`.
    void convert(std::size_t campaign, const event& ev, profile& p) {
        const auto& spec = vm_->campaigns()[campaign];
        const auto& goal = *spec.goal;
        const std::string& key = history_key(campaign);
        const auto* h = p.triggers(key);
        if (h == nullptr || h->total == 0 || h->converted == h->total || h->recent.empty()) {
            return;
        }
        const std::int64_t t = h->recent.back();
        const std::int64_t end =
            t > std::numeric_limits<std::int64_t>::max() - goal.within_ms ? std::numeric_limits<std::int64_t>::max() : t + goal.within_ms;
        if (!(t < ev.ts() && ev.ts() <= end)) {
            return;
        }
        bool yes = true;
        if (goal.when != LUA_NOREF && (!run(set_->updater_count + campaign, goal.when, true, yes) || !yes)) {
            return;
        }
        if (!p.mark_converted(key)) {
            return;
        }
        const auto arm = assign_arm(spec, ev.player());
        std::lock_guard lock(ledger_->mutex);
        ++tally(campaign, t).arm(arm_name(spec, arm)).conversions;
    }

    // The history a campaign's firings are recorded under: its id, or "dry_run:<id>".
    const std::string& history_key(std::size_t campaign) const {
        const auto& spec = vm_->campaigns()[campaign];
        return spec.dry_run ? dry_keys_[campaign] : spec.id;
    }

    // Counts a suppressed firing of `campaign` at `ts`.
    void suppress(std::size_t campaign, std::int64_t ts, suppression reason) {
        std::lock_guard lock(ledger_->mutex);
        ++tally(campaign, ts).suppressed_by(reason);
    }

    // The shard's delta tally of `campaign` on the day of `ts`; the caller holds the
    // ledger's mutex. The addresses are kept per campaign until the day or the ledger's
    // epoch changes, so the usual firing costs no map lookup.
    day_tally& tally(std::size_t campaign, std::int64_t ts) {
        auto& slot = slots_[campaign];
        const auto day = campaign_ledger::day_of(ts);
        if (slot.campaign == nullptr || slot.epoch != ledger_->epoch) {
            slot.campaign = &ledger_->delta.campaign(vm_->campaigns()[campaign].id);
            slot.epoch = ledger_->epoch;
            slot.today = nullptr;
        }
        if (slot.today == nullptr || slot.day != day) {
            slot.today = &slot.campaign->days[day];
            slot.day = day;
        }
        return *slot.today;
    }

    // Valid JSON whatever the bytes: ill-formed UTF-8 becomes U+FFFD (core/json_text.hpp).
    static void append_json_string(std::string& out, std::string_view s) { rtcrm::append_json_string(out, s); }

    void refresh_kill_switch() {
        const auto version = engine_->kill_version.load(std::memory_order_acquire);
        if (version == kill_version_) {
            return;
        }
        kill_version_ = version;
        const auto killed = engine_->killed_snapshot();
        for (std::size_t i = 0; i < killed_.size(); ++i) {
            killed_[i] = killed.find(vm_->campaigns()[i].id) != killed.end();
        }
    }

    void swap_if_changed() {
        const auto version = engine_->version.load(std::memory_order_acquire);
        if (vm_ && version == version_) {
            return;
        }
        auto set = engine_->snapshot();
        if (!set) {
            return;
        }
        std::unique_ptr<vm> fresh;
        try {
            fresh = vm::build(set->scripts, engine_->options);
        } catch (const script_error& e) {
            // The set loaded when it was checked; if this shard cannot build it (memory),
            // it keeps running the old one and says so once per version.
            last_swap_error_ = e.what();
            version_ = version;
            detail::log_fmt(log_level::error, "lua", "shard {} keeps script set {}: {}", shard_,
                            set_ ? set_->version : 0, e.what());
            return;
        }
        std::unique_lock lock(swap_mutex_);
        vm_ = std::move(fresh);
        set_ = std::move(set);
        version_ = set_->version;
        counters_ = set_->attach();
        breakers_.assign(set_->handlers.size(), breaker_state{});
        handler_ns_ = 0;
        error_share_threshold_ = static_cast<unsigned>(
            std::max(1.0, std::ceil(engine_->options.max_error_share * static_cast<double>(breaker_window))));
        const auto& updaters = vm_->updaters();
        const auto& campaigns = vm_->campaigns();
        dispatch_.build(updaters, campaigns);

        slots_.assign(campaigns.size(), ledger_slot{});
        campaign_index_.clear();
        timer_names_.clear();
        quiet_names_.clear();
        for (std::size_t i = 0; i < campaigns.size(); ++i) {
            campaign_index_.emplace(campaigns[i].id, i);
            timer_names_.push_back(std::string{campaign_timer_prefix} + campaigns[i].id);
            quiet_names_.push_back(std::string{quiet_timer_prefix} + campaigns[i].id);
        }
        killed_.assign(campaigns.size(), false);
        kill_version_ = ~std::uint64_t{0};
        refresh_kill_switch();
        limiters_.assign(campaigns.size(), rate_limiter{});
        dry_keys_.clear();
        const auto shards = engine_->options.shards_hint > 0 ? engine_->options.shards_hint : shards_;
        for (std::size_t i = 0; i < campaigns.size(); ++i) {
            // The campaign's rate is shared evenly by the shards.
            auto& l = limiters_[i];
            l.rate = campaigns[i].rate_per_second / static_cast<double>(std::max<std::uint32_t>(shards, 1));
            l.burst = std::max(1.0, l.rate);
            l.tokens = l.burst;
            dry_keys_.push_back("dry_run:" + campaigns[i].id);
        }
        fatigue_live_keys_.clear();
        fatigue_dry_keys_.clear();
        for (std::size_t i = 0; i < campaigns.size(); ++i) {
            if (!campaigns[i].transactional) {
                (campaigns[i].dry_run ? fatigue_dry_keys_ : fatigue_live_keys_).push_back(&history_key(i));
            }
        }
    }

    std::shared_ptr<engine_state> engine_;
    std::uint32_t shard_;
    std::uint32_t shards_;
    std::unique_ptr<vm> vm_;
    std::shared_ptr<script_set> set_;
    std::uint64_t version_ = 0;
    std::vector<handler_counters>* counters_ = nullptr;
    std::vector<breaker_state> breakers_;
    std::uint64_t handler_ns_ = 0;            // the shard's recent handler time (see add_handler_time)
    unsigned error_share_threshold_ = 0;      // failures among the last breaker_window calls that trip
    std::atomic<std::size_t> active_handler_{0};  // index + 1 of the handler running now, 0 if none
    mutable std::mutex swap_mutex_;           // held to swap sets, and by activity() to read them
    dispatch_table dispatch_;
    std::vector<bool> killed_;
    std::uint64_t kill_version_ = 0;
    std::vector<rate_limiter> limiters_;
    std::vector<std::string> dry_keys_;
    // The history keys crm.fatigue counts: the non-transactional campaigns', live and dry run.
    std::vector<const std::string*> fatigue_live_keys_;
    std::vector<const std::string*> fatigue_dry_keys_;
    // This shard's ledger, and per campaign the tallies last counted into (see tally()).
    shard_ledger* ledger_;
    struct ledger_slot {
        std::uint64_t epoch = 0;
        std::int64_t day = 0;
        campaign_tally* campaign = nullptr;
        day_tally* today = nullptr;
    };
    std::vector<ledger_slot> slots_;
    std::unordered_map<std::string, std::size_t, string_hash, std::equal_to<>> campaign_index_;  // id -> index
    std::vector<std::string> timer_names_;  // "campaign:<id>" per campaign
    std::vector<std::string> quiet_names_;  // "quiet:<id>" per campaign
    std::string scratch_;                   // a timer's data, built in place
    std::string ref_;                       // a timer's arming reference, built in place
    std::uint64_t calls_ = 0;
    std::string error_;
    std::string last_swap_error_;
};

}  // namespace

void engine_state::adopt_base(const std::shared_ptr<const stored_tallies>& tallies) {
    std::lock_guard lock(mutex);
    if (adopted_tallies == tallies) {
        return;  // the same runtime's other shards
    }
    adopted_tallies = tallies;
    base.clear();
    for (const auto& [name, value] : *tallies) {
        base.add_tally(name, value);
    }
    for (auto& shard : ledgers) {
        std::lock_guard shard_lock(shard.mutex);
        shard.committed.clear();
        shard.delta.clear();
        ++shard.epoch;
    }
}

bolt_factory make_crm_bolt_factory(std::shared_ptr<engine_state> state) {
    return [state = std::move(state)](const bolt_placement& where) -> std::unique_ptr<bolt> {
        if (where.stored_tallies) {
            state->adopt_base(where.stored_tallies);
        }
        return std::make_unique<crm_bolt>(state, where.worker, where.workers);
    };
}

}  // namespace rtcrm::detail::lua
