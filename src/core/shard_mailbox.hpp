// Internal: work for a shard's thread from other threads (the admin API's profile reads
// and audience scans through runtime::profile_of and scan_profiles), run between two
// batches. The shard's own stage has no lock: a task posted here is how another thread
// reads it without racing the shard. The shard thread looks at one atomic flag per round.
#pragma once

#include "shard_stage.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

namespace rtcrm::detail {

class shard_mailbox {
public:
    using task = std::function<void(shard_stage&)>;

    // Any thread: queues `t`; the caller then wakes the shard (router::nudge).
    void post(task t);
    // Shard thread: runs what was posted, if anything (inline: checked every round).
    void run(shard_stage& stage) {
        if (pending_.load(std::memory_order_acquire)) {
            run_posted(stage);
        }
    }

private:
    void run_posted(shard_stage& stage);

    std::mutex mutex_;
    std::vector<task> tasks_;  // guarded by mutex_
    std::atomic<bool> pending_{false};
};

}  // namespace rtcrm::detail
