#include <rtcrm/error.hpp>
#include <rtcrm/sink/loop_bridge.hpp>

#include "core/mpmc_ring.hpp"

#include <fmt/format.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace rtcrm {

using clock = std::chrono::steady_clock;

void loop_bridge_options::validate() const {
    if (capacity == 0 || max_per_turn == 0) {
        throw error(errc::invalid_config, "loop_bridge_options: capacity and max_per_turn must be > 0");
    }
}

struct loop_bridge::impl {
    loop_output_handler handler;
    loop_bridge_options options;
    detail::mpmc_ring<output> ring;
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

    impl(loop_output_handler h, loop_bridge_options o) : handler(std::move(h)), options(o), ring(o.capacity) {}

    void refuse(output& out) {
        out.ack.nack(make_error_code(errc::stopped));
        refused.fetch_add(1, std::memory_order_relaxed);
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
            // Counted always; printed at the 1st, 2nd, 4th, 8th... failure, not per output.
            const auto failures = failed.fetch_add(1, std::memory_order_relaxed) + 1;
            if ((failures & (failures - 1)) == 0) {
                fmt::print(stderr, "rtcrm: {} bridge handler failed ({} so far): {}\n", bridge, failures, e.what());
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
    for (output out; impl_->ring.try_pop(out);) {
        impl_->refuse(out);
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
    for (auto& out : batch) {
        if (d.refusing.load(std::memory_order_acquire)) {
            d.refuse(out);
            continue;
        }
        while (!d.ring.try_push(out)) {
            // Full: make sure the loop is draining, then wait for room (in slices, so a
            // shutdown meanwhile is noticed).
            turn();
            d.room.wait_until([&] { return !d.ring.full() || d.refusing.load(std::memory_order_acquire); },
                              clock::now() + std::chrono::milliseconds(50));
            if (d.refusing.load(std::memory_order_acquire)) {
                d.refuse(out);
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
    output out;
    std::size_t n = 0;
    while (n < d.options.max_per_turn && d.ring.try_pop(out)) {
        ++n;
        d.hand_over(out, name());
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
    for (output out; d.ring.try_pop(out);) {
        d.hand_over(out, name());
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
        fmt::print(stderr, "rtcrm: {} bridge: the loop did not take {} outputs within {} ms; nacked\n", name(),
                   d.ring.size(), d.options.close_timeout.count());
    }
    for (output out; d.ring.try_pop(out);) {
        d.refuse(out);
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
    return {d.delivered.load(std::memory_order_relaxed), d.failed.load(std::memory_order_relaxed),
            d.refused.load(std::memory_order_relaxed), d.wakeups.load(std::memory_order_relaxed), d.ring.size()};
}

}  // namespace rtcrm
