#include <rtcrm/core/error.hpp>
#include <rtcrm/core/loop_bridge.hpp>

#include "core/logging.hpp"
#include "core/mpmc_ring.hpp"
#include "core/string_pool.hpp"

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rtcrm {

using clock = std::chrono::steady_clock;

void loop_bridge_options::validate() const {
    if (capacity == 0 || max_per_turn == 0) {
        throw error(errc::invalid_config, "loop_bridge_options: capacity and max_per_turn must be > 0");
    }
}

// Output bodies go back to the thread that wrote them. A trigger body (a few hundred
// bytes) is allocated on a shard thread; freed on the loop thread, glibc puts it back into
// the shard's arena (its lock, taken by both threads at every output) and coalesces it
// there, and the arena, trimmed whenever its free top grows past 128 KiB, gives pages back
// that the shard then faults in again: ~600 page faults a second at 250k triggers/s,
// in bursts that hold a shard for milliseconds.
// Instead the loop hands each spent body to its producer's return ring, and the producer
// takes them back at its next `consume`, on its own thread, into its string_pool, where
// its next bodies are written (core/string_pool.hpp).
//
// A producer is a thread that called `consume`; it claims a slot the first time (at most
// `max_producers`: later threads' bodies are freed on the loop). Slots are never
// given back, so a slot's ring stays valid while queued outputs point to it.
struct producer_slot {
    static constexpr std::size_t ring_capacity = 4096;
    std::atomic<std::thread::id> owner{};
    // Created by the owner when claiming; read by the loop only through outputs the owner
    // queued after that (the output ring orders it).
    std::unique_ptr<detail::mpmc_ring<std::string>> spent;
};
constexpr std::size_t max_producers = 64;
constexpr std::uint16_t no_producer = 0xffff;

// What the output ring holds: the output and the slot of the thread that queued it.
struct queued_output {
    output out;
    std::uint16_t producer = no_producer;
};

struct loop_bridge::impl {
    loop_output_handler handler;
    loop_bridge_options options;
    detail::mpmc_ring<queued_output> ring;
    std::array<producer_slot, max_producers> producers;
    std::mutex claim_mutex;   // claiming a producer slot (once per thread)
    detail::wait_point room;  // shard threads waiting for room
    // At most one wake-up pending: set by whoever asks for one, cleared by the turn it causes.
    std::atomic<bool> scheduled{false};
    // wake() and detach() exclude each other, so no wake-up reaches a closed loop handle.
    std::mutex wake_mutex;
    bool detached = false;  // guarded by wake_mutex
    std::atomic<bool> refusing{false};
    std::mutex posted_mutex;
    std::vector<std::function<void()>> posted;  // guarded by posted_mutex
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<std::uint64_t> wakeups{0};
    std::atomic<std::uint64_t> returned{0};

    impl(loop_output_handler h, loop_bridge_options o) : handler(std::move(h)), options(o), ring(o.capacity) {}

    void refuse(output& out) {
        out.ack.nack(make_error_code(errc::stopped));
        refused.fetch_add(1, std::memory_order_relaxed);
    }

    // Producer thread: its slot, claimed on the first call; no_producer when all are taken.
    std::uint16_t producer_of_this_thread() {
        const auto me = std::this_thread::get_id();
        for (std::size_t i = 0; i < max_producers; ++i) {
            const auto owner = producers[i].owner.load(std::memory_order_acquire);
            if (owner == me) {
                return static_cast<std::uint16_t>(i);
            }
            if (owner == std::thread::id{}) {
                break;  // slots are claimed in order: the rest are free
            }
        }
        std::lock_guard lock(claim_mutex);
        for (std::size_t i = 0; i < max_producers; ++i) {
            auto& slot = producers[i];
            if (slot.owner.load(std::memory_order_relaxed) == std::thread::id{}) {
                slot.spent = std::make_unique<detail::mpmc_ring<std::string>>(producer_slot::ring_capacity);
                slot.owner.store(me, std::memory_order_release);
                return static_cast<std::uint16_t>(i);
            }
        }
        return no_producer;
    }

    // Producer thread: takes back the bodies the loop handed back (see above).
    void free_spent(std::uint16_t producer) {
        if (producer == no_producer) {
            return;
        }
        auto& spent = *producers[producer].spent;
        for (std::string body; spent.try_pop(body);) {
            detail::string_pool::give(std::move(body));  // kept for this thread's next bodies
        }
    }

    // Loop thread: hands a delivered output's body back to its producer, unless the
    // handler took it or it fits in the string itself (nothing to free). When the ring is
    // full the body is freed here, as it would have been.
    void give_back(queued_output& q) {
        if (q.producer == no_producer || !detail::string_pool::has_heap_buffer(q.out.body)) {
            return;
        }
        if (producers[q.producer].spent->try_push(q.out.body)) {
            returned.fetch_add(1, std::memory_order_relaxed);
        }
    }

    // Loop thread: runs what post() queued.
    void run_posted() {
        std::vector<std::function<void()>> fns;
        {
            std::lock_guard lock(posted_mutex);
            fns.swap(posted);
        }
        for (auto& fn : fns) {
            fn();
        }
    }

    // Loop thread: hands one output to the host, then acks it (a no-op if the handler took
    // the ack to complete it itself), or nacks it if the handler threw.
    void hand_over(output& out, std::string_view bridge) {
        try {
            handler(out);
            out.ack.ack();
            delivered.fetch_add(1, std::memory_order_relaxed);
        } catch (const std::exception& e) {
            out.ack.nack(make_error_code(errc::handler_failed));
            // Counted always; logged at the 1st, 2nd, 4th, 8th... failure, not per output.
            const auto failures = failed.fetch_add(1, std::memory_order_relaxed) + 1;
            if ((failures & (failures - 1)) == 0) {
                detail::log_fmt(log_level::error, bridge, "bridge handler failed ({} so far): {}", failures, e.what());
            }
        }
    }
};

loop_bridge::loop_bridge(loop_output_handler handler, loop_bridge_options options) {
    options.validate();
    if (!handler) {
        throw error(errc::invalid_config, "loop_bridge: empty output handler");
    }
    impl_ = std::make_unique<impl>(std::move(handler), options);
}

loop_bridge::~loop_bridge() {
    // Whatever is still queued can no longer be delivered.
    for (queued_output q; impl_->ring.try_pop(q);) {
        impl_->refuse(q.out);
    }
}

namespace {
// Asks for a delivery turn unless one is pending. (Declared here, used by members.)
template <typename Wake>
void request_turn(std::atomic<bool>& scheduled, std::mutex& wake_mutex, const bool& detached, Wake&& wake) {
    if (!scheduled.exchange(true, std::memory_order_acq_rel)) {
        std::lock_guard lock(wake_mutex);
        if (!detached) {
            wake();
        }
    }
}
}  // namespace

void loop_bridge::consume(std::span<output> batch) {
    auto& d = *impl_;
    auto turn = [&] { request_turn(d.scheduled, d.wake_mutex, d.detached, [this] { wake(); }); };
    const auto producer = d.producer_of_this_thread();
    d.free_spent(producer);
    queued_output q;
    q.producer = producer;
    for (auto& out : batch) {
        if (d.refusing.load(std::memory_order_acquire)) {
            d.refuse(out);
            continue;
        }
        q.out = std::move(out);
        while (!d.ring.try_push(q)) {
            // Full: make sure the loop is draining, then wait for room (in slices, so a
            // shutdown meanwhile is noticed).
            turn();
            d.room.wait_until([&] { return !d.ring.full() || d.refusing.load(std::memory_order_acquire); },
                              clock::now() + std::chrono::milliseconds(50));
            if (d.refusing.load(std::memory_order_acquire)) {
                d.refuse(q.out);
                break;
            }
        }
    }
    turn();
}

void loop_bridge::deliver() {
    auto& d = *impl_;
    // Clear the flag first: an output queued from now on asks for a new turn. (acq_rel:
    // the pushes of whoever set it are visible to the pops below.)
    d.scheduled.exchange(false, std::memory_order_acq_rel);
    d.wakeups.fetch_add(1, std::memory_order_relaxed);
    d.run_posted();
    queued_output q;
    std::size_t n = 0;
    while (n < d.options.max_per_turn && d.ring.try_pop(q)) {
        ++n;
        d.hand_over(q.out, name());
        d.give_back(q);
        if ((n & 63) == 0) {
            d.room.notify_all();
        }
    }
    if (n > 0) {
        d.room.notify_all();
    }
    bool more = !d.ring.empty();
    if (!more) {
        std::lock_guard lock(d.posted_mutex);
        more = !d.posted.empty();
    }
    if (more) {
        request_turn(d.scheduled, d.wake_mutex, d.detached, [this] { wake(); });
    }
}

void loop_bridge::detach() {
    auto& d = *impl_;
    {
        std::lock_guard lock(d.wake_mutex);
        if (d.detached) {
            return;
        }
        d.detached = true;
    }
    d.refusing.store(true, std::memory_order_release);
    d.room.notify_all();
    // Deliver what made it in; a shard racing with us may still push, so loop until quiet.
    d.run_posted();
    for (queued_output q; d.ring.try_pop(q);) {
        d.hand_over(q.out, name());
    }
}

bool loop_bridge::detached() const noexcept {
    std::lock_guard lock(impl_->wake_mutex);
    return impl_->detached;
}

void loop_bridge::close() {
    auto& d = *impl_;
    const auto deadline = clock::now() + d.options.close_timeout;
    while (!d.ring.empty() && !d.refusing.load(std::memory_order_acquire) && clock::now() < deadline) {
        request_turn(d.scheduled, d.wake_mutex, d.detached, [this] { wake(); });
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!d.ring.empty()) {
        detail::log_fmt(log_level::error, name(), "bridge: the loop did not take {} outputs within {} ms; nacked",
                        d.ring.size(), d.options.close_timeout.count());
    }
    for (queued_output q; d.ring.try_pop(q);) {
        d.refuse(q.out);
    }
}

void loop_bridge::post(std::function<void()> fn) {
    auto& d = *impl_;
    {
        std::lock_guard lock(d.posted_mutex);
        d.posted.push_back(std::move(fn));
    }
    request_turn(d.scheduled, d.wake_mutex, d.detached, [this] { wake(); });
}

loop_bridge_stats loop_bridge::stats() const noexcept {
    const auto& d = *impl_;
    return {d.delivered.load(std::memory_order_relaxed),
            d.failed.load(std::memory_order_relaxed),
            d.refused.load(std::memory_order_relaxed),
            d.wakeups.load(std::memory_order_relaxed),
            d.ring.size(),
            d.returned.load(std::memory_order_relaxed)};
}

}  // namespace rtcrm
