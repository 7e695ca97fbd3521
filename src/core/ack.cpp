#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/error.hpp>

#include <bit>
#include <utility>

namespace rtcrm {

// One ring slot per in-flight event. `refs` counts the uncompleted shares; the share that
// brings it to zero publishes the outcome in `state` with release order, which
// `advance()` reads with acquire order. Slots are reused only after `advance()` retired
// them, and a retired slot has no live token, so no token ever sees a reused slot.
struct offset_tracker::slot {
    enum : std::uint8_t { pending = 0, done = 1, failed = 2 };
    std::atomic<std::uint32_t> refs{0};
    std::atomic<std::uint8_t> state{pending};
    std::atomic<bool> any_failed{false};
    std::int64_t offset = 0;
};

offset_tracker::offset_tracker(std::size_t capacity) {
    if (capacity == 0) {
        throw error(errc::invalid_config, "offset_tracker: capacity must be > 0");
    }
    const auto size = std::bit_ceil(capacity);
    slots_ = std::make_unique<slot[]>(size);
    mask_ = size - 1;
}

offset_tracker::~offset_tracker() = default;

std::optional<ack_token> offset_tracker::track(std::int64_t offset) {
    if (tail_ - head_ > mask_) {
        return std::nullopt;
    }
    slot& s = slots_[tail_ & mask_];
    s.offset = offset;
    s.any_failed.store(false, std::memory_order_relaxed);
    s.state.store(slot::pending, std::memory_order_relaxed);
    s.refs.store(1, std::memory_order_release);
    return ack_token{this, tail_++};
}

std::optional<std::int64_t> offset_tracker::advance() {
    while (head_ != tail_) {
        slot& s = slots_[head_ & mask_];
        const auto state = s.state.load(std::memory_order_acquire);
        if (state == slot::pending) {
            break;
        }
        if (state == slot::failed) {
            pinned_ = true;
        } else if (!pinned_) {
            safe_ = s.offset;
        }
        ++head_;
    }
    return safe_;
}

std::size_t offset_tracker::in_flight() const noexcept { return static_cast<std::size_t>(tail_ - head_); }

std::error_code offset_tracker::first_failure() const noexcept {
    if (!failure_ready_.load(std::memory_order_acquire)) {
        return {};
    }
    return {failure_value_, *failure_category_};
}

void offset_tracker::add_share(std::uint64_t seq) noexcept {
    slots_[seq & mask_].refs.fetch_add(1, std::memory_order_relaxed);
}

void offset_tracker::complete(std::uint64_t seq, bool failed, std::error_code reason) noexcept {
    slot& s = slots_[seq & mask_];
    if (failed) {
        if (!s.any_failed.exchange(true, std::memory_order_relaxed)) {
            failed_.fetch_add(1, std::memory_order_relaxed);
            if (!failure_claimed_.exchange(true, std::memory_order_relaxed)) {
                failure_value_ = reason.value();
                failure_category_ = &reason.category();
                failure_ready_.store(true, std::memory_order_release);
            }
        }
    }
    if (s.refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        const bool any_failed = s.any_failed.load(std::memory_order_relaxed);
        s.state.store(any_failed ? slot::failed : slot::done, std::memory_order_release);
    }
}

bool ack_token::given_up() const noexcept { return tracker_ != nullptr && tracker_->given_up(); }

void ack_token::ack() noexcept {
    if (tracker_ != nullptr) {
        std::exchange(tracker_, nullptr)->complete(seq_, false, {});
    }
}

void ack_token::nack(std::error_code reason) noexcept {
    if (tracker_ != nullptr) {
        std::exchange(tracker_, nullptr)->complete(seq_, true, reason);
    }
}

ack_token ack_token::share() const noexcept {
    if (tracker_ == nullptr) {
        return {};
    }
    tracker_->add_share(seq_);
    return ack_token{tracker_, seq_};
}

void ack_token::release_as_dropped() noexcept {
    if (tracker_ != nullptr) {
        nack(make_error_code(errc::dropped));
    }
}

}  // namespace rtcrm
