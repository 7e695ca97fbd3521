#include "profile_cache.hpp"

#include <algorithm>

namespace rtcrm::detail {
namespace {

// Profiles copied into a volatile store per write-back step, while the shard is idle (see
// write_back_while_idle) or at a tick (see maybe_write_back). A copy costs ~1-3 us (the
// history ring included), so a step holds an event that arrives meanwhile ~0.1-0.2 ms.
constexpr std::size_t idle_write_back_chunk = 32;
constexpr std::size_t tick_write_back_chunk = 64;

}  // namespace

profile_cache::profile_cache(const runtime_options& options, std::shared_ptr<profile_store> store,
                             store_committer* committer, stage_counters& counters, shard_activity& activity)
    : options_(&options),
      store_(std::move(store)),
      counters_(&counters),
      activity_(&activity),
      committer_(committer),
      durable_(store_->durable()) {
    next_write_back_ = std::chrono::steady_clock::now() + (durable_ ? options.durable_store_interval : options.store_interval);
}

void profile_cache::admit(const player_key& key) {
    auto [it, inserted] = cache_.try_emplace(key);
    if (inserted) {
        it->second.loading = true;
        missing_.push_back(key);
        lru_.push_front(&it->first);
        it->second.lru = lru_.begin();
    } else {
        lru_.splice(lru_.begin(), lru_, it->second.lru);  // most recently used
    }
}

result<void> profile_cache::load(const std::vector<event>& batch) {
    missing_.clear();
    for (const auto& ev : batch) {
        admit(ev.player());
    }
    return fetch_missing();
}

result<void> profile_cache::load_keys(std::span<const player_key> keys) {
    missing_.clear();
    for (const auto& key : keys) {
        admit(key);
    }
    return fetch_missing();
}

result<void> profile_cache::fetch_missing() {
    if (missing_.empty()) {
        return {};
    }
    loaded_.assign(missing_.size(), std::nullopt);
    {
        const activity_scope in_store(activity_, shard_activity::part::loading_profiles);
        if (auto got = store_->get(missing_, loaded_); !got) {
            return got;
        }
    }
    for (std::size_t i = 0; i < missing_.size(); ++i) {
        auto& e = cache_.find(missing_[i])->second;
        e.loading = false;
        e.p = loaded_[i] ? std::move(*loaded_[i]) : profile{missing_[i]};
        note_timers(e);
    }
    return {};
}

void profile_cache::reindex_timers(entry& e, std::optional<std::int64_t> due) {
    const player_key* key = *e.lru;  // the key's node in cache_, as lru_ holds it
    if (e.timer_due) {
        timers_.erase({*e.timer_due, key});
    }
    if (due) {
        timers_.emplace(*due, key);
    }
    e.timer_due = due;
}

void profile_cache::due_players(std::int64_t until, std::size_t n, std::vector<entry*>& out) {
    for (auto it = timers_.begin(); it != timers_.end() && it->first <= until && n > 0; ++it, --n) {
        out.push_back(&cache_.find(*it->second)->second);
    }
}

std::optional<std::int64_t> profile_cache::next_cached_due() const {
    return timers_.empty() ? std::nullopt : std::optional{timers_.begin()->first};
}

void profile_cache::erase(std::unordered_map<player_key, entry>::iterator it) {
    if (it->second.timer_due) {
        timers_.erase({*it->second.timer_due, &it->first});
        left_due_ = std::min(left_due_.value_or(*it->second.timer_due), *it->second.timer_due);
    }
    lru_.erase(it->second.lru);
    cache_.erase(it);
}

void profile_cache::forget_failed_load() {
    for (const auto& key : missing_) {
        forget(key);
    }
}

void profile_cache::forget(const player_key& key) {
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
        erase(it);
    }
}

void profile_cache::after_batch() {
    // A durable store writes them all (acks wait for it). A volatile one never writes
    // after a batch, and store_max_batch does not apply to it: its rounds come every
    // store_interval and are copied while the shard idles and a chunk per tick
    // (write_back_while_idle, maybe_write_back). Writing whenever store_max_batch
    // profiles are dirty would copy without pause once more players than that are
    // active (about a profile copy per processed event, more than the event itself),
    // and hold the events behind each copy.
    if (durable_ && dirty_.size() >= options_->store_max_batch) {
        write_back();
    }
    evict_to_bound();
}

