// Internal: group commit to a durable store on a thread of its own.
//
// Shards hand their dirty profiles (copies), their tally changes and the acks of the
// events behind them to the committer and go on processing; the committer writes everything the shards handed
// in since its last write in one `profile_store::write` (one transaction, one fsync), so
// a shard never waits for an fsync and two shards share one. Acks complete only after
// the write holding their effects returned (durable), in submission order.
//
// A failed write is retried (with backoff) until it succeeds: the acks wait, and so do
// the shards once `max_queued` submissions are waiting (backpressure, bounded memory).
// Meanwhile `failure()` names the failure (readiness fails on it), each distinct reason is
// logged once as an error, and the recovery is logged with the count of failed attempts.
// The committer gives up only at the drain deadline (`drain_deadline`: the runtime's
// stop() deadline, or the end of the drain once every source has ended) or, stopped
// without one, `give_up_after` after its stop: it nacks what it holds and counts those
// events as `unstored()`; they are not committed and come again after a restart. The stop
// is a request on the thread's stop token; its stop callback wakes the thread and the
// waiting shards.
//
// A write that fails with errc::conflict (a conditional store found a profile changed by
// another writer, profile_store.hpp) is not retried: writing the same copies again would
// fail again. Its acks are nacked, so the events' positions are not committed (a restart
// reads them again and skips what the store holds); `conflicts()` counts it and its events
// count as `unstored()`: the shards then apply no more events (profile_cache::quarantined).
#pragma once

#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/profile_store.hpp>

#include "latency_recorder.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace rtcrm::detail {

class store_committer {
public:
    using clock = std::chrono::steady_clock;
    // When failing writes are given up (nullopt: not yet). Called on the committer's
    // thread after a failed write only.
    using deadline_source = std::function<std::optional<clock::time_point>()>;

    store_committer(std::shared_ptr<profile_store> store, std::size_t max_queued, std::chrono::milliseconds give_up_after,
                    deadline_source drain_deadline = {});
    ~store_committer();
    store_committer(const store_committer&) = delete;
    store_committer& operator=(const store_committer&) = delete;

    // Queues a write and the acks it makes durable; returns its sequence number (1, 2, ...
    // over all shards). Blocks while `max_queued` submissions wait.
    std::uint64_t submit(write_batch batch, std::vector<ack_token> acks);
    // Every submission up to this sequence number is written (or, at stop, given up).
    [[nodiscard]] std::uint64_t durable_through() const noexcept { return done_.load(std::memory_order_acquire); }
    // Waits until submission `seq` is done, at most `timeout`; true if it is.
    bool wait_for(std::uint64_t seq, std::chrono::milliseconds timeout);
    // Writes what is queued (giving up on failures after `give_up_after`) and ends the thread.
    void stop();

    [[nodiscard]] std::uint64_t errors() const noexcept { return errors_.load(std::memory_order_relaxed); }
    // Events whose writes were given up (nacked): processed, and not stored.
    [[nodiscard]] std::uint64_t unstored() const noexcept { return unstored_.load(std::memory_order_relaxed); }
    // While the store's writes fail (from a failed write to the next one that succeeds):
    // the failed attempts and the last reason. nullopt while it works.
    [[nodiscard]] std::optional<std::string> failure() const;
    // The reason of the last write given up; "" if none was.
    [[nodiscard]] std::string given_up_reason() const;
    // Writes that failed with errc::conflict (see above). Any thread.
    [[nodiscard]] std::uint64_t conflicts() const noexcept { return conflicts_.load(std::memory_order_acquire); }
    [[nodiscard]] std::uint64_t commits() const noexcept { return commits_.load(std::memory_order_relaxed); }
    // How long each successful write (and its fsync) took.
    [[nodiscard]] const latency_recorder& commit_latency() const noexcept { return commit_latency_; }

private:
    struct submission {
        std::uint64_t seq = 0;
        write_batch batch;
        std::vector<ack_token> acks;
    };
    // Wakes whoever waits on work_ or room_ once a stop is requested.
    struct waker {
        store_committer* self;
        void operator()() const noexcept;
    };
    void run(const std::stop_token& stop);
    // After a failed write: logs a reason not logged before and records the failure.
    void note_failure(const std::string& reason);
    // After a successful write: ends a failure episode (logged with its count).
    void note_success();
    [[nodiscard]] bool stopping() const noexcept { return thread_.get_stop_token().stop_requested(); }

    std::shared_ptr<profile_store> store_;
    std::size_t max_queued_;
    std::chrono::milliseconds give_up_after_;
    deadline_source drain_deadline_;
    mutable std::mutex mutex_;
    std::condition_variable work_;   // the committer waits for submissions
    std::condition_variable room_;   // shards wait for queue room or completions
    std::deque<submission> queue_;   // guarded by mutex_
    std::uint64_t next_seq_ = 1;     // guarded by mutex_
    std::atomic<std::uint64_t> done_{0};
    std::atomic<std::uint64_t> errors_{0};
    std::atomic<std::uint64_t> conflicts_{0};
    std::atomic<std::uint64_t> commits_{0};
    std::atomic<std::uint64_t> unstored_{0};
    std::atomic<bool> failing_{false};
    mutable std::mutex failure_mutex_;      // guards the four below (failures only: off the write path)
    std::uint64_t failed_in_a_row_ = 0;
    std::string last_failure_;
    std::vector<std::string> logged_;       // distinct reasons logged so far (bounded)
    std::string given_up_;
    latency_recorder commit_latency_;
    std::jthread thread_;
    std::optional<std::stop_callback<waker>> wake_on_stop_;
};

}  // namespace rtcrm::detail
