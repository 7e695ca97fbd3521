// The work the bounded built-ins (patterns, string building, table.concat/sort/unpack, utf8)
// do inside one VM instruction is charged to the call's budget, so a catastrophic pattern
// or a huge string or table fails the call with the budget error at the script's line
// instead of stalling the shard.
#include "lua/bounded_library.hpp"
#include "lua/budget.hpp"

#include "lua_calls.hpp"

#include <gtest/gtest.h>

#include <lua.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

namespace rl = rtcrm::detail::lua;
using rtcrm::testing::lua_calls::starts_with;
using rtcrm::testing::lua_calls::state_ptr;

// A state with a budget attached and the bounded library open, whose allocator refuses to
// grow past a cap so that a charge that failed to happen cannot eat the machine.
class budgeted_state {
public:
    budgeted_state() : L_{lua_newstate(&budgeted_state::allocate, this)} {
        luaL_openlibs(L_.get());
        budget_.attach(L_.get());
        rl::open_bounded_library(L_.get());
    }

    // Runs `code` with no budget armed (setup: big strings and tables).
    void setup(const char* code) { ASSERT_EQ(run(code), "") << code; }

    // Runs `code` as the chunk "budget_test.lua" under a budget of `work` units; returns the
    // error message, or "" if it succeeded.
    std::string run_armed(const char* code, std::uint64_t work) {
        // A generous deadline: the outcome must not depend on how busy the machine is.
        const rl::call_budget::limits limits{
            .work = work, .deadline = std::chrono::seconds{60}, .allocation = 256U << 20U};
        budget_.arm(L_.get(), limits, used_);
        std::string error = run(code);
        budget_.disarm(L_.get());
        return error;
    }

    [[nodiscard]] const rl::call_budget& budget() const noexcept { return budget_; }
    [[nodiscard]] std::size_t peak_memory() const noexcept { return peak_; }
    lua_State* get() const noexcept { return L_.get(); }

private:
    static constexpr std::size_t memory_cap = 512U << 20U;

    std::string run(const char* code) {
        lua_State* L = L_.get();
        if (luaL_loadbuffer(L, code, std::strlen(code), "=budget_test.lua") != LUA_OK ||
            lua_pcall(L, 0, 0, 0) != LUA_OK) {
            std::string error = lua_tostring(L, -1) != nullptr ? lua_tostring(L, -1) : "(not a string)";
            lua_pop(L, 1);
            return error;
        }
        return "";
    }

    static void* allocate(void* ud, void* ptr, std::size_t osize, std::size_t nsize) noexcept {
        auto* self = static_cast<budgeted_state*>(ud);
        const std::size_t old_size = ptr != nullptr ? osize : 0;
        if (nsize == 0) {
            self->used_ -= old_size;
            std::free(ptr);
            return nullptr;
        }
        if (nsize > old_size && self->used_ + (nsize - old_size) > memory_cap) {
            return nullptr;
        }
        void* block = std::realloc(ptr, nsize);
        if (block != nullptr) {
            self->used_ = self->used_ - old_size + nsize;
            self->peak_ = std::max(self->peak_, self->used_);
        }
        return block;
    }

    std::size_t used_ = 0;
    std::size_t peak_ = 0;
    rl::call_budget budget_;
    state_ptr L_;
};

}  // namespace

