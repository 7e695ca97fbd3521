// string.find, match, gmatch and gsub (src/lua/pattern.cpp) give the results and errors of
// Lua 5.4.4's, checked against the stock functions on thousands of generated patterns and
// on the corner cases of the manual.
#include "lua/pattern.hpp"

#include "lua_calls.hpp"

#include <gtest/gtest.h>

#include <lua.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace rl = rtcrm::detail::lua;
using namespace rtcrm::testing::lua_calls;

// The stock pattern functions and ours side by side in one plain state, compared call by call.
class pattern_oracle {
public:
    pattern_oracle() : L_{luaL_newstate()} {
        luaL_openlibs(L_.get());
        clear_budget(L_.get());
        load_harness(L_.get());
    }

    // Runs `name` (find, match, gmatch, gsub) both ways; records a failure when they differ.
    void compare(const char* runner, const char* name, const std::vector<arg>& args) {
        lua_State* L = L_.get();
        lua_getglobal(L, "string");
        lua_getfield(L, -1, name);
        lua_remove(L, -2);
        const std::string stock = run(L, runner, args);
        lua_pushcfunction(L, ours(name));
        const std::string mine = run(L, runner, args);
        ++cases_;
        if (stock.rfind("harness failed", 0) == 0 || stock != mine) {
            ++failures_;
            if (failures_ <= 20) {
                ADD_FAILURE() << describe(runner, name, args) << "\n  stock: " << escaped(stock)
                              << "\n  ours:  " << escaped(mine);
            }
        }
    }

    std::string outcome_of_ours(const char* runner, const char* name, const std::vector<arg>& args) {
        lua_pushcfunction(L_.get(), ours(name));
        return run(L_.get(), runner, args);
    }

    [[nodiscard]] int cases() const noexcept { return cases_; }
    [[nodiscard]] int failures() const noexcept { return failures_; }

private:
    static lua_CFunction ours(std::string_view name) {
        if (name == "find") {
            return &rl::pattern_find;
        }
        if (name == "match") {
            return &rl::pattern_match;
        }
        if (name == "gmatch") {
            return &rl::pattern_gmatch;
        }
        return &rl::pattern_gsub;
    }

    state_ptr L_;
    int cases_ = 0;
    int failures_ = 0;
};

// Random patterns over the whole grammar, random short subjects, random replacements.
class pattern_generator {
public:
    explicit pattern_generator(std::uint32_t seed) : rng_{seed} {}

    std::string subject() {
        static const std::string alphabet{"aaaabbbcx(). -%[]^$1A_\0\xC3\xA9", 26};
        std::string s;
        for (int n = uniform(0, 10); n > 0; --n) {
            s += alphabet[static_cast<std::size_t>(uniform(0, static_cast<int>(alphabet.size()) - 1))];
        }
        return s;
    }

    std::string pattern() {
        std::string p;
        if (chance(15)) {
            p += '^';
        }
        captures_ = 0;
        items(p, uniform(0, 5), 0);
        if (chance(10)) {
            p += '$';
        }
        if (chance(8)) {
            mutate(p);
        }
        return p;
    }

    std::string replacement() {
        static const char* const pieces[] = {"x", "%0", "%1", "%2", "%%", "-", "%3", "%a", "%"};
        std::string r;
        for (int n = uniform(0, 4); n > 0; --n) {
            const int i = uniform(0, 8);
            // Invalid escapes (an error in both) are kept rare so most cases replace something.
            if (i >= 7 && !chance(20)) {
                continue;
            }
            r += pieces[i];
        }
        return r;
    }

    int uniform(int lo, int hi) { return std::uniform_int_distribution<int>{lo, hi}(rng_); }
    bool chance(int percent) { return uniform(1, 100) <= percent; }

private:
    char pick(std::string_view from) {
        return from[static_cast<std::size_t>(uniform(0, static_cast<int>(from.size()) - 1))];
    }

    void items(std::string& p, int count, int depth) {
        for (int i = 0; i < count; ++i) {
            item(p, depth);
        }
    }

