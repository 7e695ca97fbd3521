#include "store_committer.hpp"

#include "logging.hpp"
#include "thread_stop.hpp"

#include <algorithm>

namespace rtcrm::detail {

using clock = std::chrono::steady_clock;

store_committer::store_committer(std::shared_ptr<profile_store> store, std::size_t max_queued,
                                 std::chrono::milliseconds give_up_after)
    : store_(std::move(store)), max_queued_(std::max<std::size_t>(max_queued, 1)), give_up_after_(give_up_after) {
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
    wake_on_stop_.emplace(thread_.get_stop_token(), waker{this});
}

void store_committer::waker::operator()() const noexcept {
    // Through the mutex: a waiter between its check of the stop and its wait is woken too.
    { std::lock_guard lock(self->mutex_); }
    self->work_.notify_all();
    self->room_.notify_all();
}

store_committer::~store_committer() { stop(); }

std::uint64_t store_committer::submit(write_batch batch, std::vector<ack_token> acks) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return queue_.size() < max_queued_ || stopping(); });
    const auto seq = next_seq_++;
    queue_.push_back(submission{seq, std::move(batch), std::move(acks)});
    lock.unlock();
    work_.notify_one();
    return seq;
}

bool store_committer::wait_for(std::uint64_t seq, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return room_.wait_for(lock, timeout, [&] { return durable_through() >= seq; });
}

void store_committer::stop() {
    stop_and_join(thread_);  // the waker wakes the thread and the shards
}

void store_committer::run(const std::stop_token& stop) {
    std::vector<submission> taken;
    write_batch merged;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            work_.wait(lock, [&] { return !queue_.empty() || stop.stop_requested(); });
            if (queue_.empty()) {
                return;  // stopping, and nothing left
            }
            // Everything the shards handed in since the last write: one write for all.
            taken.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
            queue_.clear();
        }
        room_.notify_all();
        merged.profiles.clear();
        merged.erased.clear();
        merged.positions.clear();
        for (auto& s : taken) {  // in submission order: a later copy of a profile wins
            std::move(s.batch.profiles.begin(), s.batch.profiles.end(), std::back_inserter(merged.profiles));
            std::move(s.batch.erased.begin(), s.batch.erased.end(), std::back_inserter(merged.erased));
            std::move(s.batch.positions.begin(), s.batch.positions.end(), std::back_inserter(merged.positions));
        }
        bool written = merged.empty();
        auto backoff = std::chrono::milliseconds(10);
        clock::time_point give_up{};
        std::error_code why = make_error_code(errc::store_error);
        while (!written) {
            const auto began = clock::now();
            const auto stored = store_->write(merged);
            if (stored) {
                commit_latency_.record(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - began).count());
                written = true;
                break;
            }
            errors_.fetch_add(1, std::memory_order_relaxed);
            if (stored.error().code == errc::conflict) {
                log_fmt(log_level::error, "store",
                        "store {}: {}. Another instance wrote profiles this one held (it lost their partition, "
                        "or it was taken for dead): this instance now applies no events and commits none; "
                        "restart it to resume from the committed positions",
                        store_->name(), stored.error().reason);
                why = stored.error().code;
                break;
            }
            std::unique_lock lock(mutex_);
            if (stop.stop_requested()) {
                if (give_up == clock::time_point{}) {
                    give_up = clock::now() + give_up_after_;
                } else if (clock::now() >= give_up) {
                    log_fmt(log_level::error, "store", "store {}: giving up a write-back at stop: {}", store_->name(),
                            stored.error().reason);
                    break;
                }
            }
            work_.wait_for(lock, backoff);  // stop() wakes us
            backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
        }
        if (written) {
            commits_.fetch_add(1, std::memory_order_relaxed);
        }
        for (auto& s : taken) {
            for (auto& ack : s.acks) {
                if (written) {
                    ack.ack();
                } else {
                    ack.nack(why);
                }
            }
        }
        if (why == errc::conflict) {
            conflicts_.fetch_add(1, std::memory_order_release);
        }
        {
            std::lock_guard lock(mutex_);
            done_.store(taken.back().seq, std::memory_order_release);
        }
        room_.notify_all();
        taken.clear();
    }
}

}  // namespace rtcrm::detail
