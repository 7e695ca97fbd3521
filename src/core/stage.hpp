// Internal: the processing stages shared by the threaded runtime and the test driver.
//
// An ingest_stage runs on a source thread: it tracks each record and routes it by its
// player key, found by a cheap scan of the bytes, so the costly work (parsing,
// validation) runs on the shards, in parallel. A shard_stage runs on a shard thread: it
// parses the records, runs the ingest bolts, loads profiles, runs the shard bolts,
// records history, hands outputs to sinks and writes dirty profiles back. Neither knows
// about threads or queues.
#pragma once

#include "latency_recorder.hpp"
#include "router.hpp"
#include "shard_activity.hpp"
#include "store_committer.hpp"

#include <rtcrm/core/bolt.hpp>
#include <rtcrm/core/runtime_stats.hpp>
#include <rtcrm/core/topology.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

namespace rtcrm::detail {

// Counters written by one thread (plain load+store, no read-modify-write on the hot
// path) and read by any thread.
struct stage_counters {
    static constexpr std::size_t reasons = 16;
    std::atomic<std::uint64_t> events_in{0};
    std::atomic<std::uint64_t> processed{0};
    std::atomic<std::uint64_t> dropped{0};
    std::atomic<std::uint64_t> replayed{0};
    std::atomic<std::uint64_t> dead_lettered{0};
    std::array<std::atomic<std::uint64_t>, reasons> by_reason{};
    std::array<std::atomic<std::uint64_t>, stream_count> outputs{};
    std::atomic<std::uint64_t> handler_errors{0};
    std::atomic<std::uint64_t> store_errors{0};
    std::atomic<std::uint64_t> cached{0};
    std::atomic<std::uint64_t> evicted{0};
    std::atomic<std::uint64_t> expired{0};             // profiles restarted by the lazy TTL check (shards) or deleted by the sweep
    std::atomic<std::uint64_t> trimmed{0};             // the sweep
    std::atomic<std::int64_t> newest_event_ts{0};      // shards: the TTL sweep's "now"
    latency_recorder event_latency;                    // shards: parse → outputs handed to the sinks
    std::atomic<std::uint64_t> nacked{0};  // ingest stages: failed events over all partitions

    static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    static void set(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept { c.store(n, std::memory_order_relaxed); }
    // Dead-letter reasons by slot; unlisted codes share the last slot.
    static constexpr std::array<errc, reasons> slot_codes{
        errc::ok,           errc::parse_error,     errc::missing_field, errc::wrong_type,
        errc::too_large,    errc::schema_violation, errc::unknown_type, errc::handler_failed,
        errc::store_error,  errc::delivery_failed, errc::timeout,       errc::stopped,
        errc::queue_full,   errc::io_error,        errc::invalid_config, errc::dropped};
    static std::size_t reason_slot(errc code) noexcept {
        for (std::size_t i = 1; i < reasons; ++i) {
            if (slot_codes[i] == code) {
                return i;
            }
        }
        return reasons - 1;
    }
    void add_to(runtime_stats& s, std::array<std::uint64_t, reasons>& reasons_sum) const;
};

// The sinks bound to each stream.
using sink_table = std::array<std::vector<std::shared_ptr<sink>>, stream_count>;

// Outputs collected while a batch is processed, handed to the sinks once per batch.
class output_buffer {
public:
    output_buffer(const sink_table& sinks, stage_counters& counters, shard_activity* activity = nullptr)
        : sinks_(&sinks), counters_(&counters), activity_(activity) {}
    void add(output out) { pending_[static_cast<std::size_t>(out.stream)].push_back(std::move(out)); }
    // Hands every pending output to the sinks of its stream (a share of the ack per extra sink).
    void dispatch();

private:
    const sink_table* sinks_;
    stage_counters* counters_;
    shard_activity* activity_;  // names the sink being called, if set
    std::array<std::vector<output>, stream_count> pending_;
    std::vector<output> copies_;
};

// Builds the dead-letter record (see output.hpp for the format).
std::string dead_letter_body(errc code, std::string_view reason, std::string_view source_name, const origin& where,
                             std::string_view raw);

// The bolt_context of one stage. Keeps the per-event fate of the current batch in a
// side vector (indexed by position in the batch), so events need no state field.
class stage_context : public bolt_context {
public:
    stage_context(std::uint32_t worker, const runtime_options& options, const std::vector<std::string>& source_names,
                  output_buffer& outputs, stage_counters& counters, shard_activity* activity = nullptr)
        : worker_(worker),
          options_(&options),
          source_names_(&source_names),
          outputs_(&outputs),
          counters_(&counters),
          activity_(activity) {}

