// Internal: records durations into a latency_histogram's buckets with relaxed atomics, so
// one thread records and any thread may read a snapshot (runtime::stats).
#pragma once

#include <rtcrm/core/runtime_stats.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace rtcrm::detail {

class latency_recorder {
public:
    // One writer thread (a shard, the committer).
    void record(std::int64_t nanoseconds) noexcept {
        const double seconds = static_cast<double>(std::max<std::int64_t>(nanoseconds, 0)) / 1e9;
        const auto& b = latency_histogram::bounds;
        const auto i = static_cast<std::size_t>(std::lower_bound(b.begin(), b.end(), seconds) - b.begin());
        bump(counts_[i]);
        bump(count_);
        sum_ns_.store(sum_ns_.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(std::max<std::int64_t>(nanoseconds, 0)),
                      std::memory_order_relaxed);
    }
    void add_to(latency_histogram& h) const noexcept {
        for (std::size_t i = 0; i < h.counts.size(); ++i) {
            h.counts[i] += counts_[i].load(std::memory_order_relaxed);
        }
        h.count += count_.load(std::memory_order_relaxed);
        h.sum_seconds += static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    }

private:
    static void bump(std::atomic<std::uint64_t>& c) noexcept { c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
    std::array<std::atomic<std::uint64_t>, latency_histogram::bounds.size() + 1> counts_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace rtcrm::detail
