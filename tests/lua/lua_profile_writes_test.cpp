// Handlers' profile writes through the real engine: a call's writes apply only if it
// returns normally, and writes past the profile limits are handler errors that change
// nothing.
#include <rtcrm/core/test_driver.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace {

constexpr std::int64_t t0 = 1'763'800'000'000;
constexpr std::int64_t day = 86'400'000;

std::string ev(std::string_view type, std::int64_t ts, std::int64_t player = 1) {
    return fmt::format(R"({{"id":"e-{}-{}","player_id":{},"type":"{}","ts":{},"data":{{}}}})", player, ts, player, type,
                       ts);
}

struct harness {
    std::shared_ptr<rtcrm::lua_engine> engine;
    rtcrm::topology_test_driver driver;

    explicit harness(std::string script, rtcrm::profile_limits limits = {}, rtcrm::lua_options options = {})
        : engine(load(std::move(script), options)), driver(make(engine, limits)) {}

    static std::shared_ptr<rtcrm::lua_engine> load(std::string script, const rtcrm::lua_options& options) {
        auto engine = std::make_shared<rtcrm::lua_engine>(options);
        if (auto r = engine->load({{"writes.lua", std::move(script)}}); !r) {
            throw std::runtime_error(r.error().reason);
        }
        return engine;
    }
    static rtcrm::topology make(const std::shared_ptr<rtcrm::lua_engine>& engine, const rtcrm::profile_limits& limits) {
        rtcrm::topology t;
        t.add_shard_bolt(engine->make_bolt_factory()).with_options({.shards = 1, .limits = limits});
        return t;
    }

    rtcrm::profile profile(std::int64_t player = 1) const {
        auto p = driver.profile_of(rtcrm::player_key{player});
        if (!p) {
            throw std::runtime_error("no profile");
        }
        return *p;
    }
    rtcrm::handler_stats stat(std::string_view id) const {
        for (auto& s : engine->stats()) {
            if (s.id == id) {
                return s;
            }
        }
        throw std::runtime_error("no handler " + std::string{id});
    }
};

// What handlers write: the event itself adds to the recent ring and the applied position
// outside any handler, so the comparisons look at attributes and counters.
void expect_same_writes(const rtcrm::profile& before, const rtcrm::profile& after) {
    EXPECT_EQ(before.attributes(), after.attributes());
    EXPECT_EQ(before.counters(), after.counters());
}

std::int64_t integer(const rtcrm::profile& p, std::string_view name) {
    const auto* a = p.get(name);
    return a != nullptr && std::holds_alternative<std::int64_t>(*a) ? std::get<std::int64_t>(*a) : -1;
}

// --- staged writes: these need vm::call to commit or roll back around each call ---

TEST(lua_profile_writes, a_handler_that_increments_then_errors_leaves_the_counter_unchanged) {
    harness h{R"(
crm.updater{ id = "count", on = {"hit", "boom"}, fn = function(e, p)
  p:incr("hits")
  if e.type == "boom" then error("boom") end
end })"};
    h.driver.pipe(ev("hit", t0));
    h.driver.pipe(ev("boom", t0 + 1));
    EXPECT_EQ(integer(h.profile(), "hits"), 1);
    const auto s = h.stat("count");
    EXPECT_EQ(s.errors, 1U);
    EXPECT_NE(s.last_error.find("writes.lua:4: boom"), std::string::npos) << s.last_error;
}

TEST(lua_profile_writes, a_failing_handler_leaves_every_attribute_and_counter_as_it_was) {
    harness h{R"(
crm.updater{ id = "setup", on = "setup", fn = function(e, p)
  p:set("a", 1); p:set("b", "two"); p:set("c", { 3 }); p:set("d", true)
  p:incr("fights", 1, "1d")
end }
crm.updater{ id = "bad", on = "boom", fn = function(e, p)
  p:set("b", "changed")              -- replace
  p:set("c", nil)                    -- erase from the middle
  p:set("e", "new")                  -- add
  p:incr("a", 0.5)                   -- integer to number
  p:set("d", nil); p:set("d", false) -- erase, then add again at the end
  p:incr("fights", 5, "1d")          -- a new bucket (a day later)
  p:incr("wins", 1, "1h")            -- a new counter
  assert(p:get("e") == "new" and p:get("c") == nil and p:count("fights") == 6, "reads its own writes")
  error("late failure")
end })"};
    h.driver.pipe(ev("setup", t0));
    const auto before = h.profile();
    h.driver.pipe(ev("boom", t0 + day));
    expect_same_writes(before, h.profile());
    const auto s = h.stat("bad");
    EXPECT_EQ(s.errors, 1U);
    EXPECT_NE(s.last_error.find("late failure"), std::string::npos) << s.last_error;
}

