#include "shard_mailbox.hpp"

namespace rtcrm::detail {

void shard_mailbox::post(task t) {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(t));
    pending_.store(true, std::memory_order_release);
}

void shard_mailbox::run_posted(shard_stage& stage) {
    std::vector<task> tasks;
    {
        std::lock_guard lock(mutex_);
        tasks.swap(tasks_);
        pending_.store(false, std::memory_order_relaxed);
    }
    const activity_scope step(&stage.activity(), shard_activity::part::admin_task);
    for (auto& t : tasks) {
        t(stage);
    }
}

}  // namespace rtcrm::detail