TEST(bounded_library, a_catastrophic_pattern_fails_with_the_budget_error_at_its_line) {
    budgeted_state L;
    const std::string error = L.run_armed(
        "local s = ('a'):rep(26)\n"
        "return s:find(('a*'):rep(9) .. 'b')\n",
        100'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:2: instruction budget exceeded")) << error;
}

TEST(bounded_library, a_catastrophic_pattern_fails_in_match_gmatch_and_gsub_too) {
    budgeted_state L;
    L.setup("s = ('a'):rep(26) p = ('a*'):rep(9) .. 'b'");
    EXPECT_TRUE(starts_with(L.run_armed("return s:match(p)", 100'000), "budget_test.lua:1: instruction budget"));
    EXPECT_TRUE(
        starts_with(L.run_armed("for x in s:gmatch(p) do end", 100'000), "budget_test.lua:1: instruction budget"));
    EXPECT_TRUE(starts_with(L.run_armed("\nreturn s:gsub(p, 'x')", 100'000), "budget_test.lua:2: instruction budget"));
}

TEST(bounded_library, one_upper_on_a_big_string_is_charged_before_it_runs) {
    budgeted_state L;
    L.setup("big = ('x'):rep(4 * 1024 * 1024)");
    // Three instructions: only the charge can stop this call.
    EXPECT_TRUE(starts_with(L.run_armed("local u = big:upper()", 10'000), "budget_test.lua:1: instruction budget"));
    // The call within its budget works.
    EXPECT_EQ(L.run_armed("assert(#big:upper() == #big)", 2'000'000), "");
}

TEST(bounded_library, a_loop_of_upper_on_a_big_string_fails_instead_of_running_on) {
    budgeted_state L;
    L.setup("big = ('x'):rep(4 * 1024 * 1024)");
    const std::string error = L.run_armed(
        "local n = 0\n"
        "for i = 1, 1e9 do local u = big:upper() n = n + 1 end\n",
        1'000'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:2: instruction budget exceeded")) << error;
}

TEST(bounded_library, a_huge_rep_is_refused_before_it_allocates) {
    budgeted_state L;
    const std::string error = L.run_armed("local s = ('x'):rep(1e9)", 1'000'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:1: instruction budget exceeded")) << error;
    EXPECT_LT(L.peak_memory(), 64U << 20U);
    // Copies of the empty string cost too (stock Lua loops over them).
    EXPECT_TRUE(
        starts_with(L.run_armed("local s = (''):rep(1e15)", 1'000'000), "budget_test.lua:1: instruction budget"));
}

TEST(bounded_library, concat_of_a_big_table_fails_with_the_budget_error) {
    budgeted_state L;
    L.setup("t = {} for i = 1, 300000 do t[i] = 'item' .. i end");
    const std::string error = L.run_armed("local s = table.concat(t, ',')", 100'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:1: instruction budget exceeded")) << error;
}

TEST(bounded_library, sort_of_a_big_table_fails_before_it_sorts) {
    budgeted_state L;
    L.setup("u = {} for i = 1, 300000 do u[i] = (i * 7919) % 300007 end");
    const std::string error = L.run_armed("table.sort(u)", 100'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:1: instruction budget exceeded")) << error;
    // Nothing was moved: the charge came first.
    EXPECT_EQ(L.run_armed("assert(u[1] == 7919 and u[2] == 15838)", 1'000), "");
}

TEST(bounded_library, other_bulk_functions_fail_with_the_budget_error) {
    budgeted_state L;
    L.setup("big = ('x'):rep(4 * 1024 * 1024) t = {} for i = 1, 300000 do t[i] = i end");
    for (const char* code : {"local s = big:lower()", "local s = big:reverse()", "local s = big:sub(2)",
                             "local s = string.format('%s', big)", "local n = utf8.len(big)",
                             "local s = table.unpack(t)", "table.insert(t, 1, 0)", "table.remove(t, 1)",
                             "table.move(t, 1, #t, 2)", "local n = utf8.offset(big, 4000000)",
                             "local p = big:find('y', 1, true)", "local n = select('#', big:byte(1, -1))"}) {
        const std::string error = L.run_armed(code, 10'000);
        EXPECT_TRUE(starts_with(error, "budget_test.lua:1: instruction budget exceeded")) << code << ": " << error;
    }
}

TEST(bounded_library, a_charge_in_a_function_called_from_c_names_the_scripts_line) {
    budgeted_state L;
    // sort calls its comparator, string.rep, as rep("x", 1e9): the caller of the charging
    // function is C, the line is the script's.
    const std::string error = L.run_armed(
        "local t = {1e9, 'x'}\n"
        "table.sort(t, string.rep)\n",
        1'000'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:2: instruction budget exceeded")) << error;
}

TEST(bounded_library, once_the_budget_is_spent_every_further_call_fails) {
    budgeted_state L;
    const std::string error = L.run_armed(
        "pcall(string.rep, 'x', 1e9)\n"
        "local u = ('abc'):upper()\n",
        1'000'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:2: instruction budget exceeded")) << error;
}

TEST(bounded_library, after_a_charge_spends_the_budget_a_handler_that_catches_it_can_only_unwind) {
    budgeted_state L;
    const std::string error = L.run_armed(
        "pcall(string.rep, 'x', 1e9)\n"
        "local n = 0\n"
        "while true do pcall(function() for i = 1, 1e5 do n = n + 1 end end) end\n",
        1'000'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:2: instruction budget exceeded")) << error;
}

TEST(bounded_library, normal_pattern_use_within_budget_works) {
    budgeted_state L;
    const char* code = R"lua(
        local k, v = ("key=value"):match("(%w+)=(%w+)")
        assert(k == "key" and v == "value")
        local n = 0
        for w in ("one two three"):gmatch("%a+") do n = n + 1 end
        assert(n == 3)
        assert(("a,b,c"):gsub(",", ";") == "a;b;c")
        assert(("x"):rep(3, "-") == "x-x-x")
        assert(table.concat({1, 2, 3}, "+") == "1+2+3")
        local t = {3, 1, 2} table.sort(t) assert(t[1] == 1 and t[3] == 3)
        assert(select("#", ("abcdef"):find("(c)(d)")) == 4)
    )lua";
    EXPECT_EQ(L.run_armed(code, 10'000), "");
    EXPECT_GT(L.budget().used(), 0U);
}

TEST(bounded_library, a_state_with_no_armed_budget_is_never_charged) {
    budgeted_state L;
    L.setup("big = ('x'):rep(4 * 1024 * 1024) assert(#big:upper() == #big) assert(big:find('y') == nil)");
    EXPECT_EQ(L.budget().used(), 0U);
}
