/// @file ack.hpp
/// At-least-once made explicit: every event carries a move-only `ack_token`; the
/// position of its source partition is committed only after the token completes.
///
/// An `offset_tracker` follows the in-flight events of one source partition in arrival
/// order. Each tracked event gets an `ack_token`; the token may be `share()`d, one share
/// per output the event causes, and the event is complete when every share is `ack()`ed.
/// `advance()` then reports the *safe position*: the highest offset such that every event
/// at or below it is complete. Events complete in any order, on any thread.
///
/// Caveats:
/// - Destroying a token without `ack()` or `nack()` is a `nack(errc::dropped)`: never a
///   silent commit.
/// - A nacked event pins the safe position below it for the life of the tracker (the
///   events after it still complete, so the pipeline keeps flowing; on restart the
///   source redelivers from the pinned position). `failed()` counts such events.
/// - `track()` and `advance()` must be called from one thread (the source's); `ack()`,
///   `nack()` and `share()` from any thread.
///
/// Example:
/// @code
///   rtcrm::offset_tracker tracker{1024};
///   auto a = tracker.track(10);          // event at offset 10
///   auto b = tracker.track(11);
///   b->ack();                            // completes out of order
///   tracker.advance();                   // nullopt: 10 is still in flight
///   a->ack();
///   tracker.advance();                   // 11
/// @endcode
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>

namespace rtcrm {

class offset_tracker;

/// A share in one in-flight event. Move-only. Complete it exactly once with `ack()` or
/// `nack()`; any thread may do so. A default-constructed token is empty and its
/// operations do nothing (for events that no source position depends on).
class ack_token {
public:
    ack_token() noexcept = default;
    ack_token(ack_token&& other) noexcept : tracker_(other.tracker_), seq_(other.seq_) { other.tracker_ = nullptr; }
    ack_token& operator=(ack_token&& other) noexcept {
        if (this != &other) {
            release_as_dropped();
            tracker_ = other.tracker_;
            seq_ = other.seq_;
            other.tracker_ = nullptr;
        }
        return *this;
    }
    ack_token(const ack_token&) = delete;
    ack_token& operator=(const ack_token&) = delete;
    /// Dropping an uncompleted token nacks it with `errc::dropped`.
    ~ack_token() { release_as_dropped(); }

    /// This share is done: its part of the event was processed or delivered.
    void ack() noexcept;
    /// This share failed; the event's position will not be committed (see Caveats above).
    void nack(std::error_code reason) noexcept;
    /// Another share in the same event. The event completes when all shares completed.
    /// Must be called on a token that is not yet completed. An empty token shares empty.
    [[nodiscard]] ack_token share() const noexcept;
    /// True while this token still has to be completed.
    [[nodiscard]] explicit operator bool() const noexcept { return tracker_ != nullptr; }
    /// True if the event's source gave its partition up (`offset_tracker::give_up`): its
    /// position will never be committed here, and the partition's next owner reads it again.
    [[nodiscard]] bool given_up() const noexcept;

private:
    friend class offset_tracker;
    ack_token(offset_tracker* tracker, std::uint64_t seq) noexcept : tracker_(tracker), seq_(seq) {}
    void release_as_dropped() noexcept;

    offset_tracker* tracker_ = nullptr;
    std::uint64_t seq_ = 0;
};

/// Tracks the in-flight events of one source partition and computes its safe position.
/// Neither copyable nor movable (tokens point to it); it must outlive its tokens.
class offset_tracker {
public:
    /// @param capacity the most events in flight at once; rounded up to a power of two.
    /// @throws rtcrm::error(errc::invalid_config) if capacity is 0.
    explicit offset_tracker(std::size_t capacity);
    ~offset_tracker();
    offset_tracker(const offset_tracker&) = delete;
    offset_tracker& operator=(const offset_tracker&) = delete;

    /// Starts tracking the event at `offset` (offsets must increase). Returns its token,
    /// or nullopt if `capacity` events are already in flight (call `advance()`, wait, retry).
    /// Source thread only.
    [[nodiscard]] std::optional<ack_token> track(std::int64_t offset);

    /// Retires the completed events at the front and returns the safe position: the
    /// highest offset with every event at or below it complete (nullopt before the first).
    /// Source thread only.
    std::optional<std::int64_t> advance();

    /// Events tracked and not yet retired by `advance()`. Source thread only.
    [[nodiscard]] std::size_t in_flight() const noexcept;
    /// Events completed with a nack so far. Any thread.
    [[nodiscard]] std::uint64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
    /// The first failure's reason, or an empty code if none has been published yet. Any thread.
    [[nodiscard]] std::error_code first_failure() const noexcept;
    /// The partition left this process (a rebalance): no position of it is committed any
    /// more, so its events still in flight need not be applied (`ack_token::given_up`).
    /// Source thread.
    void give_up() noexcept { given_up_.store(true, std::memory_order_release); }
    /// Any thread.
    [[nodiscard]] bool given_up() const noexcept { return given_up_.load(std::memory_order_acquire); }

private:
    friend class ack_token;
    struct slot;
    void complete(std::uint64_t seq, bool failed, std::error_code reason) noexcept;
    void add_share(std::uint64_t seq) noexcept;

    std::unique_ptr<slot[]> slots_;
    std::uint64_t mask_;
    std::uint64_t head_ = 0;  // oldest unretired event (source thread)
    std::uint64_t tail_ = 0;  // next sequence number (source thread)
    std::optional<std::int64_t> safe_;
    bool pinned_ = false;     // a failure stopped the safe position
    std::atomic<std::uint64_t> failed_{0};
    std::atomic<bool> given_up_{false};
    // The first failure, written once by whichever thread nacks first.
    std::atomic<bool> failure_claimed_{false};
    std::atomic<bool> failure_ready_{false};
    int failure_value_ = 0;
    const std::error_category* failure_category_ = nullptr;
};

}  // namespace rtcrm
