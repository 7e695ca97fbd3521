#include "ttl_sweeper.hpp"

#include "logging.hpp"
#include "thread_stop.hpp"

#include <algorithm>

namespace rtcrm::detail {

void ttl_sweeper::start(const std::vector<std::unique_ptr<shard_stage>>& shards, profile_store& store,
                        const runtime_options& options) {
    thread_ = std::jthread([this, &shards, &store, &options](std::stop_token stop) { run(stop, shards, store, options); });
}

void ttl_sweeper::stop() { stop_and_join(thread_); }

void ttl_sweeper::abandon() {
    thread_.request_stop();
    if (thread_.joinable()) {
        thread_.detach();
    }
}

void ttl_sweeper::run(const std::stop_token& stop, const std::vector<std::unique_ptr<shard_stage>>& shards,
                      profile_store& store, const runtime_options& options) {
    stoppable_sleep pause;
    while (pause.sleep_for(stop, options.ttl_sweep_interval)) {
        std::int64_t now = 0;
        for (const auto& shard : shards) {
            now = std::max(now, shard->counters().newest_event_ts.load(std::memory_order_relaxed));
        }
        if (now > 0) {
            const auto swept = store.expire(options.expiry, now);
            if (swept) {
                expired_.fetch_add(swept->expired, std::memory_order_relaxed);
                trimmed_.fetch_add(swept->trimmed, std::memory_order_relaxed);
            } else {
                log_fmt(log_level::warning, "store", "the TTL sweep of store {} failed: {}", store.name(),
                        swept.error().reason);
            }
        }
    }
}

}  // namespace rtcrm::detail