TEST(lua_profile_writes, a_handler_stopped_by_its_instruction_budget_keeps_none_of_its_writes) {
    harness h{R"(
crm.updater{ id = "spin", on = "spin", fn = function(e, p)
  p:set("started", true)
  p:incr("spins", 1, "1d")
  while true do end
end })",
              {},
              rtcrm::lua_options{.instruction_budget = 10'000}};
    h.driver.pipe(ev("spin", t0));
    const auto p = h.profile();
    EXPECT_EQ(p.get("started"), nullptr);
    EXPECT_TRUE(p.counters().empty());
    EXPECT_EQ(h.stat("spin").errors, 1U);
}

TEST(lua_profile_writes, a_write_past_a_limit_undoes_the_earlier_writes_of_its_call) {
    harness h{R"(
crm.updater{ id = "grow", on = "grow", fn = function(e, p)
  p:set("note", "short")
  p:set("bio", string.rep("x", 200))
end })",
              {.max_value_bytes = 100}};
    h.driver.pipe(ev("grow", t0));
    EXPECT_TRUE(h.profile().attributes().empty());
    EXPECT_EQ(h.stat("grow").errors, 1U);
}

TEST(lua_profile_writes, a_campaign_condition_that_writes_then_fails_keeps_none_of_its_writes) {
    harness h{R"(
crm.campaign{ id = "c", on = "x", content = {}, when = function(e, p)
  p:set("seen", true)
  error("no")
end })"};
    h.driver.pipe(ev("x", t0));
    EXPECT_EQ(h.profile().get("seen"), nullptr);
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
}

// --- writes within one call and across calls ---

TEST(lua_profile_writes, a_later_handlers_failure_keeps_an_earlier_handlers_writes) {
    harness h{R"(
crm.updater{ id = "good", on = "x", fn = function(e, p) p:incr("good") end }
crm.updater{ id = "bad", on = "x", fn = function(e, p) error("bad") end })"};
    h.driver.pipe(ev("x", t0));
    h.driver.pipe(ev("x", t0 + 1));
    EXPECT_EQ(integer(h.profile(), "good"), 2);
    EXPECT_EQ(h.stat("bad").errors, 2U);
}

TEST(lua_profile_writes, a_refused_write_caught_with_pcall_changes_nothing_and_the_handler_goes_on) {
    harness h{R"(
crm.updater{ id = "careful", on = "x", fn = function(e, p)
  p:set("bio", "old")
  local ok, err = pcall(function() p:set("bio", string.rep("x", 101)) end)
  p:set("refused", not ok)
  p:set("why", err)
end })",
              {.max_value_bytes = 100}};
    h.driver.pipe(ev("x", t0));
    const auto p = h.profile();
    EXPECT_EQ(std::get<std::string>(*p.get("bio")), "old");
    EXPECT_TRUE(std::get<bool>(*p.get("refused")));
    EXPECT_NE(std::get<std::string>(*p.get("why")).find("max_value_bytes (100)"), std::string::npos);
    EXPECT_EQ(h.stat("careful").errors, 0U);
}

// --- profile limits ---

TEST(lua_profile_writes, a_string_past_max_value_bytes_is_an_error_naming_the_limit) {
    harness h{R"(
crm.updater{ id = "bio", on = "x", fn = function(e, p)
  p:set("bio", string.rep("x", 70000))
end })"};
    h.driver.pipe(ev("x", t0));
    const auto s = h.stat("bio");
    EXPECT_EQ(s.calls, 1U);
    EXPECT_EQ(s.errors, 1U);
    EXPECT_NE(
        s.last_error.find("writes.lua:3: profile:set('bio'): value of 70000 bytes exceeds max_value_bytes (65536)"),
        std::string::npos)
        << s.last_error;
    EXPECT_EQ(h.profile().get("bio"), nullptr);
}

TEST(lua_profile_writes, a_table_whose_json_passes_max_value_bytes_is_refused) {
    harness h{R"(
crm.updater{ id = "t", on = "x", fn = function(e, p)
  local big = {}
  for i = 1, 50 do big[i] = "0123456789" end
  p:set("list", big)
end })",
              {.max_value_bytes = 100}};
    h.driver.pipe(ev("x", t0));
    const auto s = h.stat("t");
    EXPECT_EQ(s.errors, 1U);
    EXPECT_NE(
        s.last_error.find("profile:set('list'): value of more than 100 bytes (as JSON) exceeds max_value_bytes (100)"),
        std::string::npos)
        << s.last_error;
    EXPECT_EQ(h.profile().get("list"), nullptr);
}

TEST(lua_profile_writes, a_table_shared_many_times_over_is_refused_without_writing_it_all) {
    // 2^30 leaves as JSON, in a few hundred bytes of Lua memory.
    harness h{R"(
crm.updater{ id = "t", on = "x", fn = function(e, p)
  local t = { "leaf" }
  for i = 1, 30 do t = { t, t } end
  p:set("huge", t)
end })"};
    h.driver.pipe(ev("x", t0));
    const auto s = h.stat("t");
    EXPECT_EQ(s.errors, 1U);
    EXPECT_NE(s.last_error.find("max_value_bytes (65536)"), std::string::npos) << s.last_error;
}