void profile_cache::evict_to_bound() {
    const auto bound = options_->cache_max_profiles;
    if (bound == 0 || cache_.size() <= bound) {
        return;
    }
    // Only clean profiles may leave: write the dirty ones first (one group commit). Evict
    // down to 90% of the bound, so a full cache does not cost a write-back per batch.
    write_back();
    const auto target = bound - bound / 10;
    while (cache_.size() > target && !lru_.empty()) {
        const player_key* key = lru_.back();
        const auto it = cache_.find(*key);
        if (it->second.dirty || it->second.loading ||
            (committer_ != nullptr && it->second.commit_seq > committer_->durable_through())) {
            break;  // not in the store yet: keep everything from here until it is
        }
        erase(it);
        stage_counters::bump(counters_->evicted);
    }
}

void profile_cache::maybe_write_back(std::chrono::steady_clock::time_point now) {
    if (durable_) {
        if (now >= next_write_back_) {
            write_back();
            next_write_back_ = now + options_->durable_store_interval;
        }
        return;
    }
    // A volatile store gets each round (what was dirty when it began) spread evenly over
    // the first half of the interval, in small chunks: while the shard has nothing else
    // to do (write_back_while_idle), or at a tick if the round is behind, so it also ends
    // under full load. Copying a round at once (or 256 profiles per tick) would hold the
    // events behind it ~0.7 ms; copying it as fast as idle moments allow would keep a
    // core busy for ~15 ms a second, which a host's threads wait for.
    if (round_left_ == 0) {
        if (now < next_write_back_) {
            return;
        }
        begin_round(now);
    }
    write_round_chunk(std::min(round_owed(now), tick_write_back_chunk));
}

void profile_cache::begin_round(std::chrono::steady_clock::time_point now) {
    round_size_ = round_left_ = dirty_.size();
    round_started_ = now;
}

std::size_t profile_cache::round_owed(std::chrono::steady_clock::time_point now) const {
    const auto spread = std::chrono::duration<double>(options_->store_interval) / 2;
    const auto elapsed = std::chrono::duration<double>(now - round_started_);
    const auto due = elapsed >= spread
                         ? round_size_
                         : static_cast<std::size_t>(static_cast<double>(round_size_) * (elapsed / spread));
    const auto written = round_size_ - round_left_;
    return due > written ? due - written : 0;
}

void profile_cache::write_round_chunk(std::size_t chunk) {
    const auto n = std::min({round_left_, chunk, dirty_.size()});
    write_dirty(n);
    round_left_ = n < round_left_ && !dirty_.empty() ? round_left_ - n : 0;
    if (round_left_ == 0) {
        next_write_back_ = round_started_ + options_->store_interval;
    }
}

bool profile_cache::write_back_while_idle() {
    if (durable_ || round_left_ == 0) {
        return false;
    }
    const activity_scope step(activity_, shard_activity::part::storing);
    const auto now = std::chrono::steady_clock::now();
    const auto owed = round_owed(now);
    if (owed == 0) {
        return false;  // ahead of the round's schedule
    }
    write_round_chunk(std::min(owed, idle_write_back_chunk));
    return round_left_ > 0 && round_owed(now) > 0;
}

void profile_cache::collect_tallies() {
    if (!tally_source_) {
        return;
    }
    const auto carried = tallies_.size();
    tally_source_(tallies_);
    if (carried == 0 || tallies_.size() == carried) {
        return;
    }
    // Changes carried over a failed write and new ones: one entry per name, so retries
    // against a failing store do not grow the batch without bound.
    std::sort(tallies_.begin(), tallies_.end(), [](const tally& a, const tally& b) { return a.first < b.first; });
    std::size_t kept = 0;
    for (std::size_t i = 0; i < tallies_.size(); ++i) {
        if (kept > 0 && tallies_[kept - 1].first == tallies_[i].first) {
            tallies_[kept - 1].second = static_cast<std::int64_t>(static_cast<std::uint64_t>(tallies_[kept - 1].second) +
                                                                  static_cast<std::uint64_t>(tallies_[i].second));
        } else {
            if (kept != i) {
                tallies_[kept] = std::move(tallies_[i]);
            }
            ++kept;
        }
    }
    tallies_.resize(kept);
}

