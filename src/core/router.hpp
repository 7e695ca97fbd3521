// Internal: the queues between source threads and shard threads.
//
// One single-producer single-consumer ring per (source, shard) pair, so a hand-off is two
// atomic operations and no lock. Rings carry whole batches (std::vector<routed_record>) and swap
// them, so batch buffers are recycled between the two sides instead of reallocated.
// A consumer with nothing to do parks on a mutex/condition variable; producers take that
// mutex only when the consumer is actually parked, never on the per-batch path.
#pragma once

#include <rtcrm/core/event.hpp>

#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace rtcrm::detail {

// Sleep/wake for one waiting thread, cheap for the waker when nobody sleeps.
class parker {
public:
    // Sleeps until unpark() or `deadline`, unless `ready()` already holds after announcing
    // the sleep (so a wake-up between the caller's last check and the sleep is not lost).
    template <typename Ready>
    void park_until(Ready&& ready, std::chrono::steady_clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        parked_.store(true, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (!ready()) {
            cv_.wait_until(lock, deadline, [&] { return signalled_; });
        }
        signalled_ = false;
        parked_.store(false, std::memory_order_relaxed);
    }

    void unpark() {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (parked_.load(std::memory_order_seq_cst)) {
            {
                std::lock_guard lock(mutex_);
                signalled_ = true;
            }
            cv_.notify_one();
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::atomic<bool> parked_{false};
    bool signalled_ = false;
};

template <typename T>
class spsc_ring {
public:
    explicit spsc_ring(std::size_t capacity) : slots_(std::bit_ceil(capacity)), mask_(slots_.size() - 1) {}

    // Swaps `item` into the ring; `item` receives the slot's previous (recycled) value.
    bool try_push(T& item) {
        const auto tail = tail_.load(std::memory_order_relaxed);
        if (tail - head_.load(std::memory_order_acquire) > mask_) {
            return false;
        }
        std::swap(slots_[tail & mask_], item);
        tail_.store(tail + 1, std::memory_order_release);
        return true;
    }

    // Swaps the oldest item into `out`; `out`'s previous value stays in the ring for reuse.
    bool try_pop(T& out) {
        const auto head = head_.load(std::memory_order_relaxed);
        if (head == tail_.load(std::memory_order_acquire)) {
            return false;
        }
        std::swap(slots_[head & mask_], out);
        head_.store(head + 1, std::memory_order_release);
        return true;
    }

    [[nodiscard]] bool empty() const noexcept {
        return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
    }
    [[nodiscard]] std::size_t size() const noexcept {
        return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return slots_.size(); }

private:
    std::vector<T> slots_;
    std::size_t mask_;
    alignas(64) std::atomic<std::size_t> head_{0};
    alignas(64) std::atomic<std::size_t> tail_{0};
};

// A record on its way to the shard that owns its player, with the token that completes it.
// `watermark`: the event-time clock of its source once it was read (no_watermark: none
// yet); a `clock_only` record carries only that, to a shard that got no record of the
// batch that moved it.
inline constexpr std::int64_t no_watermark = INT64_MIN;
struct routed_record {
    record rec;
    ack_token ack;
    std::int64_t watermark = no_watermark;
    bool clock_only = false;
};

// The matrix of queues from producers (source threads) to shards.
class router {
public:
    using batch = std::vector<routed_record>;

    router(std::uint32_t shards, std::uint32_t producers, std::size_t capacity);
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    // Hands `items` to `shard`, waiting while its queue from `producer` is full, and
    // calling `keep_waiting` (if set) every few milliseconds of the wait. True when
    // handed over: `items` comes back empty (a recycled buffer). False when `keep_waiting`
    // said to give up: `items` is left as it was.
    bool push(std::uint32_t producer, std::uint32_t shard, batch& items,
              const std::function<bool()>& keep_waiting = {});
    // The producer will push no more.
    void close(std::uint32_t producer);

    // Takes the next batch for `shard`, visiting its producers' queues in turn.
    bool pop(std::uint32_t shard, batch& out);
    // True when every producer closed and the shard's queues are empty.
    [[nodiscard]] bool drained(std::uint32_t shard) const;
    // Parks the shard until work arrives, every producer closed, `also_ready()` holds
    // (work from elsewhere: the submit lanes; whoever brings it calls `nudge`), or `deadline`.
    template <typename Ready>
    void wait_for_work(std::uint32_t shard, std::chrono::steady_clock::time_point deadline, Ready&& also_ready) {
        auto& q = *shards_[shard];
        q.wake.park_until(
            [&] { return has_work(q) || open_producers_.load(std::memory_order_acquire) == 0 || also_ready(); },
            deadline);
    }
    void wait_for_work(std::uint32_t shard, std::chrono::steady_clock::time_point deadline) {
        wait_for_work(shard, deadline, [] { return false; });
    }
    // Wakes `shard` if it waits for work (it has other work to do).
    void nudge(std::uint32_t shard);
    // Batches waiting for `shard`.
    [[nodiscard]] std::size_t depth(std::uint32_t shard) const;
    // Most batches that can wait for one shard (all producers).
    [[nodiscard]] std::size_t capacity_per_shard() const;

private:
    struct shard_queues {
        std::vector<std::unique_ptr<spsc_ring<batch>>> from;  // one per producer
        std::size_t next = 0;                                 // round-robin start
        parker wake;
    };
    [[nodiscard]] bool has_work(const shard_queues& q) const;

    std::vector<std::unique_ptr<shard_queues>> shards_;
    std::vector<std::unique_ptr<parker>> space_;  // per producer: waiting for room
    std::atomic<std::uint32_t> open_producers_;
};

}  // namespace rtcrm::detail
