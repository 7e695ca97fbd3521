#include "shard_stage.hpp"

#include "dead_letter.hpp"
#include "stage_context.hpp"
#include "timer_event.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace rtcrm::detail {

class shard_stage::context final : public stage_context {
public:
    context(shard_stage& owner, const std::vector<std::string>& source_names)
        : stage_context(owner.index_, *owner.options_, source_names, owner.outputs_, owner.counters_, &owner.activity_),
          owner_(&owner) {}

    profile* profile_of(const event& ev) override {
        if (!profiles_open_) {
            return nullptr;  // ingest bolts run before profiles are loaded
        }
        auto* entry = owner_->profiles_.find_entry(ev.player());
        if (entry == nullptr) {
            return nullptr;  // not an event of this shard's batch
        }
        owner_->profiles_.mark_dirty(*entry);
        return &entry->p;
    }

    // Ingest bolts get no profiles (as documented), even for players already cached.
    void open_profiles(bool open) noexcept { profiles_open_ = open; }

private:
    shard_stage* owner_;
    bool profiles_open_ = true;
};

shard_stage::shard_stage(std::uint32_t index, const runtime_options& options,
                         std::vector<std::unique_ptr<bolt>> ingest_bolts, std::vector<std::unique_ptr<bolt>> bolts,
                         const sink_table& sinks, const std::vector<std::string>& source_names,
                         std::shared_ptr<profile_store> store, store_committer* committer)
    : index_(index),
      options_(&options),
      ingest_bolts_(std::move(ingest_bolts)),
      bolts_(std::move(bolts)),
      sinks_(&sinks),
      source_names_(&source_names),
      outputs_(sinks, counters_, &activity_),
      context_(std::make_unique<context>(*this, source_names)),
      profiles_(options, std::move(store), committer, counters_, activity_),
      wall_clock_(options.timer_clock == timer_clock_mode::wall) {
    if (profiles_.store().keeps_tallies()) {
        // On this shard's thread, right before each write-back: the shard bolts' counter
        // changes go to the store in the commit of the profile changes they came with.
        profiles_.take_tallies_from([this](std::vector<tally>& out) {
            for (const auto& b : bolts_) {
                b->take_tallies(out);
            }
        });
    }
}

shard_stage::~shard_stage() = default;

void shard_stage::load_profiles(std::vector<event>& batch) {
    const auto loaded = profiles_.load(batch);
    if (loaded) {
        return;
    }
    // Never invent empty profiles over stored ones: the events of these players are
    // dead-lettered (retriable store errors can be replayed from there).
    stage_counters::bump(counters_.store_errors);
    const auto reason = fmt::format("profile store {}: {}", profiles_.store().name(), loaded.error().reason);
    retain_if(batch, [&](event& ev, std::size_t) {
        if (profiles_.at(ev.player()).loading) {
            context_->reject(ev, errc::store_error, reason);
            return false;
        }
        return true;
    });
    profiles_.forget_failed_load();
    outputs_.dispatch();
}

void shard_stage::expire_profiles(const std::vector<event>& batch) {
    std::int64_t newest = counters_.newest_event_ts.load(std::memory_order_relaxed);
    for (const auto& ev : batch) {
        newest = std::max(newest, ev.ts());
    }
    counters_.newest_event_ts.store(newest, std::memory_order_relaxed);
    if (!options_->expiry.enabled()) {
        return;
    }
    // Judged at the event's own time, once per player per batch (by its first event), so
    // the answer does not depend on when the background sweep last ran.
    for (const auto& ev : batch) {
        auto& entry = profiles_.at(ev.player());
        if (entry.p.last_event_ts() == 0 || entry.p.last_event_ts() >= ev.ts()) {
            continue;  // new, or already judged in this batch (or an out-of-order event)
        }
        if (apply_expiry(entry.p, options_->expiry, ev.ts()) == expiry_verdict::expired) {
            entry.p = profile{ev.player()};
            stage_counters::bump(counters_.expired);
        }
    }
}

