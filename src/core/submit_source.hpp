// Internal: the path behind runtime::submit.
//
// Host threads route each record themselves (the same key scan and murmur2 as a source
// thread) and push it into its shard's lane: a bounded lock-free ring (mpmc_ring) that
// the shard thread drains itself, between the batches of the other sources. There is no
// thread between the host and the shard: on two cores a hop through a thread of its own
// costs a wake-up and a run-queue wait per burst, the largest share of the submit →
// trigger latency.
//
// Each lane tracks what its shard took (an offset_tracker per lane, partition = shard
// index, offsets in the order the shard took them), so submitted events are acked,
// counted and drained like any source's. One host thread's records for one shard keep
// their order through the ring, which is what per-player order needs.
//
// The object is still the topology's "submit" source (its name labels dead letters); its
// source thread only waits for the close and then ends, so stop() can tell the shards that
// no other source will send more.
//
// Nothing accepted is lost: `close()` (the runtime's stop) refuses new records, and a
// shard's lane reports `drained` only once every record accepted before it was taken and
// completed (or the drain timeout passed).
#pragma once

#include "mpmc_ring.hpp"
#include "router.hpp"

#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/source.hpp>
#include <rtcrm/core/submit_status.hpp>
#include <rtcrm/core/topology.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace rtcrm::detail {

class submit_source final : public source {
public:
    explicit submit_source(std::size_t capacity) : capacity_(capacity) {}

    [[nodiscard]] std::string_view name() const noexcept override { return "submit"; }
    // Ends once closed with no push in flight; records never pass through here.
    poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) override;
    void wakeup() override { closing_.notify_all(); }

    // Runtime construction, before any push: one lane per shard, holding its share of
    // `capacity` (rounded up; mpmc_ring rounds it up to a power of two).
    // `wake_shard(s)` wakes shard s if it is parked (cheap when it is not).
    void bind(std::uint32_t source_index, std::uint32_t shards, const runtime_options& options,
              std::function<void(std::uint32_t)> wake_shard);

    // Any thread. `rec` is moved from only when accepted.
    submit_status push(record& rec, std::chrono::milliseconds timeout);
    // Any thread: accepts a prefix of `recs` (each moved from), returns its length.
    std::size_t push(std::span<record> recs, std::chrono::milliseconds timeout);
    // From now on pushes are refused with `submit_status::stopped`.
    void close();

    // Shard thread `shard`: moves up to `max` records of its lane into `out` (appended),
    // each with the token that completes it; fewer when the lane's tracker has
    // max_in_flight events in flight. Returns how many.
    std::size_t take(std::uint32_t shard, router::batch& out, std::size_t max);
    // Shard thread: records wait in the lane and the last take was not held back by
    // max_in_flight.
    [[nodiscard]] bool has_work(std::uint32_t shard) const;
    // Shard thread: the last take was held back by max_in_flight (retry after a while:
    // acks come from other threads and wake nobody).
    [[nodiscard]] bool held_back(std::uint32_t shard) const { return lanes_[shard]->held_back; }
    // Shard thread: closed, nothing left in the lane, and everything taken completed (or
    // the drain timeout passed since the lane first looked drained).
    [[nodiscard]] bool drained(std::uint32_t shard);

    // Any thread: records accepted and not yet taken, over all lanes.
    [[nodiscard]] std::size_t queued() const noexcept;
    // Any thread: records taken by the shards (events_in) and nacked, over all lanes.
    [[nodiscard]] std::uint64_t taken() const noexcept;
    [[nodiscard]] std::uint64_t nacked() const noexcept;

private:
    struct lane {
        lane(std::size_t capacity, std::size_t max_in_flight) : ring(capacity), tracker(max_in_flight) {}
        mpmc_ring<record> ring;
        offset_tracker tracker;                 // track/advance: the shard thread only
        std::int64_t next_offset = 0;           // shard thread
        bool held_back = false;                 // shard thread
        bool draining = false;                  // shard thread: the drain deadline is set
        std::chrono::steady_clock::time_point drain_deadline;  // shard thread
        std::atomic<std::uint64_t> taken{0};    // written by the shard thread only
    };

    // Pushes one record into lane `shard` unless closed; -1 refused (closed), 0 full, 1 accepted.
    int try_push(record& rec, std::uint32_t shard);
    [[nodiscard]] std::uint32_t shard_of(const record& rec) const;
    // Closed, and no push can still land.
    [[nodiscard]] bool finished() const noexcept;

    std::size_t capacity_;
    std::uint32_t source_index_ = 0;
    const runtime_options* options_ = nullptr;
    std::vector<std::unique_ptr<lane>> lanes_;
    std::function<void(std::uint32_t)> wake_shard_;
    wait_point room_;     // producers waiting for room
    wait_point closing_;  // the source thread waiting for close()
    std::atomic<bool> closed_{false};
    std::atomic<std::uint32_t> pushing_{0};  // producers between their closed_ check and their push
};

}  // namespace rtcrm::detail
