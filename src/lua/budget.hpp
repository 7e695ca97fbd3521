// Internal: the budget of one Lua call, shared by the count hook, the bounded built-ins
// and the allocator, so that nothing a script runs escapes it.
//
// A call is armed with three limits:
// - work: VM instructions, counted by the count hook every `stride` instructions, plus the
//   units that built-ins charge for the work they do inside one instruction (one unit is
//   about one instruction's worth: 64 bytes copied or scanned, one pattern-matcher step,
//   one comparison of a sort);
// - a wall-clock deadline, read at each hook tick and each charge that crosses a tick;
// - allocation: the bytes the call may add to the state's live memory.
// Once the work or the deadline is spent the budget stays spent until the next call is
// armed: the hook then fires at every instruction and every charge raises, so a script
// that catches the error (pcall) can only unwind.
//
// The budget lives in the main thread's extra space (lua_getextraspace), so C functions
// find it without an upvalue; a state without one (a plain lua_State in a test) is never
// charged.
#pragma once

#include <lua.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace rtcrm::detail::lua {

class call_budget {
public:
    using clock = std::chrono::steady_clock;

    struct limits {
        std::uint64_t work = 1'000'000;                  // instruction units per call
        std::chrono::nanoseconds deadline{std::chrono::milliseconds{250}};
        std::size_t allocation = 8U << 20U;              // bytes of live memory a call may add
    };

    // VM instructions between two hook ticks. Calls shorter than this never tick, so a
    // small handler pays nothing for the budget but the hook's re-arming.
    static constexpr int stride = 256;

    // Makes this budget the one of `L` (and of every thread created from it later).
    void attach(lua_State* L) noexcept;

    // Starts a call: fresh work and allocation budgets, the deadline counted from now.
    // `memory_in_use` is the state's live memory at the start of the call.
    void arm(lua_State* L, const limits& l, std::size_t memory_in_use) noexcept;
    // Ends a call: no hook, no charges, no allocation limit until the next arm().
    void disarm(lua_State* L) noexcept;

    // Adds `units` of work; raises a Lua error when the work or the deadline is spent.
    // Must be called from a C function running in `L` (never from the hook).
    void charge(lua_State* L, std::uint64_t units);

    // The allocator asks before growing the state's memory to `memory_in_use + growth`.
    [[nodiscard]] bool may_allocate(std::size_t memory_in_use, std::size_t growth) const noexcept {
        return !armed_ || memory_in_use + growth <= memory_ceiling_;
    }

    [[nodiscard]] bool armed() const noexcept { return armed_; }
    [[nodiscard]] bool spent() const noexcept { return spent_ != reason::none; }
    // Work counted so far in this call (ticks and charges; the instructions since the last
    // tick are not included).
    [[nodiscard]] std::uint64_t used() const noexcept { return used_; }
    [[nodiscard]] const limits& current_limits() const noexcept { return limits_; }
    // When the call started (the budget's clock), for the cost of failed calls.
    [[nodiscard]] clock::time_point started() const noexcept { return started_; }

    // The line the script was at on the latest tick (0 before the first), for reports of
    // what a busy shard is doing. Written by the shard, readable from other threads.
    [[nodiscard]] int line() const noexcept { return line_.load(std::memory_order_relaxed); }

private:
    enum class reason { none, work, deadline };
    static void hook(lua_State* L, lua_Debug* ar);
    // Counts a tick's worth of time; returns why the budget is spent, or none.
    reason check(clock::time_point now) noexcept;
    [[noreturn]] void raise(lua_State* L, lua_Debug* ar);

    limits limits_;
    bool armed_ = false;
    reason spent_ = reason::none;
    std::uint64_t used_ = 0;
    std::uint64_t next_check_ = 0;  // the next used_ at which a charge reads the clock
    std::size_t memory_ceiling_ = 0;
    clock::time_point started_{};
    clock::time_point deadline_{};
    std::atomic<int> line_{0};
};

// The budget attached to `L`, or nullptr.
call_budget* budget_of(lua_State* L) noexcept;

// Charges `units` to the budget of `L`, if it has an armed one (see call_budget::charge).
inline void charge(lua_State* L, std::uint64_t units) {
    if (call_budget* b = budget_of(L); b != nullptr && b->armed()) {
        b->charge(L, units);
    }
}

// Bytes of a string or result that cost one unit of work.
constexpr std::uint64_t bytes_per_unit = 64;
constexpr std::uint64_t units_for_bytes(std::size_t bytes) noexcept { return 1 + bytes / bytes_per_unit; }

}  // namespace rtcrm::detail::lua
