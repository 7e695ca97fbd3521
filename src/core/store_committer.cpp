#include "store_committer.hpp"

#include "logging.hpp"
#include "thread_stop.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace rtcrm::detail {

namespace {
// Distinct failure reasons logged; past this many, the rest are counted only.
constexpr std::size_t max_logged_reasons = 16;
}  // namespace

store_committer::store_committer(std::shared_ptr<profile_store> store, std::size_t max_queued,
                                 std::chrono::milliseconds give_up_after, deadline_source drain_deadline)
    : store_(std::move(store)),
      max_queued_(std::max<std::size_t>(max_queued, 1)),
      give_up_after_(give_up_after),
      drain_deadline_(std::move(drain_deadline)) {
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

std::optional<std::string> store_committer::failure() const {
    if (!failing_.load(std::memory_order_acquire)) {
        return std::nullopt;
    }
    std::lock_guard lock(failure_mutex_);
    return fmt::format("store {}: {} write attempt(s) failed in a row; events wait unacked; last: {}", store_->name(),
                       failed_in_a_row_, last_failure_);
}

std::string store_committer::given_up_reason() const {
    std::lock_guard lock(failure_mutex_);
    return given_up_;
}

void store_committer::note_failure(const std::string& reason) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    bool first_time = false;
    {
        std::lock_guard lock(failure_mutex_);
        ++failed_in_a_row_;
        last_failure_ = reason;
        if (logged_.size() < max_logged_reasons && std::find(logged_.begin(), logged_.end(), reason) == logged_.end()) {
            logged_.push_back(reason);
            first_time = true;
        }
    }
    failing_.store(true, std::memory_order_release);
    if (first_time) {
        // Once per distinct reason: a store failing every few milliseconds must not flood
        // the log; failure() and the store_errors counter give the rest.
        log_fmt(log_level::error, "store", "store {}: write failed: {}; retrying (the events wait, not acked)",
                store_->name(), reason);
    }
}

void store_committer::note_success() {
    if (!failing_.load(std::memory_order_acquire)) {
        return;
    }
    std::uint64_t failed = 0;
    {
        std::lock_guard lock(failure_mutex_);
        failed = std::exchange(failed_in_a_row_, 0);
        logged_.clear();
    }
    failing_.store(false, std::memory_order_release);
    log_fmt(log_level::warning, "store", "store {}: writing again after {} failed attempt(s)", store_->name(), failed);
}

void store_committer::run(const std::stop_token& stop) {
    auto acks_in = [](const std::vector<submission>& taken) {
        std::size_t events = 0;
        for (const auto& s : taken) {
            events += s.acks.size();
        }
        return events;
    };
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
        merged.tallies.clear();
        for (auto& s : taken) {  // in submission order: a later copy of a profile wins
            std::move(s.batch.profiles.begin(), s.batch.profiles.end(), std::back_inserter(merged.profiles));
            std::move(s.batch.erased.begin(), s.batch.erased.end(), std::back_inserter(merged.erased));
            std::move(s.batch.positions.begin(), s.batch.positions.end(), std::back_inserter(merged.positions));
            std::move(s.batch.tallies.begin(), s.batch.tallies.end(), std::back_inserter(merged.tallies));
        }
        bool written = merged.empty();
        auto backoff = std::chrono::milliseconds(10);
        clock::time_point stopped_at{};
        std::error_code why = make_error_code(errc::store_error);
        while (!written) {
            const auto began = clock::now();
            const auto stored = store_->write(merged);
            if (stored) {
                commit_latency_.record(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - began).count());
                written = true;
                commits_.fetch_add(1, std::memory_order_relaxed);
                note_success();
                break;
            }
            if (stored.error().code == errc::conflict) {
                errors_.fetch_add(1, std::memory_order_relaxed);
                unstored_.fetch_add(acks_in(taken), std::memory_order_relaxed);
                log_fmt(log_level::error, "store",
                        "store {}: {}. Another instance wrote profiles this one held (it lost their partition, "
                        "or it was taken for dead): this instance now applies no events and commits none; "
                        "restart it to resume from the committed positions",
                        store_->name(), stored.error().reason);
                why = stored.error().code;
                break;
            }
            note_failure(stored.error().reason);
            // The deadline: the runtime's drain deadline, else (stopped by its owner
            // alone) give_up_after from the stop.
            auto give_up = drain_deadline_ ? drain_deadline_() : std::nullopt;
            if (!give_up && stop.stop_requested()) {
                if (stopped_at == clock::time_point{}) {
                    stopped_at = clock::now();
                }
                give_up = stopped_at + give_up_after_;
            }
            const auto now = clock::now();
            if (give_up && now >= *give_up) {
                const auto events = acks_in(taken);
                unstored_.fetch_add(events, std::memory_order_relaxed);
                {
                    std::lock_guard lock(failure_mutex_);
                    given_up_ = stored.error().reason;
                }
                log_fmt(log_level::error, "store",
                        "store {}: giving up a write at the drain deadline: {} events processed and not stored "
                        "(not committed: they come again after a restart): {}",
                        store_->name(), events, stored.error().reason);
                break;
            }
            auto wake_at = now + backoff;
            if (give_up) {
                wake_at = std::min(wake_at, *give_up);
            }
            std::unique_lock lock(mutex_);
            work_.wait_until(lock, wake_at);  // stop() wakes us
            backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
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