    void item(std::string& p, int depth) {
        switch (uniform(0, 14)) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
        case 5: {
            single(p);
            quantifier(p);
            break;
        }
        case 6:
        case 7: {
            if (depth < 2) {
                p += '(';
                ++captures_;
                items(p, uniform(0, 3), depth + 1);
                p += ')';
            } else {
                single(p);
            }
            break;
        }
        case 8: {
            p += "()";
            ++captures_;
            break;
        }
        case 9: {
            p += "%b";
            p += pick("()ab[]");
            p += pick("()ab[]");
            break;
        }
        case 10: {
            p += "%f";
            set(p);
            break;
        }
        case 11: {
            // Mostly to a capture already opened (an invalid index is an error in both).
            if (captures_ == 0 && !chance(20)) {
                single(p);
                break;
            }
            p += '%';
            p += static_cast<char>('1' + uniform(0, std::min(std::max(captures_ - 1, 0) + (chance(10) ? 1 : 0), 3)));
            break;
        }
        case 12: {
            p += pick("^$");  // not at the ends: ordinary characters
            break;
        }
        case 13: {
            p += '%';
            p += pick("().%+-*?[]^$");
            quantifier(p);
            break;
        }
        default: {
            p += '.';
            quantifier(p);
            break;
        }
        }
    }

    void single(std::string& p) {
        switch (uniform(0, 4)) {
        case 0:
        case 1: {
            p += pick("aabcx 1");
            break;
        }
        case 2: {
            p += '.';
            break;
        }
        case 3: {
            p += '%';
            p += pick("acdglpsuwxzACDGLPSUWXZ");
            break;
        }
        default: {
            set(p);
            break;
        }
        }
    }

    void set(std::string& p) {
        p += '[';
        if (chance(30)) {
            p += '^';
        }
        if (chance(8)) {
            p += ']';  // first in a set: an ordinary ']'
        }
        for (int n = uniform(1, 3); n > 0; --n) {
            switch (uniform(0, 4)) {
            case 0: {
                p += pick("abx().-^");
                break;
            }
            case 1: {
                p += pick("a0(");
                p += '-';
                p += pick("bz9)");
                break;
            }
            case 2: {
                p += '%';
                p += pick("adsWp");
                break;
            }
            case 3: {
                p += "%]";
                break;
            }
            default: {
                p += std::string_view{"\0", 1};
                break;
            }
            }
        }
        p += ']';
    }

    void quantifier(std::string& p) {
        const int q = uniform(0, 7);
        if (q < 4) {
            p += "*+-?"[q];
        }
    }

    // Breaks the pattern now and then, for the malformed-pattern errors.
    void mutate(std::string& p) {
        const std::string_view noise = "()[]%^$*+-?.ab]";
        const auto at = static_cast<std::size_t>(uniform(0, static_cast<int>(p.size())));
        if (p.empty() || chance(50)) {
            p.insert(at, 1, pick(noise));
        } else {
            p.erase(std::min(at, p.size() - 1), 1);
        }
    }

    std::mt19937 rng_;
    int captures_ = 0;
};

}  // namespace

TEST(lua_pattern, the_harness_sees_what_the_functions_return) {
    pattern_oracle oracle;
    EXPECT_EQ(oracle.outcome_of_ours("run", "find", {str("hello"), str("l+")}), "ok (integer:3, integer:4)");
    EXPECT_EQ(oracle.outcome_of_ours("run", "gsub", {str("abc"), str(""), str("-")}), R"(ok ("-a-b-c-", integer:4))");
    EXPECT_EQ(oracle.outcome_of_ours("run_collect", "gmatch", {str("k=v, x=y"), str("(%w+)=(%w+)")}),
              R"x(ok ("(\"k\", \"v\") (\"x\", \"y\")"))x");
}

