// Internal: a shard's profiles and their way back to the store.
//
// The cache holds the profiles of the players the shard has seen (a bound evicts the
// least recently used clean ones) and remembers which are dirty. Dirty profiles go back:
// - to a durable store through the store_committer (group commit over all shards), past
//   store_max_batch dirty profiles or every durable_store_interval; the events' own acks
//   wait for the commit that holds their effects;
// - to a volatile store in rounds every store_interval, copied in small chunks while the
//   shard idles or at a tick, so a round never holds the events behind it for long.
// With a store that keeps tallies, each write-back also carries the counter changes the
// shard's bolts made (take_tallies_from): in the durable path, one submission holds every
// dirty profile, every pending ack and every tally change up to that moment, so the store
// commits the counters with exactly the profile changes they came from.
//
// Shard thread only, like the shard_stage that owns it; the per-event calls (at,
// find_entry, mark_dirty, complete) are inline.
#pragma once

#include "shard_activity.hpp"
#include "stage_counters.hpp"
#include "store_committer.hpp"

#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/event.hpp>
#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/profile_store.hpp>
#include <rtcrm/core/result.hpp>
#include <rtcrm/core/topology.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rtcrm::detail {

class profile_cache {
public:
    struct entry {
        profile p;
        bool dirty = false;
        bool loading = false;  // placeholder while the store is asked
        std::uint64_t commit_seq = 0;  // the committer's submission holding its last write-back
        std::list<const player_key*>::iterator lru;  // position in lru_ (front: most recent)
        std::optional<std::int64_t> timer_due;  // its key in timers_ (the earliest due it was noted with)
        std::uint64_t segment = 0;              // shard_stage: the run of bolts that last took one of its events
    };

    // `committer`: with a durable store, the group commit (or null: written here).
    profile_cache(const runtime_options& options, std::shared_ptr<profile_store> store, store_committer* committer,
                  stage_counters& counters, shard_activity& activity);

    // Appends the tally changes made since its last call (the shard's bolts' take_tallies).
    using tally_source = std::function<void(std::vector<tally>&)>;
    // Called right before each write-back batch is built; its tallies go in that batch (a
    // batch of tallies alone is written too). Only for a store that keeps tallies.
    void take_tallies_from(tally_source source) { tally_source_ = std::move(source); }

    // The entry of a player of the batch being processed (load() made it).
    [[nodiscard]] entry& at(const player_key& key) { return cache_.find(key)->second; }
    // The entry of `key`, or nullptr.
    [[nodiscard]] entry* find_entry(const player_key& key) {
        const auto it = cache_.find(key);
        return it == cache_.end() ? nullptr : &it->second;
    }
    void mark_dirty(entry& c) {
        if (!c.dirty) {
            c.dirty = true;
            dirty_.push_back(&c);
        }
    }
    // The event's own ack share, once its effects are in its profile: acked now with a
    // volatile store, or with the group commit that will hold them.
    void complete(ack_token& ack) {
        if (durable_) {
            pending_acks_.push_back(std::move(ack));
        } else {
            ack.ack();
        }
    }

    // Gives every player of `batch` an entry (the most recently used now) and gets the
    // missing profiles from the store in one call. On a store failure the new entries stay
    // `loading` and the failure is returned: the caller rejects their events, then calls
    // forget_failed_load().
    result<void> load(const std::vector<event>& batch);
    // Gives each of `keys` an entry, getting the missing profiles from the store (as load()).
    result<void> load_keys(std::span<const player_key> keys);
    // Drops the entries the last load() could not fill.
    void forget_failed_load();
    // After a batch: a durable store past store_max_batch dirty profiles writes back now;
    // then the cache is brought under its bound.
    void after_batch();
    // At a tick: the write-back its schedule wants by `now`.
    void maybe_write_back(std::chrono::steady_clock::time_point now);
    // Work for a shard with no events waiting: the next small chunk of a volatile
    // store's write-back round, if its schedule wants one. True if more is due now (call
    // again once no events wait); false when nothing is, so the shard may park.
    bool write_back_while_idle();
    // Every dirty profile, now: handed to the committer, or written here.
    void write_back();
    // At stop: everything dirty written and committed (at most the drain timeout), the
    // store flushed.
    void finish();
    // The source gave `partitions` up (or got them back): the cached profiles that events
    // of them touched (their applied positions name the partition) are written back,
    // committed (at most the drain timeout) and dropped, so the next event of such a
    // player reads the profile the store holds, which the partition's other owners may
    // have changed. A profile whose write-back is not durable in time stays (counted as a
    // store error): dropping it would make the next load read an older copy.
    void forget_partitions(std::string_view source, std::span<const std::int32_t> partitions);
    // True once a write-back failed with errc::conflict (store_committer::conflicts): a
    // profile this process held was changed by another writer, so its events were nacked.
    // Applying later events of that player's partition to the store's version would move
    // its applied position past the nacked ones, and the replay would then skip them: the
    // shards apply nothing more (they nack every event) until the process restarts and
    // replays from the committed positions.
    [[nodiscard]] bool quarantined() const noexcept { return committer_ != nullptr && committer_->conflicts() > 0; }

