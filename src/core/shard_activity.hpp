// Internal: what a shard thread is busy with, published for other threads (the runtime's
// watchdog, runtime::shard_health) so a shard that never finishes a step can be seen and
// named.
//
// A *step* is one piece of work the shard thread starts and should soon finish: a batch,
// a tick, a write-back chunk, an admin task, the final flush. The shard thread stores when
// its current step began (0 while it waits for work) and which part of the step runs (the
// bolt, the sink, the store), all with relaxed stores: a clock read and a few stores per
// batch, no lock. Readers get a best-effort picture (the part may be a step ahead of the
// time), which is all a report needs.
#pragma once

#include <rtcrm/core/event.hpp>

#include <atomic>
#include <cstdint>

namespace rtcrm::detail {

class shard_activity {
public:
    // The part of a step that runs; `index` says which bolt (in its group) or sink.
    enum class part : std::uint8_t {
        none,
        batch,             // the runtime's own work on a batch (parsing, history, acks)
        ingest_bolt,       // index: the ingest bolt
        loading_profiles,  // the store's get
        shard_bolt,        // index: the shard bolt
        sink,              // index: sink_index(stream, k)
        storing,           // the store's write, or a hand-over to the committer
        bolt_tick,         // index: ingest bolts first, then shard bolts
        sink_flush,        // index: sink_index(stream, k)
        admin_task,        // a profile read or scan asked by another thread
        finishing,         // the final flush at stop (waiting for the group commit)
    };
    struct where {
        part what = part::none;
        std::uint32_t index = 0;
    };

    static constexpr std::uint32_t sink_index(std::size_t stream, std::size_t k) noexcept {
        return static_cast<std::uint32_t>(stream << 16 | k);
    }

    // Shard thread: a step begins (nested calls belong to the outer step).
    void begin(part p, std::uint32_t index = 0) noexcept {
        if (depth_++ == 0) {
            since_ns_.store(steady_now_ns(), std::memory_order_relaxed);
        }
        at(p, index);
    }
    // Shard thread: the step (or a nested part) ends.
    void end() noexcept {
        if (--depth_ == 0) {
            since_ns_.store(0, std::memory_order_relaxed);
        }
    }
    // Shard thread: the step goes on in another part.
    void at(part p, std::uint32_t index = 0) noexcept {
        where_.store(static_cast<std::uint32_t>(p) << 24 | (index & 0xffffffU), std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint32_t raw_where() const noexcept { return where_.load(std::memory_order_relaxed); }
    void restore(std::uint32_t raw) noexcept { where_.store(raw, std::memory_order_relaxed); }

    // Any thread: when the current step began (steady_now_ns), or 0 while waiting for work.
    [[nodiscard]] std::int64_t since_ns() const noexcept { return since_ns_.load(std::memory_order_relaxed); }
    // Any thread: the part running now.
    [[nodiscard]] where now() const noexcept {
        const auto raw = where_.load(std::memory_order_relaxed);
        return {static_cast<part>(raw >> 24), raw & 0xffffffU};
    }

private:
    std::atomic<std::int64_t> since_ns_{0};
    std::atomic<std::uint32_t> where_{0};
    int depth_ = 0;  // shard thread only
};

// A step (or a nested part of one) for the length of a scope; the outer part is named
// again when a nested one ends.
class activity_scope {
public:
    activity_scope(shard_activity* activity, shard_activity::part p, std::uint32_t index = 0) noexcept
        : activity_(activity) {
        if (activity_ != nullptr) {
            outer_ = activity_->raw_where();
            activity_->begin(p, index);
        }
    }
    ~activity_scope() {
        if (activity_ != nullptr) {
            activity_->restore(outer_);
            activity_->end();
        }
    }
    activity_scope(const activity_scope&) = delete;
    activity_scope& operator=(const activity_scope&) = delete;

private:
    shard_activity* activity_;
    std::uint32_t outer_ = 0;
};

}  // namespace rtcrm::detail
