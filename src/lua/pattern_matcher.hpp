// Internal: the matcher of Lua 5.4 patterns (manual §6.4.1) that string.find, match,
// gmatch and gsub (pattern.cpp) run, with its steps counted for the call's budget.
//
// It is Lua 5.4.4's matcher (lstrlib.c) step for step, so results, captures and error
// messages are the same; the difference is the count: one unit per step (an attempt of a
// pattern item at a subject position, one character of a repetition or a %b scan) and the
// bytes a back-reference compares, handed to the work_meter a batch at a time.
#pragma once

#include "pattern.hpp"

#include <lua.hpp>

#include <cstddef>
#include <cstdint>

namespace rtcrm::detail::lua {

// Escapes pattern items, and captures in gsub's replacement strings.
constexpr char pattern_escape = '%';
// The length capture() gives for a position capture "()", which has no text.
constexpr std::ptrdiff_t capture_position = -2;

// One match of a pattern against a subject. The pointers point into Lua strings, which end
// with a '\0' one past their length: where the grammar looks one character ahead (a '('
// followed by ')', a '%f' frontier at the end of the subject) that '\0' is what is read, as
// in Lua's own matcher.
class matcher {
public:
    matcher(lua_State* L, const char* subject, std::size_t subject_size, const char* pattern, std::size_t pattern_size,
            work_meter& meter) noexcept
        : L_{L},
          subject_{subject},
          subject_end_{subject + subject_size},
          pattern_end_{pattern + pattern_size},
          meter_{meter} {}

    // Forgets the captures of a failed attempt before the next one.
    void restart() noexcept { level_ = 0; }

    // Matches the pattern from `p` against the subject from `s`; the end of the match, or
    // nullptr.
    const char* match(const char* s, const char* p);

    // Pushes the captures of a match of [s, e) (the whole match when the pattern has none
    // and `s` is not null); returns how many.
    int push_captures(const char* s, const char* e) {
        const int count = (level_ == 0 && s != nullptr) ? 1 : level_;
        luaL_checkstack(L_, count, "too many captures");
        for (int i = 0; i < count; ++i) {
            push_capture(i, s, e);
        }
        return count;
    }

    void push_capture(int i, const char* s, const char* e) {
        const char* text = nullptr;
        const std::ptrdiff_t len = capture(i, s, e, &text);
        if (len != capture_position) {
            lua_pushlstring(L_, text, static_cast<std::size_t>(len));
        }
    }

    // Capture `i` of a match of [s, e): its length, with its text in `text`. A position
    // capture is pushed as an integer and returns capture_position.
    std::ptrdiff_t capture(int i, const char* s, const char* e, const char** text) {
        if (i >= level_) {
            if (i != 0) {
                luaL_error(L_, "invalid capture index %%%d", i + 1);
            }
            *text = s;
            return e - s;
        }
        const std::ptrdiff_t len = captures_[i].len;
        *text = captures_[i].init;
        if (len == capture_open) {
            luaL_error(L_, "unfinished capture");
        } else if (len == capture_position) {
            lua_pushinteger(L_, static_cast<lua_Integer>(captures_[i].init - subject_) + 1);
        }
        return len;
    }

    [[nodiscard]] const char* subject_end() const noexcept { return subject_end_; }
    [[nodiscard]] work_meter& meter() noexcept { return meter_; }

    // Charges every step counted so far; call before the function returns normally.
    void settle() {
        meter_.steps(work_meter::batch - steps_left_);
        steps_left_ = work_meter::batch;
        meter_.settle();
    }

private:
    // The limits of Lua 5.4.4's matcher (LUA_MAXCAPTURES and MAXCCALLS in lstrlib.c). They
    // show in error messages ("too many captures", "pattern too complex"), so they are kept
    // equal.
    static constexpr int max_captures = 32;
    static constexpr int max_match_depth = 200;
    // A capture's length while it is open.
    static constexpr std::ptrdiff_t capture_open = -1;

    struct capture_slot {
        const char* init;
        std::ptrdiff_t len;
    };

    // The pieces of match(), defined beside it (pattern_matcher.cpp) and inlined there.
    inline void step();
    inline const char* class_end(const char* p) const;
    inline bool single(const char* s, const char* p, const char* ep) const noexcept;
    inline const char* balance(const char* s, const char* p);
    inline const char* max_expand(const char* s, const char* p, const char* ep);
    inline const char* min_expand(const char* s, const char* p, const char* ep);
    inline const char* start_capture(const char* s, const char* p, std::ptrdiff_t what);
    inline const char* end_capture(const char* s, const char* p);
    inline int capture_to_close() const;
    inline const char* back_reference(const char* s, int digit);

    lua_State* L_;
    const char* subject_;
    const char* subject_end_;
    const char* pattern_end_;
    work_meter& meter_;
    std::uint64_t steps_left_ = work_meter::batch;
    int depth_left_ = max_match_depth;
    int level_ = 0;
    capture_slot captures_[max_captures];
};

}  // namespace rtcrm::detail::lua