    void emit(event& cause, stream to, std::string body) override;
    void reject(event& ev, errc code, std::string_view reason) override;
    void drop(event& ev) override;
    profile* profile_of(const event&) override { return nullptr; }
    [[nodiscard]] std::uint32_t worker() const noexcept override { return worker_; }
    [[nodiscard]] const profile_limits& limits() const noexcept override { return options_->limits; }

    // Runs every bolt over `batch`, removing rejected and dropped events between bolts.
    // Afterwards `batch` holds the live events, in their original order; rejected and
    // dropped events have been counted and their own ack shares released. `group` names
    // the bolts' part of the step in the activity (if any).
    void run(std::vector<std::unique_ptr<bolt>>& bolts, std::vector<event>& batch,
             shard_activity::part group = shard_activity::part::none);

protected:
    enum class fate : std::uint8_t { live, dropped, rejected };
    // The event's index in the current batch, or fates_.size() if it is not in it. The
    // range test uses std::less, which orders unrelated pointers without undefined behaviour.
    std::size_t index_of(const event& ev) const noexcept {
        const std::less<const event*> before;
        if (before(&ev, current_) || !before(&ev, current_ + fates_.size())) {
            return fates_.size();
        }
        return static_cast<std::size_t>(&ev - current_);
    }

    std::uint32_t worker_;
    const runtime_options* options_;
    const std::vector<std::string>* source_names_;
    output_buffer* outputs_;
    stage_counters* counters_;
    shard_activity* activity_;
    event* current_ = nullptr;
    std::vector<fate> fates_;
    std::size_t removed_ = 0;
};

// The shard that owns `rec`'s player: a function of the key's text alone (as
// player_key::shard computes it), found by a cheap scan of the bytes, so a record is
// routed without being parsed. Used by source threads and by host threads (submit).
std::uint32_t shard_of_record(const record& rec, const parse_options& parse, std::uint32_t shards);

// Dead-letters a record that never became an event.
void dead_letter_record(record& rec, const failure& why, ack_token ack, const std::vector<std::string>& source_names,
                        output_buffer& outputs, stage_counters& counters);

class ingest_stage {
public:
    ingest_stage(std::uint32_t source_index, const runtime_options& options, const std::vector<std::string>& source_names,
                 std::uint32_t shards, bool resumable);

    // Tracks records[first..] and appends each to per_shard[shard of its player].
    // Returns the index of the first record not taken: records.size(), or earlier when a
    // partition already has max_in_flight events in flight (advance() and retry).
    std::size_t process(std::vector<record>& records, std::size_t first, std::vector<router::batch>& per_shard);
    // Retires completed events; returns the positions that moved since the last call.
    std::vector<source_position> advance();
    // The last safe position computed for `partition` (by advance()).
    [[nodiscard]] std::optional<std::int64_t> position(std::int32_t partition) const;
    // Events read and not yet retired, over all partitions (released ones included).
    [[nodiscard]] std::size_t in_flight();
    // The safe position of every tracked partition, now (retires completed events first).
    [[nodiscard]] std::vector<source_position> safe_positions();
    // Events of `partition` read and not yet complete.
    [[nodiscard]] std::size_t in_flight(std::int32_t partition);
    // Stops tracking `partition` (see source_control::release). Its tracker lives on, out
    // of sight, until its in-flight events complete: their tokens point to it.
    void release(std::int32_t partition);
    [[nodiscard]] const stage_counters& counters() const noexcept { return counters_; }

private:
    std::uint32_t shard_of(const record& rec) const;

