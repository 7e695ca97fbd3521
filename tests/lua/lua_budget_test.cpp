// Nothing a script runs escapes the call budget: every path into Lua code (handlers,
// campaign predicates, message handlers, metamethods called from C, to-be-closed
// variables, built-ins' own work, top levels at load, segments) ends with an error naming
// file:line, and the shard goes on with the next handler and the next event.
#include <rtcrm/core/test_driver.hpp>
#include <rtcrm/lua/lua_engine.hpp>
#include <rtcrm/lua/segment.hpp>

#include "support/lua_engines.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <random>

namespace {

constexpr std::int64_t t0 = 1'763'800'000'000;

std::string ev(std::int64_t player, std::string_view type, std::int64_t ts, std::string_view data = "{}") {
    return fmt::format(R"({{"id":"e-{}-{}","player_id":{},"type":"{}","ts":{},"data":{}}})", player, ts, player, type,
                       ts, data);
}

using rtcrm::test::engine_with;

rtcrm::topology one_shard(const std::shared_ptr<rtcrm::lua_engine>& engine) {
    rtcrm::topology t;
    t.add_shard_bolt(engine->make_bolt_factory()).with_options({.shards = 1});
    return t;
}

rtcrm::handler_stats stat_of(const rtcrm::lua_engine& engine, std::string_view id) {
    for (auto& s : engine.stats()) {
        if (s.id == id) {
            return s;
        }
    }
    throw std::runtime_error("no handler " + std::string{id});
}

// Budgets small enough that each endless loop ends in a few milliseconds.
rtcrm::lua_options small_budget() {
    return {.instruction_budget = 200'000, .call_memory_budget = 1024 * 1024, .memory_limit = 32 * 1024 * 1024};
}

struct escape_case {
    const char* name;
    const char* code;      // the handler's body, on line 2 of escape.lua
    const char* expected;  // a part of the error message
    const char* at = "escape.lua:2:";  // where the error says it happened
};

void PrintTo(const escape_case& c, std::ostream* os) { *os << c.name; }

class endless_code : public ::testing::TestWithParam<escape_case> {};

TEST_P(endless_code, in_a_handler_ends_with_an_error_naming_the_line_and_the_shard_goes_on) {
    const auto& c = GetParam();
    const auto script = fmt::format("crm.updater{{ id = \"escape\", on = \"x\", fn = function(e, p)\n{}\nend }}\n"
                                    "crm.updater{{ id = \"after\", on = \"x\", fn = function(e, p) p:incr(\"after\") end }}\n",
                                    c.code);
    auto engine = engine_with({{"escape.lua", script}}, small_budget());
    rtcrm::topology_test_driver driver{one_shard(engine)};
    driver.pipe(ev(1, "x", t0));
    driver.pipe(ev(1, "x", t0 + 1));
    const auto s = stat_of(*engine, "escape");
    EXPECT_EQ(s.errors, 2U);
    EXPECT_NE(s.last_error.find(c.at), std::string::npos) << s.last_error;
    EXPECT_NE(s.last_error.find(c.expected), std::string::npos) << s.last_error;
    // The next handler ran for both events, and both events were processed.
    EXPECT_EQ(std::get<std::int64_t>(*driver.profile_of(rtcrm::player_key{1})->get("after")), 2);
    EXPECT_EQ(driver.stats().processed, 2U);
}

constexpr const char* budget = "instruction budget exceeded";

INSTANTIATE_TEST_SUITE_P(
    every_path, endless_code,
    ::testing::Values(
        escape_case{"loop", "while true do end", budget},
        // The handler returns; the budget error comes back at the next instruction, the
        // handler's `end`.
        escape_case{"xpcall_handler_after_a_budget_error",
                    "xpcall(function() while true do end end, function() while true do end end)", budget,
                    "escape.lua:3:"},
        escape_case{"xpcall_handler_after_an_ordinary_error",
                    "xpcall(function() error('x') end, function() while true do end end) while true do end", budget},
        escape_case{"xpcall_in_a_loop", "while true do xpcall(function() while true do end end, print) end", budget},
        escape_case{"pcall_in_a_loop", "while true do pcall(function() while true do end end) end", budget},
        escape_case{"gc_finalizer", "setmetatable({}, {__gc = function() while true do end end})", "__gc"},
        escape_case{"to_be_closed_variable",
                    "do local x <close> = setmetatable({}, {__close = function() while true do end end}) end", budget},
        escape_case{"to_be_closed_variable_on_error",
                    "local x <close> = setmetatable({}, {__close = function() while true do end end}) error('x')",
                    budget},
        escape_case{"index", "local t = setmetatable({}, {__index = function() while true do end end}) return t.x",
                    budget},
        escape_case{"newindex", "local t = setmetatable({}, {__newindex = function() while true do end end}) t.x = 1",
                    budget},
        escape_case{"call", "local t = setmetatable({}, {__call = function() while true do end end}) t()", budget},
        escape_case{"eq", "local m = {__eq = function() while true do end end} "
                          "return setmetatable({}, m) == setmetatable({}, m)",
                    budget},
        escape_case{"lt", "local m = {__lt = function() while true do end end} "
                          "return setmetatable({}, m) < setmetatable({}, m)",
                    budget},
        escape_case{"len", "return #setmetatable({}, {__len = function() while true do end end})", budget},
        escape_case{"tostring", "tostring(setmetatable({}, {__tostring = function() while true do end end}))", budget},
        escape_case{"concat", "return setmetatable({}, {__concat = function() while true do end end}) .. 'x'", budget},
        escape_case{"pairs", "for _ in pairs(setmetatable({}, {__pairs = function() while true do end end})) do end",
                    budget},
        escape_case{"sort_comparator", "table.sort({3, 2, 1}, function(a, b) while true do end end)", budget},
        escape_case{"gsub_replacement", "string.gsub('abc', '%w', function() while true do end end)", budget},
        escape_case{"backtracking_pattern", "return ('a'):rep(26):find(('a*'):rep(9) .. 'b')", budget},
        escape_case{"big_strings", "local s = ('x'):rep(512 * 1024) while true do local u = s:upper() end", budget},
        escape_case{"repeat_of_a_billion", "local s = ('x'):rep(1e9)", budget},
        escape_case{"memory_bomb", "local t = {} local s = ('x'):rep(1000) for i = 1, 1e7 do t[i] = s .. i end",
                    "memory budget of 1048576 bytes per call exceeded", "escape.lua:1:"}),
    [](const ::testing::TestParamInfo<escape_case>& p) { return std::string{p.param.name}; });

// The memory budget's error has no position in Lua; it names the handler's definition.
TEST(lua_budget, a_memory_bomb_names_the_handlers_definition_and_fails_at_its_budget_not_the_states_limit) {
    auto engine = engine_with({{"bomb.lua", "crm.updater{ id = 'bomb', on = 'x', fn = function(e, p)\n"
                                            "  local t = {} for i = 1, 1e8 do t[i] = i end\nend }"}},
                              {.call_memory_budget = 512 * 1024});
    rtcrm::topology_test_driver driver{one_shard(engine)};
    driver.pipe(ev(1, "x", t0));
    const auto s = stat_of(*engine, "bomb");
    EXPECT_EQ(s.errors, 1U);
    EXPECT_NE(s.last_error.find("bomb.lua:1: memory budget of 524288 bytes per call exceeded"), std::string::npos)
        << s.last_error;
}

TEST(lua_budget, storing_a_huge_table_is_work_the_call_pays_for) {
    auto engine = engine_with({{"big.lua", "local big = {} for i = 1, 50000 do big['k' .. i] = i end\n"
                                           "crm.updater{ id = 'big', on = 'x', fn = function(e, p)\n"
                                           "  p:set('big', big)\nend }"}},
                              {.instruction_budget = 100'000});
    rtcrm::topology_test_driver driver{one_shard(engine)};
    driver.pipe(ev(1, "x", t0));
    const auto s = stat_of(*engine, "big");
    EXPECT_NE(s.last_error.find("big.lua:3: instruction budget exceeded"), std::string::npos) << s.last_error;
    EXPECT_EQ(driver.profile_of(rtcrm::player_key{1})->get("big"), nullptr);
}

TEST(lua_budget, the_wall_clock_deadline_ends_a_call_whose_instruction_budget_is_not_spent) {
    auto engine = engine_with({{"slow.lua", "crm.updater{ id = 'slow', on = 'x', fn = function(e, p)\n"
                                            "  while true do end\nend }"}},
                              {.instruction_budget = 1'000'000'000'000, .call_deadline = std::chrono::milliseconds{30}});
    rtcrm::topology_test_driver driver{one_shard(engine)};
    driver.pipe(ev(1, "x", t0));
    const auto s = stat_of(*engine, "slow");
    EXPECT_EQ(s.errors, 1U);
    EXPECT_NE(s.last_error.find("slow.lua:2: deadline exceeded"), std::string::npos) << s.last_error;
}

TEST(lua_budget, a_campaigns_when_and_segment_are_under_the_budget) {
    auto engine = engine_with({{"c.lua", "crm.campaign{ id = 'w', on = 'x',\n"
                                         "  when = function(e, p) while true do end end }\n"
                                         "crm.campaign{ id = 's', on = 'x',\n"
                                         "  segment = function(p) while true do end end }\n"
                                         "crm.campaign{ id = 'ok', on = 'x' }\n"}},
                              small_budget());
    rtcrm::topology_test_driver driver{one_shard(engine)};
    driver.pipe(ev(1, "x", t0));
    EXPECT_NE(stat_of(*engine, "w").last_error.find("c.lua:2: instruction budget exceeded"), std::string::npos);
    EXPECT_NE(stat_of(*engine, "s").last_error.find("c.lua:4: instruction budget exceeded"), std::string::npos);
    EXPECT_EQ(driver.read(rtcrm::stream::main).size(), 1U);  // campaign 'ok' fired
}

struct load_case {
    const char* name;
    const char* code;      // a script's top level, from line 1
    const char* expected;  // the load error starts with this
};

void PrintTo(const load_case& c, std::ostream* os) { *os << c.name; }

class bad_top_level : public ::testing::TestWithParam<load_case> {};

TEST_P(bad_top_level, is_a_load_error_naming_the_file_and_line_and_the_old_set_stays) {
    const auto& c = GetParam();
    auto engine = engine_with({{"ok.lua", "crm.updater{ id = 'ok', on = 'x', fn = function(e, p) end }"}}, small_budget());
    const auto before = engine->version();
    const auto r = engine->put_script({"bad.lua", c.code});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason.rfind(c.expected, 0), 0U) << r.error().reason;
    EXPECT_EQ(engine->version(), before);
}

INSTANTIATE_TEST_SUITE_P(
    every_path, bad_top_level,
    ::testing::Values(
        load_case{"loop", "local n = 0\nwhile true do n = n + 1 end", "bad.lua:2: instruction budget exceeded"},
        load_case{"xpcall", "xpcall(function() while true do end end,\n function() while true do end end)",
                  "bad.lua:2: instruction budget exceeded"},
        load_case{"gc_finalizer", "\nsetmetatable({}, {__gc = function() while true do end end})", "bad.lua:2: setmetatable: __gc"},
        load_case{"pattern", "local x = 1\nlocal _ = ('a'):rep(26):find(('a*'):rep(9) .. 'b')",
                  "bad.lua:2: instruction budget exceeded"},
        load_case{"on_with_a_hole", "crm.updater{ id = 'h', on = {'login', nil, true},\n fn = function() end }",
                  "bad.lua:1: updater 'h': `on` must be"},
        load_case{"on_with_a_number", "crm.updater{ id = 'h', on = {'login', 3}, fn = function() end }",
                  "bad.lua:1: updater 'h': `on` must be"},
        // `on` is read raw: its metamethods decide nothing.
        load_case{"on_behind_an_index_metamethod",
                  "crm.updater{ id = 'h', fn = function() end,\n on = setmetatable({}, {__index = function() return 'x' end}) }",
                  "bad.lua:1: updater 'h' needs `on`"},
        load_case{"spec_with_an_endless_index",
                  "crm.campaign(setmetatable({ id = 1 },\n {__index = function() while true do end end}))",
                  "bad.lua:2: instruction budget exceeded"},
        load_case{"cap_with_an_erroring_index",
                  "crm.campaign{ id = 1, on = 'x', cap = setmetatable({}, {__index = function() error('boom') end}) }",
                  "bad.lua:1: boom"},
        load_case{"content_with_a_function", "crm.campaign{ id = 1, on = 'x', content = { f = print } }",
                  "bad.lua:1: campaign '1': content:"},
        load_case{"error_with_a_table", "error({})", "bad.lua: error object is a table"},
        // 2^30 leaves in a few hundred bytes of Lua memory: serialising stops at 64 KiB.
        load_case{"content_sharing_its_subtables",
                  "local t = {} for i = 1, 30 do t = {t, t} end\ncrm.campaign{ id = 1, on = 'x', content = t }",
                  "bad.lua:2: campaign '1': content: larger than 65536 bytes of JSON"}),
    [](const ::testing::TestParamInfo<load_case>& p) { return std::string{p.param.name}; });

TEST(lua_budget, an_endless_segment_fails_its_match_with_the_line) {
    rtcrm::segment seg{"p:get('x') == nil and (function() while true do end end)()",
                       {.name = "where", .instruction_budget = 100'000}};
    rtcrm::profile p{rtcrm::player_key{1}};
    const auto r = seg.matches(p);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().reason.find("where:1: instruction budget exceeded"), std::string::npos) << r.error().reason;
}

TEST(lua_budget, a_segment_has_the_handlers_deadline) {
    rtcrm::segment seg{"p:get('x') == nil and (function() while true do end end)()",
                       {.instruction_budget = 1'000'000'000'000, .call_deadline = std::chrono::milliseconds{30}}};
    const auto r = seg.matches(rtcrm::profile{rtcrm::player_key{1}});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().reason.find("where:1: deadline exceeded"), std::string::npos) << r.error().reason;
}

TEST(lua_budget, a_segment_that_loops_at_its_top_level_is_refused) {
    EXPECT_THROW(rtcrm::segment("return (function() while true do end end)()", {.instruction_budget = 100'000}),
                 rtcrm::error);
}

// Random tables as the argument of crm.updater and crm.campaign: every one either loads or
// is a load error with a position, never an exception or a crash.
TEST(lua_budget, random_handler_specs_load_or_fail_with_a_position) {
    std::mt19937 rng{20261207};
    const std::vector<std::string> values = {
        "nil", "true", "false", "0", "-1", "1.5", "3", "0/0", "1/0", "'x'", "''", "'*'", "'login'", "{}",
        "{'login'}", "{'a', 'b'}", "{'a', nil, 'b'}", "{1, 2}", "{[0] = 'a'}", "{[2] = 'a'}", "{x = 'a'}",
        "{'a', x = 1}", "function() end", "function(e, p) return true end", "print",
        "setmetatable({}, {__index = function() return 'login' end})",
        "setmetatable({'a'}, {__len = function() return 5 end})",
        "setmetatable({}, {__index = function() error('meta') end})", "{per_player = 1}",
        "{per_player = 0}", "{per_player = 1, every = '1d'}", "{per_player = 'x', every = 3}", "{per_second = 5}",
        "{per_second = -1}", "{per_second = 0/0}", "{{}}", "{a = {b = {c = {}}}}", "string.rep('x', 10)"};
    // A valid spec, of which a few fields are replaced by random values.
    const std::vector<std::pair<std::string, std::string>> valid = {
        {"id", "'h'"}, {"on", "'x'"}, {"fn", "function(e, p) end"}, {"when", "function(e, p) return true end"},
        {"segment", "function(p) return true end"}, {"content", "{ offer = 'tanks' }"},
        {"cap", "{per_player = 1, every = '1d'}"}, {"rate", "{per_second = 5}"}, {"dry_run", "false"}};
    auto engine = engine_with({}, small_budget());
    std::size_t loaded = 0;
    std::size_t refused = 0;
    for (int i = 0; i < 400; ++i) {
        std::string spec = "{";
        const auto changes = rng() % 4;
        std::vector<std::size_t> changed;
        for (std::size_t k = 0; k < changes; ++k) {
            changed.push_back(rng() % valid.size());
        }
        for (std::size_t f = 0; f < valid.size(); ++f) {
            if (std::find(changed.begin(), changed.end(), f) != changed.end()) {
                const auto& v = values[rng() % values.size()];
                if (v != "nil") {
                    spec += fmt::format("{} = {}, ", valid[f].first, v);
                }
            } else {
                spec += fmt::format("{} = {}, ", valid[f].first, valid[f].second);
            }
        }
        spec += "}";
        const bool campaign = rng() % 2 == 0;
        const auto code = fmt::format("local x = 1\ncrm.{}({})\n", campaign ? "campaign" : "updater", spec);
        try {
            const auto r = engine->load({{"fuzz.lua", code}});
            if (r) {
                ++loaded;
            } else {
                ++refused;
                EXPECT_EQ(r.error().reason.rfind("fuzz.lua:", 0), 0U) << code << "\n" << r.error().reason;
            }
        } catch (const std::exception& e) {
            ADD_FAILURE() << "an exception escaped for " << code << ": " << e.what();
        }
    }
    EXPECT_GT(loaded, 0U);
    EXPECT_GT(refused, 0U);
}

// The circuit breaker: a handler is disabled by its error share over its last 64 calls,
// even when it never fails 10 times in a row.
TEST(lua_budget, a_handler_failing_two_calls_in_three_is_disabled_by_its_error_share) {
    auto engine = engine_with({{"flaky.lua", "crm.updater{ id = 'flaky', on = 'x', fn = function(e, p)\n"
                                             "  if e.data.n % 3 ~= 0 then error('bad value') end\nend }\n"
                                             "crm.updater{ id = 'good', on = 'x', fn = function(e, p) p:incr('n') end }"}},
                              {.max_failure_time_share = 0});
    rtcrm::topology_test_driver driver{one_shard(engine)};
    for (int i = 0; i < 200; ++i) {
        driver.pipe(ev(1, "x", t0 + i, fmt::format(R"({{"n":{}}})", i)));
    }
    const auto s = stat_of(*engine, "flaky");
    EXPECT_TRUE(s.disabled);
    EXPECT_NE(s.disabled_reason.find("of its last 64 calls failed"), std::string::npos) << s.disabled_reason;
    EXPECT_LT(s.calls, 64U);  // 32 failures among the first 48 calls or so
    EXPECT_EQ(std::get<std::int64_t>(*driver.profile_of(rtcrm::player_key{1})->get("n")), 200);
}

TEST(lua_budget, a_handler_whose_rare_failures_are_endless_loops_is_disabled_by_their_share_of_the_time) {
    auto engine = engine_with({{"loop.lua", "crm.updater{ id = 'loop', on = 'x', fn = function(e, p)\n"
                                            "  if e.data.n % 5 == 0 then while true do end end\nend }"}},
                              {.instruction_budget = 2'000'000});
    rtcrm::topology_test_driver driver{one_shard(engine)};
    for (int i = 0; i < 400; ++i) {
        driver.pipe(ev(1, "x", t0 + i, fmt::format(R"({{"n":{}}})", i)));
    }
    const auto s = stat_of(*engine, "loop");
    EXPECT_TRUE(s.disabled);
    EXPECT_NE(s.disabled_reason.find("of the shard's recent handler time"), std::string::npos) << s.disabled_reason;
    EXPECT_EQ(driver.stats().processed, 400U);
}

TEST(lua_budget, a_reload_enables_a_disabled_handler_again) {
    const rtcrm::lua_script bad{"bad.lua", "crm.updater{ id = 'bad', on = 'x', fn = function(e, p) error('no') end }"};
    auto engine = engine_with({bad}, {.max_consecutive_errors = 2});
    rtcrm::topology_test_driver driver{one_shard(engine)};
    driver.pipe(ev(1, "x", t0));
    driver.pipe(ev(1, "x", t0 + 1));
    EXPECT_TRUE(stat_of(*engine, "bad").disabled);
    EXPECT_EQ(stat_of(*engine, "bad").disabled_reason, "2 consecutive errors");
    ASSERT_TRUE(engine->load({bad}));
    EXPECT_FALSE(stat_of(*engine, "bad").disabled);
}

}  // namespace
