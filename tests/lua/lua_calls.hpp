// Calls Lua functions from inside Lua and describes their outcome as text, so that stock
// Lua 5.4.4's string, table and utf8 functions and our bounded ones (src/lua) can be
// compared call by call: the same text means the same results and the same errors.
#pragma once

#include <lua.hpp>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::testing::lua_calls {

struct state_closer {
    void operator()(lua_State* L) const noexcept { lua_close(L); }
};
using state_ptr = std::unique_ptr<lua_State, state_closer>;

// lua_newstate leaves the main thread's extra space uninitialised; budget_of() reads it, so a
// state that has no budget must say so.
inline void clear_budget(lua_State* L) { std::memset(lua_getextraspace(L), 0, LUA_EXTRASPACE); }

inline bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

// `text` as a C string literal (quotes, escapes, \x.. for other bytes), for failure messages.
std::string escaped(std::string_view text);

// Loads the harness into `L` (global functions run, run_collect, run_for and run_table,
// gsub's replacement repl_fn, repl_table and repl_table_fn, sort's greater): each runs the
// function it is given as the local `f` from a Lua function, so argument errors name it
// 'f' and other errors carry the harness's position, whichever implementation runs, and
// returns "ok (values)" or "error message", plus the calls a replacement function received.
// Throws std::runtime_error if it does not load.
void load_harness(lua_State* L);

// One argument of a call: how to push it, and how to print it in a failure.
struct arg {
    std::string text;
    std::function<void(lua_State*)> push;
};

arg str(std::string s);
arg integer(lua_Integer i);
arg number(double d);
arg boolean(bool b);
arg nil();
// The global `name` (a harness function or table).
arg global(std::string name);

// Calls `runner` (a harness function) with the function on top of the stack and `args`;
// returns the outcome it describes. Pops the function.
std::string run(lua_State* L, const char* runner, const std::vector<arg>& args);

// "runner name(arg, ...)", for failure messages.
std::string describe(std::string_view runner, std::string_view name, const std::vector<arg>& args);

}  // namespace rtcrm::testing::lua_calls
