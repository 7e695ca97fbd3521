#include "router.hpp"

namespace rtcrm::detail {

router::router(std::uint32_t shards, std::uint32_t producers, std::size_t capacity) : open_producers_(producers) {
    shards_.reserve(shards);
    for (std::uint32_t s = 0; s < shards; ++s) {
        auto q = std::make_unique<shard_queues>();
        for (std::uint32_t p = 0; p < producers; ++p) {
            q->from.push_back(std::make_unique<spsc_ring<batch>>(capacity));
        }
        shards_.push_back(std::move(q));
    }
    for (std::uint32_t p = 0; p < producers; ++p) {
        space_.push_back(std::make_unique<parker>());
    }
}

bool router::push(std::uint32_t producer, std::uint32_t shard, batch& items,
                  const std::function<bool()>& keep_waiting) {
    auto& q = *shards_[shard];
    auto& ring = *q.from[producer];
    while (!ring.try_push(items)) {
        // Full: backpressure. Make sure the shard is awake, then wait for room. The
        // timeout only bounds the cost of a lost race; the shard unparks us after a pop.
        q.wake.unpark();
        space_[producer]->park_until([&] { return ring.size() < ring.capacity(); },
                                     std::chrono::steady_clock::now() + std::chrono::milliseconds(10));
        if (keep_waiting && !keep_waiting()) {
            return false;
        }
    }
    q.wake.unpark();
    return true;
}

void router::close(std::uint32_t producer) {
    (void)producer;
    open_producers_.fetch_sub(1, std::memory_order_acq_rel);
    for (auto& q : shards_) {
        q->wake.unpark();
    }
}

bool router::pop(std::uint32_t shard, batch& out) {
    auto& q = *shards_[shard];
    const auto n = q.from.size();
    for (std::size_t k = 0; k < n; ++k) {
        const auto p = (q.next + k) % n;
        if (q.from[p]->try_pop(out)) {
            q.next = p + 1;
            space_[p]->unpark();
            return true;
        }
    }
    return false;
}

bool router::has_work(const shard_queues& q) const {
    for (const auto& ring : q.from) {
        if (!ring->empty()) {
            return true;
        }
    }
    return false;
}

bool router::drained(std::uint32_t shard) const {
    // Read the producer count first: a producer closes after its last push.
    return open_producers_.load(std::memory_order_acquire) == 0 && !has_work(*shards_[shard]);
}

void router::nudge(std::uint32_t shard) { shards_[shard]->wake.unpark(); }

std::size_t router::depth(std::uint32_t shard) const {
    std::size_t n = 0;
    for (const auto& ring : shards_[shard]->from) {
        n += ring->size();
    }
    return n;
}

std::size_t router::capacity_per_shard() const {
    return shards_.empty() ? 0 : shards_[0]->from.size() * shards_[0]->from[0]->capacity();
}

}  // namespace rtcrm::detail
