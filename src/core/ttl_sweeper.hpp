// Internal: the TTL sweep (runtime_options::expiry) on a thread of its own. Every
// ttl_sweep_interval it deletes expired profiles from the store (profile_store::expire),
// with the newest event time the shards have seen as "now", so profiles of players who
// stopped playing leave the store even though no event of theirs reaches a shard.
#pragma once

#include "shard_stage.hpp"

#include <rtcrm/core/profile_store.hpp>
#include <rtcrm/core/topology.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <thread>
#include <vector>

namespace rtcrm::detail {

class ttl_sweeper {
public:
    // Starts the thread; every argument outlives it (or, after abandon(), is never freed).
    void start(const std::vector<std::unique_ptr<shard_stage>>& shards, profile_store& store,
               const runtime_options& options);
    // Ends the thread and joins it: at once between sweeps, after the sweep in progress
    // otherwise. Idempotent.
    void stop();
    // Ends the thread without waiting for it: it may be waiting for the same stuck store
    // as a shard (the runtime then leaves its state allocated).
    void abandon();

    // Profiles deleted and histories trimmed so far. Any thread.
    [[nodiscard]] std::uint64_t expired() const noexcept { return expired_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t trimmed() const noexcept { return trimmed_.load(std::memory_order_relaxed); }

private:
    void run(const std::stop_token& stop, const std::vector<std::unique_ptr<shard_stage>>& shards, profile_store& store,
             const runtime_options& options);

    std::atomic<std::uint64_t> expired_{0};
    std::atomic<std::uint64_t> trimmed_{0};
    std::jthread thread_;
};

}  // namespace rtcrm::detail