TEST(lua_profile_writes, a_new_attribute_past_max_attributes_is_refused_and_existing_ones_still_change) {
    harness h{R"(
crm.updater{ id = "fill", on = "fill", fn = function(e, p)
  for i = 1, 3 do p:set("a" .. i, i) end
end }
crm.updater{ id = "more", on = "more", fn = function(e, p)
  p:set("a1", 10)
  p:incr("a2", 1)
  p:incr("a4")
end })",
              {.max_attributes = 3}};
    h.driver.pipe(ev("fill", t0));
    h.driver.pipe(ev("more", t0 + 1));
    const auto s = h.stat("more");
    EXPECT_EQ(s.errors, 1U);
    EXPECT_NE(s.last_error.find("writes.lua:8: profile:incr('a4'): a new attribute would exceed max_attributes (3)"),
              std::string::npos)
        << s.last_error;
    const auto p = h.profile();
    EXPECT_EQ(p.attributes().size(), 3U);
    EXPECT_EQ(p.get("a4"), nullptr);
}

TEST(lua_profile_writes, a_new_windowed_counter_past_max_counters_is_refused) {
    harness h{R"(
crm.updater{ id = "c", on = "x", fn = function(e, p)
  p:incr("c" .. p:count("n"), 1, "1d")
  p:incr("n", 1, "1d")
end })",
              {.max_counters = 3}};
    for (int i = 0; i < 3; ++i) {
        h.driver.pipe(ev("x", t0 + i));  // c0 and n, c1, c2: three counters and a fourth refused
    }
    const auto s = h.stat("c");
    EXPECT_EQ(s.errors, 1U);
    EXPECT_NE(s.last_error.find("profile:incr('c2'): a new windowed counter would exceed max_counters (3)"),
              std::string::npos)
        << s.last_error;
    EXPECT_EQ(h.profile().counters().size(), 3U);
}

TEST(lua_profile_writes, a_write_that_would_pass_max_encoded_bytes_is_refused_and_shrinking_still_works) {
    harness h{R"(
crm.updater{ id = "grow", on = "grow", fn = function(e, p)
  p:set("s" .. e.ts, string.rep("x", 2000))
end }
crm.updater{ id = "shrink", on = "shrink", fn = function(e, p)
  p:set("s" .. (e.ts - 10), "y")
end })",
              {.max_encoded_bytes = 7000}};
    for (int i = 1; i <= 4; ++i) {
        h.driver.pipe(ev("grow", t0 + i));  // about 2 KB each, and a few dozen bytes of history: the fourth is refused
    }
    const auto grown = h.profile();
    const auto s = h.stat("grow");
    EXPECT_EQ(s.errors, 1U);
    EXPECT_NE(s.last_error.find("writes.lua:3: profile:set('s1763800000004'): the profile would encode to "),
              std::string::npos)
        << s.last_error;
    EXPECT_NE(s.last_error.find("bytes, past max_encoded_bytes (7000)"), std::string::npos) << s.last_error;
    EXPECT_EQ(grown.attributes().size(), 3U);
    EXPECT_LE(grown.encoded_size(), 7000U);
    h.driver.pipe(ev("shrink", t0 + 11));  // replaces s<t0+1>
    EXPECT_EQ(h.stat("shrink").errors, 0U) << h.stat("shrink").last_error;
    h.driver.pipe(ev("grow", t0 + 5));  // fits again
    EXPECT_EQ(h.stat("grow").errors, 1U) << h.stat("grow").last_error;
    EXPECT_EQ(h.profile().attributes().size(), 4U);
}

TEST(lua_profile_writes, a_handler_adding_attributes_every_event_stops_at_max_attributes) {
    harness h{R"(
crm.updater{ id = "spray", on = "x", fn = function(e, p)
  for i = 1, 200 do p:set(e.ts .. ":" .. i, i) end
end })",
              {.max_attributes = 500}};
    for (int i = 0; i < 5; ++i) {
        h.driver.pipe(ev("x", t0 + i));
    }
    EXPECT_LE(h.profile().attributes().size(), 500U);
    EXPECT_EQ(h.stat("spray").errors, 3U);  // the third, fourth and fifth events each reach the limit
}

TEST(lua_profile_writes, zero_turns_a_limit_off) {
    harness h{R"(
crm.updater{ id = "big", on = "x", fn = function(e, p)
  p:set("bio", string.rep("x", 100000))
end })",
              {.max_value_bytes = 0, .max_encoded_bytes = 0}};
    h.driver.pipe(ev("x", t0));
    EXPECT_EQ(h.stat("big").errors, 0U) << h.stat("big").last_error;
    EXPECT_EQ(std::get<std::string>(*h.profile().get("bio")).size(), 100000U);
}

TEST(lua_profile_writes, a_handler_reads_its_own_writes_during_the_call) {
    harness h{R"(
crm.updater{ id = "rw", on = "x", fn = function(e, p)
  p:set("a", "one"); p:incr("n", 2); p:incr("w", 3, "1h")
  assert(p:get("a") == "one" and p:get("n") == 2 and p:count("w", "1h") == 3, "reads back")
  p:set("a", nil)
  assert(p:get("a") == nil, "erase reads back")
end })"};
    h.driver.pipe(ev("x", t0));
    EXPECT_EQ(h.stat("rw").errors, 0U) << h.stat("rw").last_error;
    EXPECT_EQ(integer(h.profile(), "n"), 2);
}

}  // namespace