TEST(lua_pattern, random_patterns_give_the_results_and_errors_of_stock_lua) {
    pattern_oracle oracle;
    pattern_generator gen{20'251'122};
    for (int round = 0; round < 4000; ++round) {
        const std::string p = gen.pattern();
        for (int k = 0; k < 3; ++k) {
            const std::string s = gen.subject();
            const lua_Integer init = gen.uniform(-12, 12);
            oracle.compare("run", "find", {str(s), str(p)});
            oracle.compare("run", "find", {str(s), str(p), integer(init)});
            oracle.compare("run", "find", {str(s), str(p), integer(init), boolean(true)});
            oracle.compare("run", "match", {str(s), str(p)});
            oracle.compare("run", "match", {str(s), str(p), integer(init)});
            oracle.compare("run_collect", "gmatch", {str(s), str(p)});
            oracle.compare("run_collect", "gmatch", {str(s), str(p), integer(init)});
            oracle.compare("run", "gsub", {str(s), str(p), str(gen.replacement())});
            oracle.compare("run", "gsub", {str(s), str(p), str(gen.replacement()), integer(gen.uniform(-1, 3))});
            oracle.compare("run", "gsub", {str(s), str(p), global("repl_table")});
            oracle.compare("run", "gsub", {str(s), str(p), global("repl_fn"), integer(gen.uniform(0, 3))});
            oracle.compare("run", "gsub", {str(s), str(p), global("repl_fn")});
        }
        // A literal taken from a subject, so plain finds also hit.
        const std::string s = gen.subject();
        const auto from = static_cast<std::size_t>(gen.uniform(0, static_cast<int>(s.size())));
        const std::string needle = s.substr(from, static_cast<std::size_t>(gen.uniform(0, 3)));
        oracle.compare("run", "find", {str(s), str(needle), integer(gen.uniform(-5, 5)), boolean(gen.chance(50))});
    }
    EXPECT_GT(oracle.cases(), 140'000);
    EXPECT_EQ(oracle.failures(), 0) << "of " << oracle.cases() << " cases";
}

TEST(lua_pattern, the_corner_cases_of_the_manual_give_the_results_and_errors_of_stock_lua) {
    pattern_oracle oracle;
    const std::string a300(300, 'a');
    std::string a_opt300;
    for (int i = 0; i < 300; ++i) {
        a_opt300 += "a?";
    }
    std::string captures33;
    for (int i = 0; i < 33; ++i) {
        captures33 += "()";
    }
    const std::string zeros{"a\0b\0\0c", 6};
    const std::string long_subject = [] {
        std::string s;
        for (int i = 0; i < 2000; ++i) {
            s += i % 7 == 0 ? "(ab)" : "ab c";
        }
        return s;
    }();

    const std::vector<std::vector<arg>> finds = {
        {str(a300), str(a_opt300)},                 // pattern too complex
        {str(a300), str(a_opt300.substr(0, 300))},  // 150 levels: fine
        {str("a"), str(captures33)},                // too many captures
        {str("a"), str(captures33.substr(2))},      // 32: fine
        {str("abc"), str("%b")},
        {str("abc"), str("%ba")},
        {str("abc"), str("%fa")},
        {str("abc"), str("%f")},
        {str("abc"), str("[a")},
        {str("abc"), str("[^")},
        {str("abc"), str("[")},
        {str("abc"), str("a%")},
        {str("abc"), str("(a")},
        {str("abc"), str("a)")},
        {str("abc"), str("%1")},
        {str("abc"), str("(a)%2")},
        {str("abc"), str("%0")},
        {str("abc"), str("(a%1)")},
        {str("aa"), str("()%1")},
        {str("xabcabc"), str("(abc)%1")},
        {str("THE (quick) fox"), str("%f[%a]%a+")},
        {str("THE (quick) fox"), str("%f[%A]")},
        {str("THE (quick) fox"), str("%f[%z]")},
        {str("x(a(b)c)y"), str("%b()")},
        {str("x((a)"), str("%b()")},
        {str("\"q\" r"), str("%b\"\"")},
        {str(zeros), str("%z")},
        {str(zeros), str("%Z+")},
        {str(zeros), str(std::string{"[\0]+", 4})},
        {str(zeros), str(std::string{"b\0", 2})},
        {str(zeros), str(std::string{"\0\0", 2}), integer(1), boolean(true)},
        {str(zeros), str(std::string{"%\0", 2})},
        {str("a]b"), str("[]]")},
        {str("a]b^"), str("[^]]+")},
        {str("a-b"), str("[a-]+")},
        {str("a-b"), str("[%a-]+")},
        {str("abc"), str("")},
        {str("abc"), str(""), integer(4)},
        {str("abc"), str(""), integer(5)},
        {str("abc"), str(""), integer(-10)},
        {str("abc"), str("c"), integer(-1)},
        {str("abc"), str("^b"), integer(2)},
        {str("abc"), str("^"), integer(4)},
        {str("abc"), str("$"), integer(2)},
        {str("a$c"), str("$c")},
        {str("a^c"), str("a^")},
        {str("abc"), str("b"), number(2.0)},
        {str("abc"), str("b"), number(2.5)},
        {str("abc"), str("b"), str("2")},
        {integer(12345), integer(34)},
        {nil(), str("a")},
        {str("a"), nil()},
        {str("a+b"), str("+"), integer(1), boolean(false)},
        {str("a+b"), str("+"), integer(1), nil()},
        {str(long_subject), str("%((%w+)%)"), integer(5000)},
        {str(long_subject), str("c%s*%(ab%)$")},
        {str(long_subject), str("(ab c)"), integer(-9)},
        {str(long_subject), str("zz"), integer(1), boolean(true)},
    };
    // Every byte against every class, alone, in a set and in a complemented set.
    std::string every_byte;
    for (int c = 0; c < 256; ++c) {
        every_byte += static_cast<char>(c);
    }
    for (const char cl : std::string_view{"acdglpsuwxzACDGLPSUWXZ.%"}) {
        const std::string item = std::string{"%"} + cl;
        for (const std::string& p : {item + "+", "[" + item + "]+", "[^" + item + "]+", "%f[" + item + "]"}) {
            oracle.compare("run_collect", "gmatch", {str(every_byte), str("()" + p + "()")});
        }
    }
    // Around the recursion limit: the exact length at which a pattern becomes too complex.
    for (std::size_t n = 195; n <= 205; ++n) {
        oracle.compare("run", "match", {str(a300), str(a_opt300.substr(0, 2 * n))});
        oracle.compare("run", "match", {str(a300), str("(" + a_opt300.substr(0, 2 * n) + ")")});
    }
    for (const auto& args : finds) {
        oracle.compare("run", "find", args);
        oracle.compare("run", "match", args);
        oracle.compare("run_collect", "gmatch", args);
    }

    const std::vector<std::vector<arg>> gsubs = {
        {str("hello world"), str("%w*"), str("x")},
        {str("hello world"), str("%w-"), str("x")},
        {str("abc"), str(""), str("-")},
        {str("abc"), str("^"), str(">")},
        {str("abc"), str("^a*"), str("%0%0")},
        {str("abc"), str("(b)"), str("%2")},
        {str("abc"), str("b"), str("%1")},
        {str("abc"), str("b"), str("%")},
        {str("abc"), str("b"), str("%x")},
        {str("abc"), str("b"), str(std::string{"%\0", 2})},
        {str("abc"), str("b"), str("%%")},
        {str("abc"), str("()b()"), str("[%1,%2]")},
        {str("abc"), str("(b"), str("x")},
        {str("abc"), str("(b"), str("%1")},
        {str("abc"), str("(b"), global("repl_fn")},
        {str("abc"), str("b"), integer(42)},
        {str("abc"), str("b"), number(1.5)},
        {str("abc"), str("b"), nil()},
        {str("abc"), str("b"), boolean(true)},
        {str("abc"), str("b"), str("x"), str("x")},
        {str("abc"), str("b"), str("x"), number(1.5)},
        {str("abc"), str("."), str("x"), integer(0)},
        {str("abc"), str("."), str("x"), integer(-3)},
        {str("abc"), str("."), str("x"), integer(2)},
        {str("abc"), str("."), str("x"), str("2")},
        {str("xabx"), str("x"), global("repl_table")},
        {str("abc"), str("%w"), global("repl_table_fn")},
        {str("abc"), str("()"), global("repl_table")},
        {str(zeros), str("%z"), str("<%0>")},
        {str(long_subject), str("%((%w+)%)"), str("[%1]")},
        {str(long_subject), str("%s+"), global("repl_fn"), integer(40)},
    };
    for (const auto& args : gsubs) {
        oracle.compare("run", "gsub", args);
    }

    const std::vector<std::vector<arg>> gmatches = {
        {str("^a^a"), str("^a")},
        {str("aaa"), str("^a")},
        {str("abc"), str(""), integer(2)},
        {str("abc"), str(""), integer(4)},
        {str("abc"), str(""), integer(5)},
        {str("abc"), str("."), integer(-2)},
        {str("abc"), str("."), integer(-20)},
        {str("a,b,,c"), str("([^,]*)")},
        {str("ab"), str("()")},
    };
    for (const auto& args : gmatches) {
        oracle.compare("run_collect", "gmatch", args);
    }
    EXPECT_EQ(oracle.failures(), 0) << "of " << oracle.cases() << " cases";
}