    // --- the due-time index of the cached profiles' timers ---
    // Brings the index in step with `e`'s timers (call after its profile may have changed).
    void note_timers(entry& e) {
        const auto due = e.p.next_timer_due();
        if (due != e.timer_due) {
            reindex_timers(e, due);
        }
    }
    // Cached players whose earliest timer is due at or before `until`, earliest first
    // (then by key text), at most `n`.
    void due_players(std::int64_t until, std::size_t n, std::vector<entry*>& out);
    // The earliest due time among the cached profiles' timers.
    [[nodiscard]] std::optional<std::int64_t> next_cached_due() const;
    // The earliest due time of the timers of profiles that left the cache (written to the
    // store first) since the last call: from then on only the store's index knows them.
    [[nodiscard]] std::optional<std::int64_t> take_left_due() noexcept { return std::exchange(left_due_, std::nullopt); }

    [[nodiscard]] const profile* find(const player_key& key) const;
    // Calls `visit` with each dirty profile: changed here and not yet handed to the store
    // (nor to the committer). Every other cached profile is the store's version, or in a
    // committer submission up to last_submitted().
    void for_each_dirty(const std::function<void(const profile&)>& visit) const;
    // With a committer: the sequence number of the last write-back handed to it (0: none).
    [[nodiscard]] std::uint64_t last_submitted() const noexcept { return last_submitted_; }
    [[nodiscard]] std::size_t size() const noexcept { return cache_.size(); }
    [[nodiscard]] const profile_store& store() const noexcept { return *store_; }
    [[nodiscard]] profile_store& store() noexcept { return *store_; }

private:
    struct due_order {
        bool operator()(const std::pair<std::int64_t, const player_key*>& a,
                        const std::pair<std::int64_t, const player_key*>& b) const noexcept {
            return a.first != b.first ? a.first < b.first : a.second->text() < b.second->text();
        }
    };
    void reindex_timers(entry& e, std::optional<std::int64_t> due);
    // Takes `it` out of the cache (its timers out of the index).
    void erase(std::unordered_map<player_key, entry>::iterator it);
    // Gives `key` an entry (the most recently used), noting it in missing_ if it is new.
    void admit(const player_key& key);
    // Gets missing_'s profiles from the store into their entries.
    result<void> fetch_missing();
    void forget(const player_key& key);
    // Writes back the cached profiles `which` selects, waits until they are in the store
    // (at most the drain timeout) and drops them; one whose write is not durable by then stays.
    void forget_where(const std::function<bool(const profile&)>& which);
    void evict_to_bound();
    void write_dirty(std::size_t n);
    void begin_round(std::chrono::steady_clock::time_point now);
    // Profiles of the current round its schedule wants written by `now` and not written yet.
    [[nodiscard]] std::size_t round_owed(std::chrono::steady_clock::time_point now) const;
    void write_round_chunk(std::size_t chunk);
    // Adds the tally source's changes to tallies_.
    void collect_tallies();

    const runtime_options* options_;
    std::shared_ptr<profile_store> store_;
    stage_counters* counters_;
    shard_activity* activity_;
    std::unordered_map<player_key, entry> cache_;
    std::list<const player_key*> lru_;  // keys of cache_ (stable node addresses), most recent first
    std::vector<entry*> dirty_;
    std::vector<player_key> missing_;
    std::vector<std::optional<profile>> loaded_;
    std::vector<ack_token> pending_acks_;  // durable store: acks waiting for the next group commit
    store_committer* committer_ = nullptr;  // durable store: writes happen there, off this thread
    std::uint64_t last_submitted_ = 0;
    bool durable_ = false;
    std::chrono::steady_clock::time_point next_write_back_;
    std::size_t round_size_ = 0;  // volatile store: profiles of the current write-back round
    std::size_t round_left_ = 0;  // of which not written yet
    std::chrono::steady_clock::time_point round_started_;
    std::set<std::pair<std::int64_t, const player_key*>, due_order> timers_;  // keys point into cache_
    std::optional<std::int64_t> left_due_;
    tally_source tally_source_;
    std::vector<tally> tallies_;  // taken from the bolts and not written yet (a failed write keeps them)
};

}  // namespace rtcrm::detail