    struct partition_state {
        std::unique_ptr<offset_tracker> tracker;
        std::int64_t next_sequence = 0;       // for records without offsets
        std::optional<std::int64_t> reported; // last position given to the source
    };

    std::uint32_t source_index_;
    const runtime_options* options_;
    const std::vector<std::string>* source_names_;
    std::uint32_t shards_;
    bool resumable_;
    stage_counters counters_;
    std::map<std::int32_t, partition_state> partitions_;
    std::vector<std::unique_ptr<offset_tracker>> released_;  // still referenced by in-flight tokens
    std::uint64_t released_failed_ = 0;                      // nacks counted by trackers already freed
};

class shard_stage {
public:
    shard_stage(std::uint32_t index, const runtime_options& options, std::vector<std::unique_ptr<bolt>> ingest_bolts,
                std::vector<std::unique_ptr<bolt>> bolts, const sink_table& sinks,
                const std::vector<std::string>& source_names, std::shared_ptr<profile_store> store,
                store_committer* committer = nullptr);

    // Processes a batch of records this shard owns, start to finish (parsed, outputs
    // dispatched, events' own ack shares released). The batch is left empty.
    void process(router::batch& batch);
    // Periodic work: bolt ticks, sink flushes, and profile write-back when due.
    void tick(std::chrono::steady_clock::time_point now);
    // Work for a shard with no events waiting: the next small chunk of a volatile
    // store's write-back round, if its schedule wants one. True if more is due now (call
    // again once no events wait); false when nothing is, so the shard may park.
    bool write_back_while_idle();
    // Final flush at stop: everything dirty is written and sinks flushed.
    void finish();
    void write_back();

    [[nodiscard]] const profile* find(const player_key& key) const;
    // Calls `visit` with each cached profile (not those being loaded) until it returns false.
    void for_each_cached(const std::function<bool(const profile&)>& visit) const;
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
    struct cached {
        profile p;
        bool dirty = false;
        bool loading = false;  // placeholder while the store is asked
        std::uint64_t commit_seq = 0;  // the committer's submission holding its last write-back
        std::list<const player_key*>::iterator lru;  // position in lru_ (front: most recent)
    };
    void evict_to_bound();
    void forget(const player_key& key);
    void load_profiles(std::vector<event>& batch);
    void expire_profiles(const std::vector<event>& batch);
    void skip_applied(std::vector<event>& batch);
    void mark_dirty(cached& c);
    void maybe_write_back(std::chrono::steady_clock::time_point now);
    void write_dirty(std::size_t n);
    void begin_round(std::chrono::steady_clock::time_point now);
    // Profiles of the current round its schedule wants written by `now` and not written yet.
    [[nodiscard]] std::size_t round_owed(std::chrono::steady_clock::time_point now) const;
    void write_round_chunk(std::size_t chunk);

    std::uint32_t index_;
    const runtime_options* options_;
    std::vector<std::unique_ptr<bolt>> ingest_bolts_;
    std::vector<std::unique_ptr<bolt>> bolts_;
    const sink_table* sinks_;
    const std::vector<std::string>* source_names_;
    std::vector<event> events_;
    std::shared_ptr<profile_store> store_;
    stage_counters counters_;
    shard_activity activity_;
    output_buffer outputs_;
    std::unique_ptr<context> context_;
    std::unordered_map<player_key, cached> cache_;
    std::list<const player_key*> lru_;  // keys of cache_ (stable node addresses), most recent first
    std::vector<cached*> dirty_;
    std::vector<player_key> missing_;
    std::vector<ack_token> pending_acks_;  // durable store: acks waiting for the next group commit
    store_committer* committer_ = nullptr;  // durable store: writes happen there, off this thread
    std::uint64_t last_submitted_ = 0;
    bool durable_ = false;
    std::vector<std::optional<profile>> loaded_;
    std::chrono::steady_clock::time_point next_write_back_;
    std::size_t round_size_ = 0;  // volatile store: profiles of the current write-back round
    std::size_t round_left_ = 0;  // of which not written yet
    std::chrono::steady_clock::time_point round_started_;
};

}  // namespace rtcrm::detail
