#include "run_state.hpp"

#include <algorithm>
#include <utility>

namespace rtcrm::detail {
namespace {

using clock = run_state::clock;

// How long a stop() goes on waiting after the drain timeout for the sources to commit and
// close and for the shards that are not stuck to finish.
constexpr auto stop_settle = std::chrono::seconds(1);

std::int64_t to_ns(clock::time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

clock::time_point from_ns(std::int64_t ns) noexcept {
    return clock::time_point{std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(ns))};
}

}  // namespace

void run_state::request_stop(std::chrono::milliseconds drain_timeout) {
    std::int64_t unset = 0;
    stop_deadline_ns_.compare_exchange_strong(unset, to_ns(clock::now() + drain_timeout), std::memory_order_acq_rel);
    stopping_.request_stop();
}

std::optional<clock::time_point> run_state::stop_deadline() const noexcept {
    const auto deadline = stop_deadline_ns_.load(std::memory_order_acquire);
    return deadline == 0 ? std::nullopt : std::optional{from_ns(deadline)};
}

bool run_state::past_stop_deadline() const noexcept {
    const auto deadline = stop_deadline_ns_.load(std::memory_order_acquire);
    return deadline != 0 && to_ns(clock::now()) >= deadline;
}

void run_state::source_draining(std::uint32_t source, clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    draining_[source] = deadline;
}

std::optional<clock::time_point> run_state::drain_deadline() const {
    if (auto stop = stop_deadline()) {
        return stop;
    }
    std::lock_guard lock(mutex_);
    std::optional<clock::time_point> latest;
    for (const auto& d : draining_) {
        if (!d) {
            return std::nullopt;
        }
        latest = latest ? std::max(*latest, *d) : *d;
    }
    return latest;
}

bool run_state::mark_started() {
    std::lock_guard lock(mutex_);
    return !std::exchange(started_, true);
}

void run_state::set_running(std::uint32_t threads) {
    std::lock_guard lock(mutex_);
    running_ = threads;
}

bool run_state::started() const {
    std::lock_guard lock(mutex_);
    return started_;
}

void run_state::source_ended(std::uint32_t source) {
    std::lock_guard lock(mutex_);
    source_done_[source] = true;
}

void run_state::shard_ended(std::uint32_t shard) {
    std::lock_guard lock(mutex_);
    shard_done_[shard] = true;
}

void run_state::thread_done() {
    std::lock_guard lock(mutex_);
    --running_;
    cv_.notify_all();
}

run_state::snapshot run_state::now() const {
    std::lock_guard lock(mutex_);
    return {started_, source_done_, shard_done_};
}

bool run_state::await_threads(clock::time_point deadline, const std::function<bool(std::uint32_t, std::int64_t)>& stuck) {
    const auto settled = std::max(deadline, clock::now()) + stop_settle;
    std::unique_lock lock(mutex_);
    for (;;) {
        if (running_ == 0) {
            return true;
        }
        const auto now = clock::now();
        if (now < deadline) {
            cv_.wait_until(lock, deadline);
            continue;
        }
        bool only_stuck_left = std::all_of(source_done_.begin(), source_done_.end(), [](bool done) { return done; });
        bool any_stuck = false;  // threads that all ended their work are finishing: wait for them
        for (std::uint32_t s = 0; only_stuck_left && s < shard_done_.size(); ++s) {
            const bool stuck_now = !shard_done_[s] && stuck(s, to_ns(now));
            only_stuck_left = shard_done_[s] || stuck_now;
            any_stuck = any_stuck || stuck_now;
        }
        only_stuck_left = only_stuck_left && any_stuck;
        if (only_stuck_left || now >= settled) {
            gave_up_ = true;
            cv_.notify_all();  // wait() returns too
            return false;
        }
        cv_.wait_for(lock, std::chrono::milliseconds(10));
    }
}

run_state::ending run_state::wait_ended(std::optional<std::chrono::milliseconds> timeout) {
    std::unique_lock lock(mutex_);
    if (!started_) {
        return ending::not_started;
    }
    const auto over = [&] { return running_ == 0 || gave_up_; };
    if (!timeout) {
        cv_.wait(lock, over);
    } else if (!cv_.wait_for(lock, *timeout, over)) {
        return ending::timed_out;
    }
    return running_ > 0 ? ending::gave_up : ending::ended;
}

bool run_state::begin_join() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return running_ == 0; });
    return !std::exchange(joined_, true);
}

}  // namespace rtcrm::detail
