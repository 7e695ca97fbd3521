// The budgeted string, table and utf8 functions behave exactly like Lua 5.4.4's (every result
// and every error message, checked against the stock functions on thousands of generated
// patterns), and the work they do inside one VM instruction is charged to the call's budget,
// so a catastrophic pattern or a huge string or table fails the call instead of stalling the
// shard.
#include "lua/bounded_library.hpp"
#include "lua/budget.hpp"
#include "lua/pattern.hpp"

#include <gtest/gtest.h>

#include <lua.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace rl = rtcrm::detail::lua;

struct state_closer {
    void operator()(lua_State* L) const noexcept { lua_close(L); }
};
using state_ptr = std::unique_ptr<lua_State, state_closer>;

// lua_newstate leaves the main thread's extra space uninitialised; budget_of() reads it, so a
// state that has no budget must say so.
void clear_budget(lua_State* L) { std::memset(lua_getextraspace(L), 0, LUA_EXTRASPACE); }

std::string escaped(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u >= 0x7F) {
            out += "\\x";
            out += "0123456789abcdef"[u >> 4U];
            out += "0123456789abcdef"[u & 15U];
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// Runs calls inside Lua and describes their outcome as text: "ok (values)" or "error message",
// plus the calls a replacement function received. The function under test is called as the
// local `f` from a Lua function, so argument errors name it 'f' and other errors carry the
// harness's position, whichever implementation runs.
constexpr const char* harness = R"lua(
local pack, concat, format, mtype, tostring, type, pcall = table.pack, table.concat, string.format, math.type, tostring, type, pcall
local log = {}

local function show(x)
  local t = type(x)
  if t == "string" then return format("%q", x) end
  if t == "number" then return mtype(x) .. ":" .. tostring(x) end
  if t == "table" then return "table" end
  return t .. ":" .. tostring(x)
end

local function show_all(r)
  local out = {}
  for i = 1, r.n do out[i] = show(r[i]) end
  return "(" .. concat(out, ", ") .. ")"
end

local function outcome(ok, r)
  local text = ok and ("ok " .. show_all(r)) or ("error " .. tostring(r))
  if #log > 0 then text = text .. " calls " .. concat(log, " ") end
  return text
end

local function invoke(f, ...)
  local r = pack(f(...))
  return r
end

local function collect(f, ...)
  local it = f(...)
  local out = {}
  for _ = 1, 100 do
    local v = pack(it())
    if v.n == 0 then break end
    out[#out + 1] = show_all(v)
  end
  return pack(concat(out, " "))
end

local function collect_for(f, ...)
  local out = {}
  for a, b in f(...) do
    out[#out + 1] = show(a) .. "=" .. show(b)
    if #out > 100 then break end
  end
  return pack(concat(out, " "))
end

function run(f, ...) log = {} return outcome(pcall(invoke, f, ...)) end
function run_collect(f, ...) log = {} return outcome(pcall(collect, f, ...)) end
function run_for(f, ...) log = {} return outcome(pcall(collect_for, f, ...)) end

-- gsub's function replacement: records its arguments and answers each kind of value,
-- derived from them so both implementations get the same answers.
function repl_fn(...)
  local d = show_all(pack(...))
  log[#log + 1] = d
  local h = #d % 6
  if h == 0 then return nil end
  if h == 1 then return false end
  if h == 2 then return "<" .. d .. ">" end
  if h == 3 then return #d end
  if h == 4 then return (...) end
  return 1.5
end
function repl_table_fn() return {} end
repl_table = { a = "A", b = false, ab = "AB", ["("] = 7, [1] = "one", [2] = 2.5, x = true, [""] = "E" }

local makers = {
  numbers = function() return {10, 20, 30, 40, 50} end,
  empty = function() return {} end,
  words = function() return {"d", "a", "c", "b"} end,
  mixed = function() return {1, "x", {}, 4} end,
  proxy = function()
    local store = {5, 4, 3, 2, 1}
    return setmetatable({}, {__index = store, __newindex = store, __len = function() return #store end})
  end,
}
function run_table(f, maker, ...)
  log = {}
  local t = makers[maker]()
  local text = outcome(pcall(invoke, f, t, ...))
  local cells = {}
  for i = 0, 7 do cells[#cells + 1] = show(t[i]) end
  return text .. " table " .. concat(cells, ",")
end
function greater(a, b) return a > b end
)lua";

void load_harness(lua_State* L) {
    if (luaL_loadbuffer(L, harness, std::strlen(harness), "=harness") != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK) {
        throw std::runtime_error(lua_tostring(L, -1));
    }
}

// One argument of a call: how to push it, and how to print it in a failure.
struct arg {
    std::string text;
    std::function<void(lua_State*)> push;
};

arg str(std::string s) {
    auto text = escaped(s);
    return {std::move(text), [s = std::move(s)](lua_State* L) { lua_pushlstring(L, s.data(), s.size()); }};
}
arg integer(lua_Integer i) {
    return {std::to_string(i), [i](lua_State* L) { lua_pushinteger(L, i); }};
}
arg number(double d) {
    return {std::to_string(d), [d](lua_State* L) { lua_pushnumber(L, d); }};
}
arg boolean(bool b) {
    return {b ? "true" : "false", [b](lua_State* L) { lua_pushboolean(L, b ? 1 : 0); }};
}
arg nil() {
    return {"nil", [](lua_State* L) { lua_pushnil(L); }};
}
arg global(std::string name) {
    return {name, [name](lua_State* L) { lua_getglobal(L, name.c_str()); }};
}

// Calls `runner` (a harness function) with the function on top of the stack and `args`;
// returns the outcome it describes. Pops the function.
std::string run(lua_State* L, const char* runner, const std::vector<arg>& args) {
    lua_getglobal(L, runner);
    lua_insert(L, -2);
    for (const auto& a : args) {
        a.push(L);
    }
    if (lua_pcall(L, static_cast<int>(args.size()) + 1, 1, 0) != LUA_OK) {
        std::string failure = std::string{"harness failed: "} + lua_tostring(L, -1);
        lua_pop(L, 1);
        return failure;
    }
    std::size_t len = 0;
    const char* text = lua_tolstring(L, -1, &len);
    std::string out{text, len};
    lua_pop(L, 1);
    return out;
}

std::string describe(std::string_view runner, std::string_view name, const std::vector<arg>& args) {
    std::string out{runner};
    out += " ";
    out += name;
    out += "(";
    for (std::size_t i = 0; i < args.size(); ++i) {
        out += (i == 0 ? "" : ", ") + args[i].text;
    }
    return out + ")";
}

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

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

}  // namespace

// --- the same results and errors as Lua 5.4.4 --------------------------------------------

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

TEST(lua_pattern, the_replaced_library_gives_the_results_and_errors_of_stock_lua) {
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

// --- the work is charged ------------------------------------------------------------------

TEST(lua_pattern, a_catastrophic_pattern_fails_with_the_budget_error_at_its_line) {
    budgeted_state L;
    const std::string error = L.run_armed(
        "local s = ('a'):rep(26)\n"
        "return s:find(('a*'):rep(9) .. 'b')\n",
        100'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:2: instruction budget exceeded")) << error;
}

TEST(lua_pattern, a_catastrophic_pattern_fails_in_match_gmatch_and_gsub_too) {
    budgeted_state L;
    L.setup("s = ('a'):rep(26) p = ('a*'):rep(9) .. 'b'");
    EXPECT_TRUE(starts_with(L.run_armed("return s:match(p)", 100'000), "budget_test.lua:1: instruction budget"));
    EXPECT_TRUE(
        starts_with(L.run_armed("for x in s:gmatch(p) do end", 100'000), "budget_test.lua:1: instruction budget"));
    EXPECT_TRUE(starts_with(L.run_armed("\nreturn s:gsub(p, 'x')", 100'000), "budget_test.lua:2: instruction budget"));
}

TEST(lua_pattern, one_upper_on_a_big_string_is_charged_before_it_runs) {
    budgeted_state L;
    L.setup("big = ('x'):rep(4 * 1024 * 1024)");
    // Three instructions: only the charge can stop this call.
    EXPECT_TRUE(starts_with(L.run_armed("local u = big:upper()", 10'000), "budget_test.lua:1: instruction budget"));
    // The call within its budget works.
    EXPECT_EQ(L.run_armed("assert(#big:upper() == #big)", 2'000'000), "");
}

TEST(lua_pattern, a_loop_of_upper_on_a_big_string_fails_instead_of_running_on) {
    budgeted_state L;
    L.setup("big = ('x'):rep(4 * 1024 * 1024)");
    const std::string error = L.run_armed(
        "local n = 0\n"
        "for i = 1, 1e9 do local u = big:upper() n = n + 1 end\n",
        1'000'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:2: instruction budget exceeded")) << error;
}

TEST(lua_pattern, a_huge_rep_is_refused_before_it_allocates) {
    budgeted_state L;
    const std::string error = L.run_armed("local s = ('x'):rep(1e9)", 1'000'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:1: instruction budget exceeded")) << error;
    EXPECT_LT(L.peak_memory(), 64U << 20U);
    // Copies of the empty string cost too (stock Lua loops over them).
    EXPECT_TRUE(
        starts_with(L.run_armed("local s = (''):rep(1e15)", 1'000'000), "budget_test.lua:1: instruction budget"));
}

TEST(lua_pattern, concat_of_a_big_table_fails_with_the_budget_error) {
    budgeted_state L;
    L.setup("t = {} for i = 1, 300000 do t[i] = 'item' .. i end");
    const std::string error = L.run_armed("local s = table.concat(t, ',')", 100'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:1: instruction budget exceeded")) << error;
}

TEST(lua_pattern, sort_of_a_big_table_fails_before_it_sorts) {
    budgeted_state L;
    L.setup("u = {} for i = 1, 300000 do u[i] = (i * 7919) % 300007 end");
    const std::string error = L.run_armed("table.sort(u)", 100'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:1: instruction budget exceeded")) << error;
    // Nothing was moved: the charge came first.
    EXPECT_EQ(L.run_armed("assert(u[1] == 7919 and u[2] == 15838)", 1'000), "");
}

TEST(lua_pattern, other_bulk_functions_fail_with_the_budget_error) {
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

TEST(lua_pattern, a_charge_in_a_function_called_from_c_names_the_scripts_line) {
    budgeted_state L;
    // sort calls its comparator, string.rep, as rep("x", 1e9): the caller of the charging
    // function is C, the line is the script's.
    const std::string error = L.run_armed(
        "local t = {1e9, 'x'}\n"
        "table.sort(t, string.rep)\n",
        1'000'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:2: instruction budget exceeded")) << error;
}

TEST(lua_pattern, once_the_budget_is_spent_every_further_call_fails) {
    budgeted_state L;
    const std::string error = L.run_armed(
        "pcall(string.rep, 'x', 1e9)\n"
        "local u = ('abc'):upper()\n",
        1'000'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:2: instruction budget exceeded")) << error;
}

TEST(lua_pattern, after_a_charge_spends_the_budget_a_handler_that_catches_it_can_only_unwind) {
    budgeted_state L;
    const std::string error = L.run_armed(
        "pcall(string.rep, 'x', 1e9)\n"
        "local n = 0\n"
        "while true do pcall(function() for i = 1, 1e5 do n = n + 1 end end) end\n",
        1'000'000);
    EXPECT_TRUE(starts_with(error, "budget_test.lua:2: instruction budget exceeded")) << error;
}

TEST(lua_pattern, normal_pattern_use_within_budget_works) {
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

TEST(lua_pattern, a_state_with_no_armed_budget_is_never_charged) {
    budgeted_state L;
    L.setup("big = ('x'):rep(4 * 1024 * 1024) assert(#big:upper() == #big) assert(big:find('y') == nil)");
    EXPECT_EQ(L.budget().used(), 0U);
}
