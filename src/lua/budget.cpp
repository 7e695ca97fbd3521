#include "budget.hpp"

#include <cstdint>
#include <cstring>

namespace rtcrm::detail::lua {

call_budget* budget_of(lua_State* L) noexcept {
    call_budget* b = nullptr;
    std::memcpy(&b, lua_getextraspace(L), sizeof b);
    return b;
}

void call_budget::attach(lua_State* L) noexcept {
    call_budget* self = this;
    std::memcpy(lua_getextraspace(L), &self, sizeof self);
}

void call_budget::arm(lua_State* L, const limits& l, std::size_t memory_in_use) noexcept {
    limits_ = l;
    armed_ = true;
    spent_ = reason::none;
    used_ = 0;
    next_check_ = stride;
    memory_ceiling_ = memory_in_use + l.allocation;
    // The clock is read at the first tick, not here: a handler shorter than one stride
    // (most are) then costs no clock read. What runs before the first tick is at most a
    // stride of instructions, each bounded by the allocation budget.
    started_ = {};
    line_.store(0, std::memory_order_relaxed);
    lua_sethook(L, &call_budget::hook, LUA_MASKCOUNT, stride);
}

void call_budget::disarm(lua_State* L) noexcept {
    armed_ = false;
    lua_sethook(L, nullptr, 0, 0);
}

call_budget::reason call_budget::check(clock::time_point now) noexcept {
    if (started_ == clock::time_point{}) {
        started_ = now;
        deadline_ = now + limits_.deadline;
    }
    next_check_ = used_ + stride;
    if (used_ > limits_.work) {
        return reason::work;
    }
    if (now > deadline_) {
        return reason::deadline;
    }
    return reason::none;
}

void call_budget::charge(lua_State* L, std::uint64_t units) {
    if (spent_ != reason::none) {
        raise(L, nullptr);
    }
    // Saturates: a caller's estimate of a huge amount of work must not wrap to a small one.
    used_ = units > UINT64_MAX - used_ ? UINT64_MAX : used_ + units;
    if (used_ < next_check_) {
        return;
    }
    spent_ = check(clock::now());
    if (spent_ != reason::none) {
        raise(L, nullptr);
    }
}

void call_budget::hook(lua_State* L, lua_Debug* ar) {
    call_budget* self = budget_of(L);
    if (self == nullptr || !self->armed_) {
        return;
    }
    if (self->spent_ == reason::none) {
        self->used_ += stride;
        self->spent_ = self->check(clock::now());
        if (self->spent_ == reason::none) {
            if (lua_getinfo(L, "l", ar) != 0) {
                self->line_.store(ar->currentline, std::memory_order_relaxed);
            }
            return;
        }
    }
    self->raise(L, ar);  // and from now on at every instruction (see raise)
}

void call_budget::raise(lua_State* L, lua_Debug* ar) {
    // Whichever way the budget was spent (a tick or a charge), from now on every instruction
    // of this thread raises, until the next arm(): a handler that catches the error can only
    // unwind.
    lua_sethook(L, &call_budget::hook, LUA_MASKCOUNT, 1);
    // Inside the hook, level 0 is the Lua function being run; from a C function (a charge),
    // level 1 is its caller, which may be C as well (pcall, gsub calling a replacement): the
    // position is that of the nearest Lua function.
    lua_Debug local{};
    int level = ar != nullptr ? 0 : 1;
    bool located = false;
    while (!located && lua_getstack(L, level, &local) != 0) {
        located = lua_getinfo(L, "Sl", &local) != 0 && local.currentline > 0;
        ++level;
    }
    const char* what = spent_ == reason::deadline ? "deadline exceeded" : "instruction budget exceeded";
    const char* hint = spent_ == reason::deadline ? "(the call ran longer than its wall-clock limit)" : "(endless loop?)";
    if (located) {
        lua_pushfstring(L, "%s:%d: %s %s", local.short_src, local.currentline, what, hint);
    } else {
        lua_pushfstring(L, "%s %s", what, hint);
    }
    lua_error(L);
    __builtin_unreachable();
}

}  // namespace rtcrm::detail::lua