void shard_stage::process(router::batch& records) {
    const activity_scope step(&activity_, shard_activity::part::batch);
    if (profiles_.quarantined()) {
        // Not applied, not committed: they come again after a restart (see quarantined()).
        for (auto& r : records) {
            r.ack.nack(make_error_code(errc::conflict));
        }
        records.clear();
        return;
    }
    // Events of a partition given up meanwhile (a rebalance that did not wait for them):
    // its new owner reads them again, and a profile written here now could land over
    // that owner's.
    std::erase_if(records, [](routed_record& r) {
        if (!r.ack.given_up()) {
            return false;
        }
        r.ack.nack(make_error_code(errc::stopped));
        return true;
    });
    auto& batch = events_;
    batch.clear();
    for (auto& r : records) {
        clock_ = std::max(clock_, r.watermark);
        if (r.clock_only) {
            continue;
        }
        auto parsed = parse_event(std::move(r.rec), options_->parse);
        if (!parsed) {
            dead_letter_record(r.rec, parsed.error(), std::move(r.ack), *source_names_, outputs_, counters_);
            continue;
        }
        parsed->set_ack(std::move(r.ack));
        // A record without its source's clock (runtime::submit, or before any usable `ts`)
        // brings its own time.
        const auto clock = r.watermark != no_watermark
                               ? r.watermark
                               : parsed->ts() - std::min<std::int64_t>(options_->timer_lateness.count(), parsed->ts());
        clock_ = std::max(clock_, clock);
        timer_event_access::set_clock(parsed.value(), clock);
        batch.push_back(std::move(parsed).value());
    }
    records.clear();
    context_->open_profiles(false);
    // Validation and filters: no profile needed yet.
    context_->run(ingest_bolts_, batch, shard_activity::part::ingest_bolt);
    context_->open_profiles(true);
    load_profiles(batch);
    expire_profiles(batch);
    skip_applied(batch);
    run_shard_bolts(batch);
    for (auto& ev : batch) {
        auto& entry = profiles_.at(ev.player());
        profiles_.note_timers(entry);
        if (options_->record_history) {
            entry.p.record_event(ev.type(), ev.ts(), ev.id(), options_->limits);
        } else {
            entry.p.touch(ev.ts());
        }
        if (ev.origin().resumable) {
            entry.p.mark_applied((*source_names_)[ev.origin().source], ev.origin().partition, ev.origin().offset);
        }
        profiles_.mark_dirty(entry);
    }
    stage_counters::bump(counters_.processed, batch.size());
    outputs_.dispatch();
    const auto handed_over = steady_now_ns();  // one clock read per batch
    for (const auto& ev : batch) {
        counters_.event_latency.record(handed_over - ev.ingest_ns());
    }
    // Outputs hold their own shares now; the events' own shares complete them, at once
    // with a volatile store, or once the group commit holding their effects is durable.
    for (auto& ev : batch) {
        profiles_.complete(ev.ack());
    }
    batch.clear();
    profiles_.after_batch();
    stage_counters::set(counters_.cached, profiles_.size());
    counters_.timer_clock.store(clock_, std::memory_order_relaxed);
}

void shard_stage::run_shard_bolts(std::vector<event>& batch) {
    // Cut before each event whose player already has one in the current run of bolts.
    cuts_.clear();
    ++segment_;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto& entry = profiles_.at(batch[i].player());
        if (entry.segment == segment_) {
            cuts_.push_back(i);
            ++segment_;
        }
        entry.segment = segment_;
    }
    cuts_.push_back(batch.size());
    // Each event's player has no other event in its run, and its earlier events ran in
    // earlier runs: its due timers fire now, before its run.
    auto fire_for = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) {
            auto& entry = profiles_.at(batch[i].player());
            const auto clock = timer_event_access::clock(batch[i]);
            const auto due = entry.p.next_timer_due();
            if (due && *due <= clock) {
                fire_player_timers(entry, clock);
            }
        }
    };
    if (cuts_.size() == 1) {
        fire_for(0, batch.size());
        context_->run(bolts_, batch, shard_activity::part::shard_bolt);
        return;
    }
    live_.clear();
    std::size_t start = 0;
    for (const auto end : cuts_) {
        fire_for(start, end);
        run_.clear();
        for (std::size_t i = start; i < end; ++i) {
            run_.push_back(std::move(batch[i]));
        }
        context_->run(bolts_, run_, shard_activity::part::shard_bolt);
        for (auto& ev : run_) {
            live_.push_back(std::move(ev));
        }
        start = end;
    }
    batch.swap(live_);
    live_.clear();
}

const pending_timer* shard_stage::next_timer(const profile& p) const {
    const pending_timer* best = nullptr;
    std::size_t best_rank = 0;
    for (const auto& t : p.timers()) {
        std::size_t rank = SIZE_MAX;
        for (const auto& b : bolts_) {
            if (const auto r = b->timer_rank(t.name)) {
                rank = *r;
                break;
            }
        }
        if (best == nullptr || t.due < best->due ||
            (t.due == best->due && (rank < best_rank || (rank == best_rank && t.name < best->name)))) {
            best = &t;
            best_rank = rank;
        }
    }
    return best;
}

bool shard_stage::fire_player_timers(profile_cache::entry& e, std::int64_t until) {
    // A handler that re-arms its own timer at or before the clock would fire forever:
    // past this many firings for one player at one time, the rest wait for the next round.
    constexpr int max_firings = 1000;
    for (int fired = 0; fired < max_firings; ++fired) {
        const auto* next = next_timer(e.p);
        if (next == nullptr || next->due > until) {
            profiles_.note_timers(e);
            return true;
        }
        const auto timer = *next;
        e.p.cancel_timer(timer.name);  // before the handlers run, so they may arm it again
        profiles_.mark_dirty(e);
        timer_events_.clear();
        timer_events_.push_back(make_timer_event(e.p.key(), timer, options_->parse));
        context_->run(bolts_, timer_events_, shard_activity::part::shard_bolt);
        stage_counters::bump(counters_.timers_fired);
    }
    profiles_.note_timers(e);
    return false;
}