void profile_cache::write_back() {
    if (committer_ != nullptr) {
        // Off this thread: the committer writes (merging the shards' batches), then acks.
        // The tallies are taken with the profiles: together they hold every event so far.
        collect_tallies();
        if (dirty_.empty() && pending_acks_.empty() && tallies_.empty()) {
            return;
        }
        const activity_scope in_store(activity_, shard_activity::part::storing);
        write_batch batch;
        batch.profiles.reserve(dirty_.size());
        for (auto* c : dirty_) {
            batch.profiles.push_back(c->p);
        }
        batch.tallies.swap(tallies_);  // the committer retries a failed write whole: they go once
        last_submitted_ = committer_->submit(std::move(batch), std::move(pending_acks_));
        for (auto* c : dirty_) {
            c->dirty = false;
            c->commit_seq = last_submitted_;
            c->p.set_stored_version(c->p.stored_version() + 1);  // what a conditional store now holds
        }
        dirty_.clear();
        pending_acks_.clear();
        return;
    }
    write_dirty(dirty_.size());
}

void profile_cache::write_dirty(std::size_t n) {
    collect_tallies();
    if (n > 0 || !tallies_.empty()) {
        const auto first = dirty_.begin();
        const auto last = first + static_cast<std::ptrdiff_t>(n);
        write_batch batch;
        batch.profiles.reserve(n);
        for (auto it = first; it != last; ++it) {
            batch.profiles.push_back((*it)->p);
        }
        batch.tallies.swap(tallies_);
        const activity_scope in_store(activity_, shard_activity::part::storing);
        if (!store_->write(batch)) {
            // Keep them dirty, and the tallies for the next write: it retries.
            stage_counters::bump(counters_->store_errors);
            tallies_.swap(batch.tallies);
            return;
        }
        for (auto it = first; it != last; ++it) {
            (*it)->dirty = false;
            (*it)->p.set_stored_version((*it)->p.stored_version() + 1);
        }
        dirty_.erase(first, last);  // the oldest first: the order they became dirty
    }
    if (dirty_.empty()) {
        // Every pending event's effects were in the profiles written. (Only a durable
        // store without a committer has pending acks, and it always writes them all.)
        for (auto& ack : pending_acks_) {
            ack.ack();
        }
        pending_acks_.clear();
    }
}

void profile_cache::finish() {
    write_back();
    activity_->at(shard_activity::part::finishing);
    if (committer_ != nullptr && !committer_->wait_for(last_submitted_, options_->drain_timeout)) {
        stage_counters::bump(counters_->store_errors);
    }
    activity_->at(shard_activity::part::storing);
    if (!store_->flush()) {
        stage_counters::bump(counters_->store_errors);
    }
}

void profile_cache::for_each_dirty(const std::function<void(const profile&)>& visit) const {
    for (const auto* c : dirty_) {
        visit(c->p);
    }
}

void profile_cache::forget_partitions(std::string_view source, std::span<const std::int32_t> partitions) {
    forget_where([&](const profile& p) {
        return std::any_of(p.applied_positions().begin(), p.applied_positions().end(), [&](const applied_position& a) {
            return a.source == source && std::find(partitions.begin(), partitions.end(), a.partition) != partitions.end();
        });
    });
}

void profile_cache::forget_where(const std::function<bool(const profile&)>& which) {
    auto unwritten = [&](const entry& e) {
        return e.dirty || (committer_ != nullptr && e.commit_seq > committer_->durable_through());
    };
    std::vector<const player_key*> going;
    bool write_first = false;
    for (const auto& [key, e] : cache_) {
        if (!e.loading && which(e.p)) {
            going.push_back(&key);
            write_first = write_first || unwritten(e);
        }
    }
    if (going.empty()) {
        return;
    }
    if (write_first) {
        write_back();
        if (committer_ != nullptr) {
            const activity_scope in_store(activity_, shard_activity::part::storing);
            if (!committer_->wait_for(last_submitted_, options_->drain_timeout)) {
                stage_counters::bump(counters_->store_errors);
            }
        }
    }
    for (const auto* key : going) {
        const auto it = cache_.find(*key);
        if (unwritten(it->second)) {
            continue;  // not in the store: keep it rather than read an older copy later
        }
        erase(it);
    }
}

const profile* profile_cache::find(const player_key& key) const {
    const auto it = cache_.find(key);
    return it == cache_.end() || it->second.loading ? nullptr : &it->second.p;
}

}  // namespace rtcrm::detail
