// Internal: the processing stage of a source thread, shared by the threaded runtime and
// the test driver. It gives each record a token from its partition's offset tracker and
// routes it by its player key (record_routing.hpp), so the costly work (parsing,
// validation) runs on the shards, in parallel. It knows nothing of threads: the source
// runner (source_runner.hpp) or the test driver calls it.
#pragma once

#include "router.hpp"
#include "stage_counters.hpp"

#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/source.hpp>
#include <rtcrm/core/source_position.hpp>
#include <rtcrm/core/topology.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace rtcrm::detail {

class ingest_stage {
public:
    ingest_stage(std::uint32_t source_index, const runtime_options& options, const std::vector<std::string>& source_names,
                 std::uint32_t shards, bool resumable);

    // Tracks records[first..] and appends each to per_shard[shard of its player].
    // Returns the index of the first record not taken: records.size(), or earlier when a
    // partition already has max_in_flight events in flight (advance() and retry).
    std::size_t process(std::vector<record>& records, std::size_t first, std::vector<router::batch>& per_shard);
    // The source's event-time clock (runtime_options::timer_clock), or no_watermark
    // before it read a usable `ts`. Every record process() routes carries it as it was
    // once that record was read; a shard that got no record of a call that moved it gets
    // a clock_only record.
    [[nodiscard]] std::int64_t watermark() const noexcept { return watermark_; }
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
    struct partition_state {
        std::unique_ptr<offset_tracker> tracker;
        std::int64_t next_sequence = 0;       // for records without offsets
        std::optional<std::int64_t> reported; // last position given to the source
        std::int64_t max_ts = no_watermark;   // the highest usable `ts` read from it
        std::chrono::steady_clock::time_point last_ts_at;  // when that last rose
    };
    // Notes `ts` of a record of `part` read at `now`; moves the watermark.
    void observe(partition_state& part, std::int64_t ts, std::chrono::steady_clock::time_point now);

    std::uint32_t source_index_;
    const runtime_options* options_;
    const std::vector<std::string>* source_names_;
    std::uint32_t shards_;
    bool resumable_;
    stage_counters counters_;
    std::map<std::int32_t, partition_state> partitions_;
    std::vector<std::unique_ptr<offset_tracker>> released_;  // still referenced by in-flight tokens
    std::uint64_t released_failed_ = 0;                      // nacks counted by trackers already freed
    std::int64_t watermark_ = no_watermark;
    std::vector<std::int64_t> told_;  // per shard: the watermark it was last sent
};

// A source's view of its ingest stage (source.hpp: source_control). Source thread only.
class ingest_control final : public source_control {
public:
    // What forget_profiles does: the runtime has every shard drop the cached profiles
    // of the source's partitions (see source_control::forget_profiles).
    using forget_fn = std::function<bool(std::span<const std::int32_t>, std::chrono::milliseconds)>;

    ingest_control(ingest_stage& ingest, forget_fn forget) : ingest_(&ingest), forget_(std::move(forget)) {}
    std::vector<source_position> safe_positions() override { return ingest_->safe_positions(); }
    std::size_t in_flight(std::int32_t partition) override { return ingest_->in_flight(partition); }
    void release(std::int32_t partition) override { ingest_->release(partition); }
    bool forget_profiles(std::span<const std::int32_t> partitions, std::chrono::milliseconds timeout) override {
        return !forget_ || forget_(partitions, timeout);
    }

private:
    ingest_stage* ingest_;
    forget_fn forget_;
};

}  // namespace rtcrm::detail
