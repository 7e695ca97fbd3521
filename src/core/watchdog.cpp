#include "watchdog.hpp"

#include "logging.hpp"
#include "thread_stop.hpp"
#include "thread_name.hpp"

#include <algorithm>
#include <vector>

namespace rtcrm::detail {

void watchdog::start(const shard_inspector& shards, std::uint32_t count, std::chrono::milliseconds stuck_after) {
    thread_ = std::jthread([this, &shards, count, stuck_after](std::stop_token stop) {
        name_this_thread("rtcrm-watchdog");
        run(stop, shards, count, stuck_after);
    });
}

void watchdog::stop() { stop_and_join(thread_); }

void watchdog::run(const std::stop_token& stop, const shard_inspector& shards, std::uint32_t count,
                   std::chrono::milliseconds stuck_after) {
    const auto limit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(stuck_after).count();
    const auto period = std::clamp<std::chrono::milliseconds>(stuck_after / 4, std::chrono::milliseconds(1),
                                                              std::chrono::milliseconds(250));
    // Per shard: when the step reported stuck began (its since_ns), 0 when none is.
    std::vector<std::int64_t> reported(count, 0);
    stoppable_sleep pause;
    while (pause.sleep_for(stop, period)) {
        const auto now = steady_now_ns();
        for (std::uint32_t s = 0; s < count; ++s) {
            const auto since = shards.busy_since(s);
            // The end of an episode at the episode's level: a log read from `warning`
            // up must not show a shard stuck for ever.
            if (reported[s] != 0 && since != reported[s]) {
                log_fmt(log_level::warning, "runtime", "shard {} recovered: its stuck step ended after about {}", s,
                        duration_text(std::chrono::nanoseconds(now - reported[s])));
                reported[s] = 0;
            }
            if (since != 0 && reported[s] == 0 && now - since >= limit_ns) {
                reported[s] = since;
                episodes_.fetch_add(1, std::memory_order_relaxed);
                log_fmt(log_level::warning, "runtime", "shard {} stuck: one step has run {} (stuck_after {} ms), in {}", s,
                        duration_text(std::chrono::nanoseconds(now - since)), stuck_after.count(), shards.describe(s));
            }
        }
    }
}

}  // namespace rtcrm::detail
