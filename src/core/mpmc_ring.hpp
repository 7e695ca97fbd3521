// Internal: a bounded lock-free queue for many producers and many consumers, and a
// place to wait on it.
//
// Host threads submit events (runtime::submit) and shard threads hand triggers to a
// host's event loop (the uv and Asio bridges) through these rings: a push or a pop is one
// compare-and-swap on a shared counter and one store on the slot's sequence number, no
// lock (D. Vyukov's bounded MPMC queue). One producer's items keep their order, which is
// what per-player order needs: a player's events come from one host thread, its triggers
// from one shard.
//
// A `wait_point` lets a thread sleep until the ring changes (room for a producer, items
// for a consumer) with a deadline; the thread that changes the ring pays for a wake-up
// only when somebody sleeps.
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <optional>

namespace rtcrm::detail {

template <typename T>
class mpmc_ring {
public:
    explicit mpmc_ring(std::size_t capacity)
        : mask_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity) - 1), slots_(new slot[mask_ + 1]) {
        for (std::size_t i = 0; i <= mask_; ++i) {
            slots_[i].seq.store(i, std::memory_order_relaxed);
        }
    }
    mpmc_ring(const mpmc_ring&) = delete;
    mpmc_ring& operator=(const mpmc_ring&) = delete;
    ~mpmc_ring() {
        // Destroy what is still queued.
        for (T item; try_pop(item);) {
        }
    }

    // Moves `item` in if there is room; otherwise leaves it untouched and returns false.
    bool try_push(T& item) {
        std::size_t pos = tail_.load(std::memory_order_relaxed);
        for (;;) {
            slot& s = slots_[pos & mask_];
            const std::size_t seq = s.seq.load(std::memory_order_acquire);
            const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos);
            if (diff == 0) {
                if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    s.value.emplace(std::move(item));
                    s.seq.store(pos + 1, std::memory_order_release);
                    return true;
                }
            } else if (diff < 0) {
                return false;  // full: the slot still holds an item one lap behind
            } else {
                pos = tail_.load(std::memory_order_relaxed);
            }
        }
    }

    // Moves the oldest item into `out`; false if the ring is empty.
    bool try_pop(T& out) {
        std::size_t pos = head_.load(std::memory_order_relaxed);
        for (;;) {
            slot& s = slots_[pos & mask_];
            const std::size_t seq = s.seq.load(std::memory_order_acquire);
            const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos + 1);
            if (diff == 0) {
                if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    out = std::move(*s.value);
                    s.value.reset();
                    s.seq.store(pos + mask_ + 1, std::memory_order_release);
                    return true;
                }
            } else if (diff < 0) {
                return false;  // empty: the slot has not been written this lap
            } else {
                pos = head_.load(std::memory_order_relaxed);
            }
        }
    }

    // Approximate while others push and pop; exact when they do not.
    [[nodiscard]] std::size_t size() const noexcept {
        const auto head = head_.load(std::memory_order_acquire);
        const auto tail = tail_.load(std::memory_order_acquire);
        return tail >= head ? tail - head : 0;
    }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] bool full() const noexcept { return size() > mask_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

private:
    struct slot {
        std::atomic<std::size_t> seq;
        std::optional<T> value;
    };
    std::size_t mask_;
    std::unique_ptr<slot[]> slots_;
    alignas(64) std::atomic<std::size_t> head_{0};
    alignas(64) std::atomic<std::size_t> tail_{0};
};

// Sleep until a condition on lock-free state holds, for any number of sleepers.
class wait_point {
public:
    // Sleeps until `ready()` holds or `deadline` passes; returns `ready()`'s last answer.
    // The sleep is announced before `ready()` is checked, so a `notify_all` that follows a
    // change is never lost.
    template <typename Ready>
    bool wait_until(Ready&& ready, std::chrono::steady_clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        const bool ok = cv_.wait_until(lock, deadline, ready);
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        return ok;
    }

    // Call after changing the state that `ready()` reads. Cheap when nobody sleeps.
    void notify_all() {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (sleepers_.load(std::memory_order_seq_cst) > 0) {
            { std::lock_guard lock(mutex_); }  // a sleeper between its check and its wait holds it
            cv_.notify_all();
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::atomic<std::uint32_t> sleepers_{0};
};

}  // namespace rtcrm::detail
