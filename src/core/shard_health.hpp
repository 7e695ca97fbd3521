// Internal: what a shard is doing, in words, and whether it is stuck, from any thread
// (the watchdog, runtime::shard_health, stop()'s report). It reads what the shard thread
// publishes (shard_activity.hpp) and asks its bolts for their activity(); it never
// waits for the shard.
#pragma once

#include "output_buffer.hpp"
#include "shard_stage.hpp"

#include <rtcrm/core/profile_store.hpp>
#include <rtcrm/core/runtime.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rtcrm::detail {

class shard_inspector {
public:
    // Every argument outlives the inspector; `stuck_after` 0 means no shard is ever stuck.
    shard_inspector(const std::vector<std::unique_ptr<shard_stage>>& shards, const sink_table& sinks,
                    const profile_store& store, std::chrono::milliseconds stuck_after)
        : shards_(&shards), sinks_(&sinks), store_(&store), stuck_after_(stuck_after) {}

    // When shard `s`'s current step began (steady_now_ns), 0 while it waits for work.
    [[nodiscard]] std::int64_t busy_since(std::uint32_t s) const noexcept { return (*shards_)[s]->activity().since_ns(); }
    // What shard `s` is doing now: the part of its step and the first bolt's activity.
    [[nodiscard]] std::string describe(std::uint32_t s) const;
    // Shard `s`'s current step has run past stuck_after at `now_ns`.
    [[nodiscard]] bool stuck(std::uint32_t s, std::int64_t now_ns) const noexcept;
    [[nodiscard]] rtcrm::shard_health health_of(std::uint32_t s, bool done, std::int64_t now_ns) const;

private:
    const std::vector<std::unique_ptr<shard_stage>>* shards_;
    const sink_table* sinks_;
    const profile_store* store_;
    std::chrono::milliseconds stuck_after_;
};

// "25 ms" or "7.5 s", for reports.
std::string duration_text(std::chrono::nanoseconds d);

}  // namespace rtcrm::detail
