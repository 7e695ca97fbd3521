// Internal: Lua 5.4 patterns (manual §6.4.1) and string.find, string.match, string.gmatch
// and string.gsub on top of them, with every step of the matcher charged to the call's
// budget (budget.hpp). The matcher is pattern_matcher.{hpp,cpp}; the four functions are
// pattern.cpp; the work_meter here also counts the other bounded built-ins
// (bounded_library.cpp).
//
// Results and error messages are those of Lua 5.4.4's string library, so scripts see no
// difference; what changes is that a pattern that would backtrack for minutes inside one
// VM instruction ("a*a*a*a*b" on a long run of 'a') spends its call's budget and raises
// "instruction budget exceeded" like a Lua loop would.
//
// Costs: one unit per matcher step (an attempt of a pattern item at a subject position, one
// character of a repetition or a %b scan), 64 bytes per unit for plain finds, back-references
// and the text gsub builds. Work is counted in a work_meter and charged every 256 units, and
// the remainder when the function returns, so the hot loop pays an increment and a compare.
#pragma once

#include "budget.hpp"

#include <lua.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>

namespace rtcrm::detail::lua {

// Counts the work of one C function call and charges it to the budget of `L` in batches.
// charge() may raise a Lua error (which unwinds through the caller's frames), so a meter is
// only used where raising is safe: inside a lua_CFunction, with no C resources held.
class work_meter {
public:
    static constexpr std::uint64_t batch = 256;

    explicit work_meter(lua_State* L) noexcept : L_{L} {}
    work_meter(const work_meter&) = delete;
    work_meter& operator=(const work_meter&) = delete;

    void step() {
        if (++pending_ >= batch) {
            charge_pending();
        }
    }

    void steps(std::uint64_t n) {
        pending_ = n > std::numeric_limits<std::uint64_t>::max() - pending_ ? std::numeric_limits<std::uint64_t>::max()
                                                                            : pending_ + n;
        if (pending_ >= batch) {
            charge_pending();
        }
    }

    // Bytes copied or scanned; a partial unit is carried to the next call.
    void bytes(std::size_t n) {
        const std::uint64_t total = odd_bytes_ + n;  // odd_bytes_ < bytes_per_unit: no overflow in practice
        odd_bytes_ = total % bytes_per_unit;
        if (total >= bytes_per_unit) {
            steps(total / bytes_per_unit);
        }
    }

    // Charges what is still pending (a partial unit of bytes counts as one). Call it before
    // the function returns normally; after an error the remainder is not worth charging.
    void settle() {
        if (odd_bytes_ != 0) {
            odd_bytes_ = 0;
            ++pending_;
        }
        if (pending_ != 0) {
            charge_pending();
        }
    }

private:
    void charge_pending() {
        const std::uint64_t units = pending_;
        pending_ = 0;
        charge(L_, units);
    }

    lua_State* L_;
    std::uint64_t pending_ = 0;
    std::uint64_t odd_bytes_ = 0;
};

// string.sub's reading of a start position (1-based): negative counts from the end, 0 and
// anything before the start clip to 1. May exceed `len` (the caller checks).
constexpr std::size_t start_position(lua_Integer pos, std::size_t len) noexcept {
    if (pos > 0) {
        return static_cast<std::size_t>(pos);
    }
    if (pos == 0 || pos < -static_cast<lua_Integer>(len)) {
        return 1;
    }
    return len + static_cast<std::size_t>(pos) + 1;
}

// string.sub's reading of an end position (1-based, inclusive), clipped to [0, len].
constexpr std::size_t end_position(lua_Integer pos, std::size_t len) noexcept {
    if (pos > static_cast<lua_Integer>(len)) {
        return len;
    }
    if (pos >= 0) {
        return static_cast<std::size_t>(pos);
    }
    if (pos < -static_cast<lua_Integer>(len)) {
        return 0;
    }
    return len + static_cast<std::size_t>(pos) + 1;
}

// string.find (s, pattern [, init [, plain]])
int pattern_find(lua_State* L);
// string.match (s, pattern [, init])
int pattern_match(lua_State* L);
// string.gmatch (s, pattern [, init]); a '^' at the start of the pattern is an ordinary
// character here, as in Lua 5.4.4.
int pattern_gmatch(lua_State* L);
// string.gsub (s, pattern, repl [, n])
int pattern_gsub(lua_State* L);

}  // namespace rtcrm::detail::lua
