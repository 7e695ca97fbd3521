// The string, table and utf8 functions the bounded library (src/lua/bounded_library.cpp)
// replaces give the results and errors of Lua 5.4.4's, call by call.
#include "lua/bounded_library.hpp"

#include "lua_calls.hpp"

#include <gtest/gtest.h>

#include <lua.hpp>

#include <string>
#include <utility>
#include <vector>

namespace rl = rtcrm::detail::lua;
using namespace rtcrm::testing::lua_calls;

TEST(bounded_library, the_replaced_library_gives_the_results_and_errors_of_stock_lua) {
    state_ptr state{luaL_newstate()};
    lua_State* L = state.get();
    luaL_openlibs(L);
    clear_budget(L);
    load_harness(L);
    // Keep the stock tables' functions before they are replaced.
    const char* keep = R"(stock = {}
        for _, lib in ipairs{"string", "table", "utf8"} do
          stock[lib] = {}
          for k, v in pairs(_G[lib]) do stock[lib][k] = v end
        end)";
    ASSERT_EQ(luaL_dostring(L, keep), LUA_OK);
    rl::open_bounded_library(L);
    rl::open_bounded_library(L);  // a second call changes nothing

    int cases = 0;
    int failures = 0;
    const auto compare = [&](const char* runner, const char* lib, const char* name, const std::vector<arg>& args) {
        lua_getglobal(L, "stock");
        lua_getfield(L, -1, lib);
        lua_getfield(L, -1, name);
        lua_replace(L, -3);
        lua_pop(L, 1);
        const std::string stock = run(L, runner, args);
        lua_getglobal(L, lib);
        lua_getfield(L, -1, name);
        lua_remove(L, -2);
        const std::string mine = run(L, runner, args);
        ++cases;
        if (stock != mine || starts_with(stock, "harness failed")) {
            ++failures;
            ADD_FAILURE() << describe(runner, std::string{lib} + "." + name, args) << "\n  stock: " << escaped(stock)
                          << "\n  ours:  " << escaped(mine);
        }
    };

    // Every function that was replaced is not the stock one any more.
    for (const char* name : {"find", "upper", "rep", "format"}) {
        lua_getglobal(L, "stock");
        lua_getfield(L, -1, "string");
        lua_getfield(L, -1, name);
        lua_getglobal(L, "string");
        lua_getfield(L, -1, name);
        EXPECT_FALSE(lua_rawequal(L, -1, -3)) << name;
        lua_settop(L, 0);
    }

    const std::string utf =
        "a\xC3\xB1"
        "b\xE2\x82\xAC"
        "c";  // a ñ b € c
    const std::string bad_utf =
        "\x80\x80"
        "a\xC3\x80\x80\x80"
        "b\xFF";
    const std::vector<std::pair<const char*, std::vector<arg>>> strings = {
        {"byte", {str("hello")}},
        {"byte", {str("hello"), integer(2), integer(-1)}},
        {"byte", {str("hello"), integer(-100), integer(100)}},
        {"byte", {str("hello"), integer(4), integer(2)}},
        {"byte", {nil()}},
        {"char", {integer(72), integer(105)}},
        {"char", {}},
        {"char", {integer(256)}},
        {"char", {str("x")}},
        {"lower", {str("HeLLo")}},
        {"upper", {str("HeLLo")}},
        {"upper", {integer(12)}},
        {"upper", {}},
        {"reverse", {str("abc")}},
        {"rep", {str("ab"), integer(3)}},
        {"rep", {str("ab"), integer(3), str(", ")}},
        {"rep", {str("ab"), integer(0)}},
        {"rep", {str("ab"), integer(-2), str("x")}},
        {"rep", {str("ab"), number(2.5)}},
        {"rep", {str("ab"), integer(4'611'686'018'427'387'904)}},
        {"rep", {str(""), integer(5), str("")}},
        {"rep", {str("")}},
        {"sub", {str("hello"), integer(2), integer(4)}},
        {"sub", {str("hello"), integer(-3)}},
        {"sub", {str("hello"), integer(0), integer(100)}},
        {"sub", {str("hello"), integer(4), integer(2)}},
        {"sub", {str("hello")}},
        {"format", {str("%d %s %q %5.2f %x"), integer(42), str("s"), str("a\nb\0"), number(3.14159), integer(255)}},
        {"format", {str("%d"), number(1.5)}},
        {"format", {str("%d")}},
        {"format", {str("%y"), integer(1)}},
        {"format", {str("%q %s"), global("stock"), global("stock")}},
        {"format", {str("%10q"), str("x")}},
        {"pack", {str("<i4 s1 z c5"), integer(7), str("ab"), str("cd"), str("ef")}},
        {"pack", {str("i4"), str("x")}},
        {"pack", {str("c2"), str("abc")}},
        {"pack", {str("i17"), integer(1)}},
        {"packsize", {str("i4 i8 c10")}},
        {"packsize", {str("s")}},
        {"unpack", {str("<i2 i2"), str("\x01\x00\x02\x00")}},
        {"unpack", {str("<i2"), str("\x01\x00\x02\x00"), integer(3)}},
        {"unpack", {str("<i2"), str("\x01\x00\x02\x00"), integer(4)}},
        {"unpack", {str("<i2"), str("\x01\x00\x02\x00"), integer(9)}},
        {"unpack", {str("z s1"), str("ab\0\x02xy")}},
        {"len", {str("hello")}},
    };
    for (const auto& [name, args] : strings) {
        compare("run", "string", name, args);
    }

    const std::vector<std::pair<const char*, std::vector<arg>>> tables = {
        {"concat", {}},
        {"concat", {str(", ")}},
        {"concat", {str("-"), integer(2), integer(4)}},
        {"concat", {str(""), integer(3), integer(2)}},
        {"concat", {str(""), integer(1), integer(7)}},
        {"concat", {nil(), integer(-1), integer(1)}},
        {"concat", {global("stock")}},
        {"insert", {str("v")}},
        {"insert", {integer(1), str("v")}},
        {"insert", {integer(3), str("v")}},
        {"insert", {integer(6), str("v")}},
        {"insert", {integer(7), str("v")}},
        {"insert", {integer(0), str("v")}},
        {"insert", {number(1.5), str("v")}},
        {"insert", {}},
        {"insert", {integer(1), integer(2), integer(3)}},
        {"remove", {}},
        {"remove", {integer(1)}},
        {"remove", {integer(3)}},
        {"remove", {integer(5)}},
        {"remove", {integer(6)}},
        {"remove", {integer(7)}},
        {"remove", {integer(0)}},
        {"remove", {integer(-1)}},
        {"unpack", {}},
        {"unpack", {integer(2)}},
        {"unpack", {integer(2), integer(4)}},
        {"unpack", {integer(-1), integer(1)}},
        {"unpack", {integer(3), integer(1)}},
        {"unpack", {integer(1), integer(100'000'000)}},
        {"unpack", {integer(-9'223'372'036'854'775'807 - 1), integer(9'223'372'036'854'775'807)}},
        {"move", {integer(1), integer(3), integer(2)}},
        {"move", {integer(2), integer(4), integer(1)}},
        {"move", {integer(1), integer(0), integer(3)}},
        {"move", {integer(1), integer(3), integer(1), global("repl_table")}},
        {"move", {integer(-9'223'372'036'854'775'807 - 1), integer(1), integer(1)}},
        {"move", {integer(1), integer(3), integer(9'223'372'036'854'775'807)}},
        {"move", {integer(1), integer(3)}},
        {"sort", {}},
        {"sort", {global("greater")}},
        {"sort", {integer(1)}},
        {"pack", {integer(1), nil(), integer(3)}},
    };
    for (const char* maker : {"numbers", "empty", "words", "mixed", "proxy"}) {
        for (const auto& [name, args] : tables) {
            std::vector<arg> with_table{str(maker)};
            with_table.insert(with_table.end(), args.begin(), args.end());
            compare("run_table", "table", name, with_table);
        }
    }
    compare("run", "table", "concat", {str("not a table")});
    compare("run", "table", "insert", {integer(1), integer(2)});
    compare("run", "table", "unpack", {str("abc")});
    compare("run", "table", "pack", {});

    const std::vector<std::pair<const char*, std::vector<arg>>> utf8s = {
        {"char", {integer(97), integer(241), integer(8364)}},
        {"char", {integer(-1)}},
        {"char", {}},
        {"codepoint", {str(utf)}},
        {"codepoint", {str(utf), integer(1), integer(-1)}},
        {"codepoint", {str(utf), integer(3)}},
        {"codepoint", {str(utf), integer(0)}},
        {"codepoint", {str(utf), integer(1), integer(100)}},
        {"codepoint", {str(bad_utf), integer(1), integer(-1)}},
        {"codepoint", {str(bad_utf), integer(1), integer(-1), boolean(true)}},
        {"len", {str(utf)}},
        {"len", {str(utf), integer(3)}},
        {"len", {str(utf), integer(-3)}},
        {"len", {str(utf), integer(0)}},
        {"len", {str(utf), integer(1), integer(100)}},
        {"len", {str(bad_utf)}},
        {"len", {str(bad_utf), integer(3), integer(-1), boolean(true)}},
    };
    for (const auto& [name, args] : utf8s) {
        compare("run", "utf8", name, args);
    }
    for (const lua_Integer n : {-8, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 9}) {
        compare("run", "utf8", "offset", {str(utf), integer(n)});
        compare("run", "utf8", "offset", {str(bad_utf), integer(n)});
        for (const lua_Integer i : {-20, -3, -1, 0, 1, 2, 3, 4, 8, 9, 10, 11}) {
            compare("run", "utf8", "offset", {str(utf), integer(n), integer(i)});
            compare("run", "utf8", "offset", {str(bad_utf), integer(n), integer(i)});
        }
    }
    compare("run", "utf8", "offset", {str(utf)});
    compare("run", "utf8", "offset", {nil(), integer(1)});
    for (const auto& s : {utf, bad_utf, std::string{"\xC3\x80\x80\x80x"}, std::string{}}) {
        compare("run_for", "utf8", "codes", {str(s)});
        compare("run_for", "utf8", "codes", {str(s), boolean(true)});
    }
    compare("run_for", "utf8", "codes", {nil()});
    EXPECT_EQ(failures, 0) << "of " << cases << " cases";
}
