#include "shard_stage.hpp"

#include "dead_letter.hpp"
#include "stage_context.hpp"

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
      profiles_(options, std::move(store), committer, counters_, activity_) {}

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
        auto parsed = parse_event(std::move(r.rec), options_->parse);
        if (!parsed) {
            dead_letter_record(r.rec, parsed.error(), std::move(r.ack), *source_names_, outputs_, counters_);
            continue;
        }
        parsed->set_ack(std::move(r.ack));
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
    context_->run(bolts_, batch, shard_activity::part::shard_bolt);
    for (auto& ev : batch) {
        auto& entry = profiles_.at(ev.player());
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
    const activity_scope step(&activity_, shard_activity::part::finishing);
    tick(std::chrono::steady_clock::now());
    profiles_.finish();
}

}  // namespace rtcrm::detail
