// Internal: the watchdog thread "rtcrm-watchdog" (runtime_options::stuck_after > 0). It
// looks at every shard every stuck_after/4 (1 to 250 ms) and logs a warning when a
// shard's step runs past stuck_after, with what the shard is doing, once per episode,
// and again when the step ends. It only reads what the shards publish (shard_health.hpp):
// a stuck shard cannot hold it.
#pragma once

#include "shard_health.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stop_token>
#include <thread>

namespace rtcrm::detail {

class watchdog {
public:
    // Starts the thread; `shards` (the inspector of `count` shards) outlives it.
    void start(const shard_inspector& shards, std::uint32_t count, std::chrono::milliseconds stuck_after);
    // Ends the thread (at once: its sleep is stoppable) and joins it. Idempotent.
    void stop();
    // Episodes reported so far (runtime::stuck_episodes). Any thread.
    [[nodiscard]] std::uint64_t episodes() const noexcept { return episodes_.load(std::memory_order_relaxed); }

private:
    void run(const std::stop_token& stop, const shard_inspector& shards, std::uint32_t count,
             std::chrono::milliseconds stuck_after);

    std::atomic<std::uint64_t> episodes_{0};
    std::jthread thread_;
};

}  // namespace rtcrm::detail
