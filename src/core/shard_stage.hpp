// Internal: the processing stage of a shard, shared by the threaded runtime and the test
// driver. It parses the records, runs the ingest bolts, loads profiles, runs the shard
// bolts, records history, hands outputs to sinks and writes dirty profiles back (through
// its profile_cache). It starts no thread and owns no queue: the shard runner
// (shard_runner.hpp) or the test driver hands it batches. With a durable store it hands
// write-backs to the store_committer and waits for it at finish().
#pragma once

#include "output_buffer.hpp"
#include "profile_cache.hpp"
#include "router.hpp"
#include "shard_activity.hpp"
#include "stage_counters.hpp"
#include "store_committer.hpp"

#include <rtcrm/core/bolt.hpp>
#include <rtcrm/core/topology.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rtcrm::detail {

class shard_stage {
public:
    shard_stage(std::uint32_t index, const runtime_options& options, std::vector<std::unique_ptr<bolt>> ingest_bolts,
                std::vector<std::unique_ptr<bolt>> bolts, const sink_table& sinks,
                const std::vector<std::string>& source_names, std::shared_ptr<profile_store> store,
                store_committer* committer = nullptr);

    // Processes a batch of records this shard owns, start to finish (parsed, outputs
    // dispatched, events' own ack shares released). The batch is left empty.
    void process(router::batch& batch);
    // Fires up to `limit` timers that are due by the shard's clock, of players no record
    // is waiting for (a player's own records fire its due timers first, in process()),
    // asking the store for the players it does not cache. True if more are due.
    bool fire_due_timers(std::size_t limit);
    // The clock of the players' timers (event time, ms; no_watermark before any).
    [[nodiscard]] std::int64_t timer_clock() const noexcept { return clock_; }
    // The test driver's virtual clock: moves the clock to `t` (never back).
    void advance_clock(std::int64_t t) noexcept { clock_ = std::max(clock_, t); }
    // Periodic work: bolt ticks, sink flushes, and profile write-back when due.
    void tick(std::chrono::steady_clock::time_point now);
    // Work for a shard with no events waiting: see profile_cache::write_back_while_idle.
    bool write_back_while_idle() { return profiles_.write_back_while_idle(); }
    // Final flush at stop: everything dirty is written and sinks flushed.
    void finish();
    // Every dirty profile, now (see profile_cache::write_back).
    void write_back() { profiles_.write_back(); }
    // Writes back and drops the cached profiles of `source`'s `partitions` (see
    // profile_cache::forget_partitions).
    void forget_partitions(std::string_view source, std::span<const std::int32_t> partitions) {
        profiles_.forget_partitions(source, partitions);
    }

    [[nodiscard]] const profile* find(const player_key& key) const { return profiles_.find(key); }
    // Calls `visit` with each cached profile (not those being loaded) until it returns false.
    // See profile_cache::for_each_dirty and last_submitted.
    void for_each_dirty(const std::function<void(const profile&)>& visit) const { profiles_.for_each_dirty(visit); }
    [[nodiscard]] std::uint64_t last_submitted() const noexcept { return profiles_.last_submitted(); }
    [[nodiscard]] const stage_counters& counters() const noexcept { return counters_; }
    // What this stage's thread is doing; other threads read it, the runtime adds its own steps.
    [[nodiscard]] shard_activity& activity() noexcept { return activity_; }
    [[nodiscard]] const shard_activity& activity() const noexcept { return activity_; }
    // The bolts, in order, to ask for their activity() from other threads (the vectors
    // never change after construction).
    [[nodiscard]] const std::vector<std::unique_ptr<bolt>>& ingest_bolts() const noexcept { return ingest_bolts_; }
    [[nodiscard]] const std::vector<std::unique_ptr<bolt>>& shard_bolts() const noexcept { return bolts_; }

    ~shard_stage();
    shard_stage(const shard_stage&) = delete;
    shard_stage& operator=(const shard_stage&) = delete;

private:
    class context;
    void load_profiles(std::vector<event>& batch);
    void expire_profiles(const std::vector<event>& batch);
    void skip_applied(std::vector<event>& batch);
    // Runs the shard bolts over `batch`, firing each player's timers due by its record's
    // clock (timer_event_access::clock) before its event, and cutting the batch where a player comes again
    // (its earlier event may arm a timer its later one must see fire first).
    void run_shard_bolts(std::vector<event>& batch);
    // Fires `e`'s timers due at or before `until`, one at a time in order, each a timer
    // event through the shard bolts. False if a handler kept re-arming past the bound.
    bool fire_player_timers(profile_cache::entry& e, std::int64_t until);
    // The timer of `p` to fire next: by due time, then the bolts' rank, then name.
    [[nodiscard]] const pending_timer* next_timer(const profile& p) const;
    // The store's players due by the clock that this shard owns and does not cache, loaded.
    void load_due_from_store(std::size_t limit);

    std::uint32_t index_;
    const runtime_options* options_;
    std::vector<std::unique_ptr<bolt>> ingest_bolts_;
    std::vector<std::unique_ptr<bolt>> bolts_;
    const sink_table* sinks_;
    const std::vector<std::string>* source_names_;
    std::vector<event> events_;
    stage_counters counters_;
    shard_activity activity_;
    output_buffer outputs_;
    std::unique_ptr<context> context_;
    profile_cache profiles_;
    std::vector<event> timer_events_;      // the one timer event being delivered
    std::vector<std::size_t> cuts_;        // run_shard_bolts: where each run of bolts ends
    std::vector<event> run_;               // run_shard_bolts: the events of one run
    std::vector<event> live_;              // run_shard_bolts: the live events of the runs so far
    std::vector<profile_cache::entry*> due_;
    std::int64_t clock_ = no_watermark;
    std::uint64_t segment_ = 0;            // run_shard_bolts' cuts (profile_cache::entry::segment)
    bool wall_clock_ = false;
    // The store's index: the earliest due time it may hold for players this shard does not
    // cache (INT64_MIN: ask it), and where a paged query stopped.
    std::int64_t store_next_due_ = INT64_MIN;
    std::optional<due_entry> store_cursor_;
};

}  // namespace rtcrm::detail