void shard_stage::load_due_from_store(std::size_t limit) {
    if (const auto left = profiles_.take_left_due()) {
        store_next_due_ = std::min(store_next_due_, *left);
    }
    if (clock_ == no_watermark || store_next_due_ > clock_) {
        return;
    }
    const auto shards = options_->resolved_shards();
    const auto mine = [&](const player_key& key) { return key.shard(shards) == index_ && profiles_.find_entry(key) == nullptr; };
    auto page = profiles_.store().due_timers(clock_, store_cursor_, limit, mine);
    if (!page) {
        stage_counters::bump(counters_.store_errors);
        return;  // asked again at the next round
    }
    if (page->more) {
        store_cursor_ = page->entries.back();
    } else {
        store_cursor_.reset();
        store_next_due_ = page->next_due.value_or(INT64_MAX);
    }
    std::vector<player_key> keys;
    keys.reserve(page->entries.size());
    for (auto& entry : page->entries) {
        keys.push_back(std::move(entry.key));
    }
    if (!keys.empty() && !profiles_.load_keys(keys)) {
        stage_counters::bump(counters_.store_errors);
        profiles_.forget_failed_load();
        store_next_due_ = INT64_MIN;  // ask again
        store_cursor_.reset();
    }
}

bool shard_stage::fire_due_timers(std::size_t limit) {
    if (wall_clock_) {
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        clock_ = std::max(clock_, now - options_->timer_lateness.count());
    }
    if (clock_ == no_watermark || profiles_.quarantined()) {
        return false;  // quarantined: nothing more is applied until a restart (see process())
    }
    const activity_scope step(&activity_, shard_activity::part::batch);
    load_due_from_store(limit);
    due_.clear();
    profiles_.due_players(clock_, limit, due_);
    for (auto* e : due_) {
        fire_player_timers(*e, clock_);
    }
    if (!due_.empty()) {
        outputs_.dispatch();
        profiles_.after_batch();
        stage_counters::set(counters_.cached, profiles_.size());
    }
    counters_.timer_clock.store(clock_, std::memory_order_relaxed);
    const auto next = profiles_.next_cached_due();
    return (next && *next <= clock_) || store_next_due_ <= clock_;
}

void shard_stage::skip_applied(std::vector<event>& batch) {
    // After a crash, a resumable source replays from its last stored position; events
    // that already reached a stored profile are skipped, so no update is applied twice.
    retain_if(batch, [&](event& ev, std::size_t) {
        if (ev.origin().resumable &&
            profiles_.at(ev.player()).p.applied((*source_names_)[ev.origin().source], ev.origin().partition,
                                                ev.origin().offset)) {
            stage_counters::bump(counters_.replayed);
            ev.ack().ack();
            return false;
        }
        return true;
    });
}

void shard_stage::tick(std::chrono::steady_clock::time_point now) {
    const activity_scope step(&activity_, shard_activity::part::bolt_tick);
    std::uint32_t k = 0;
    for (auto* group : {&ingest_bolts_, &bolts_}) {
        for (auto& b : *group) {
            activity_.at(shard_activity::part::bolt_tick, k++);
            b->tick();
        }
    }
    outputs_.dispatch();
    for (std::size_t stream = 0; stream < sinks_->size(); ++stream) {
        const auto& sinks = (*sinks_)[stream];
        for (std::size_t i = 0; i < sinks.size(); ++i) {
            activity_.at(shard_activity::part::sink_flush, shard_activity::sink_index(stream, i));
            sinks[i]->flush();
        }
    }
    profiles_.maybe_write_back(now);
}

void shard_stage::finish() {
    // Every timer due by the final clock fires before the shard stops; later ones stay
    // pending, stored with their profiles.
    for (;;) {
        const auto fired = counters_.timers_fired.load(std::memory_order_relaxed);
        const auto cursor = store_cursor_;
        const auto store_next = store_next_due_;
        if (!fire_due_timers(options_->timer_batch)) {
            break;
        }
        if (fired == counters_.timers_fired.load(std::memory_order_relaxed) && cursor == store_cursor_ &&
            store_next == store_next_due_) {
            break;  // no progress (a failing store, a handler re-arming without end): stop anyway
        }
    }
    const activity_scope step(&activity_, shard_activity::part::finishing);
    tick(std::chrono::steady_clock::now());
    profiles_.finish();
}

}  // namespace rtcrm::detail
