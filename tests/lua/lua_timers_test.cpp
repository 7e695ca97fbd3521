// Timers in Lua (profile:set_timer, cancel_timer, timer) and the campaigns built on them:
// delayed campaigns (`after`, `unless`) and `active`, through the real engine and the
// test driver.
#include <rtcrm/core/test_driver.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

constexpr std::int64_t t0 = 1'763'800'000'000;
constexpr std::int64_t hour = 3'600'000;
constexpr std::int64_t day = 24 * hour;

std::string ev(std::string_view type, std::int64_t ts, std::int64_t player = 1, std::string_view data = "{}") {
    return fmt::format(R"({{"id":"e-{}-{}","player_id":{},"type":"{}","ts":{},"data":{}}})", player, ts, player, type,
                       ts, data);
}

std::shared_ptr<rtcrm::lua_engine> load(std::string script) {
    auto engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{});
    if (auto r = engine->load({{"timers.lua", std::move(script)}}); !r) {
        throw std::runtime_error(r.error().reason);
    }
    return engine;
}

// Why `script` does not load ("file:line: message").
std::string load_error(std::string script) {
    rtcrm::lua_engine engine{rtcrm::lua_options{}};
    const auto r = engine.load({{"timers.lua", std::move(script)}});
    return r ? std::string{} : r.error().reason;
}

struct harness {
    std::shared_ptr<rtcrm::lua_engine> engine;
    rtcrm::topology_test_driver driver;

    explicit harness(std::string script, rtcrm::profile_limits limits = {})
        : engine(load(std::move(script))), driver(make(engine, limits)) {}

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
    const rtcrm::pending_timer* timer(std::string_view name, std::int64_t player = 1) {
        kept_ = profile(player);
        return kept_->timer(name);
    }
    rtcrm::handler_stats stat(std::string_view id) const {
        for (auto& s : engine->stats()) {
            if (s.id == id) {
                return s;
            }
        }
        throw std::runtime_error("no handler " + std::string{id});
    }

private:
    std::optional<rtcrm::profile> kept_;
};

std::string text(const rtcrm::profile& p, std::string_view name) {
    const auto* a = p.get(name);
    return a != nullptr && std::holds_alternative<std::string>(*a) ? std::get<std::string>(*a) : std::string{"?"};
}

// --- profile:set_timer, cancel_timer, timer ---

TEST(lua_timers, set_timer_arms_a_timer_with_the_arming_event_and_its_data) {
    harness h{R"(
crm.updater{ id = "arm", on = "login", fn = function(e, p)
  p:set_timer("remind", e.ts + 1000, { offer = "x", n = 2 })
  p:set("due", tostring(p:timer("remind")))
end })"};
    h.driver.pipe(ev("login", t0));
    const auto* t = h.timer("remind");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->due, t0 + 1000);
    EXPECT_EQ(t->event_id, fmt::format("e-1-{}", t0));
    EXPECT_EQ(t->ref, fmt::format("e:e-1-{}", t0));  // the arming event's event_ref (trigger_id.hpp)
    EXPECT_EQ(t->data, R"({"n":2,"offer":"x"})");
    EXPECT_EQ(text(h.profile(), "due"), std::to_string(t0 + 1000));  // the handler reads its own write
}

TEST(lua_timers, the_arming_reference_of_an_event_without_an_id_is_its_position) {
    harness h{R"(crm.updater{ id = "arm", on = "login", fn = function(e, p) p:set_timer("remind", 5) end })"};
    h.driver.pipe(R"({"player_id":1,"type":"login","ts":1})");
    const auto* t = h.timer("remind");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->event_id, "");
    EXPECT_EQ(t->ref, "o:0:0:0");
    EXPECT_EQ(t->data, "");
}

TEST(lua_timers, set_timer_replaces_and_cancel_timer_removes) {
    harness h{R"(
crm.updater{ id = "t", on = {"arm", "cancel", "ask"}, fn = function(e, p)
  if e.type == "arm" then p:set_timer("a", e.ts + 10)
  elseif e.type == "cancel" then p:set("had", p:cancel_timer("a"))
  else p:set("due", p:timer("a") or "none") end
end })"};
    h.driver.pipe(ev("arm", t0));
    h.driver.pipe(ev("arm", t0 + 5));
    EXPECT_EQ(h.timer("a")->due, t0 + 15);
    EXPECT_EQ(h.profile().timers().size(), 1U);
    h.driver.pipe(ev("cancel", t0 + 6));
    EXPECT_EQ(h.timer("a"), nullptr);
    EXPECT_EQ(std::get<bool>(*h.profile().get("had")), true);
    h.driver.pipe(ev("cancel", t0 + 7));
    EXPECT_EQ(std::get<bool>(*h.profile().get("had")), false);
    h.driver.pipe(ev("ask", t0 + 8));
    EXPECT_EQ(text(h.profile(), "due"), "none");
}

TEST(lua_timers, a_handler_that_fails_leaves_the_timers_as_they_were) {
    harness h{R"(
crm.updater{ id = "t", on = {"arm", "boom"}, fn = function(e, p)
  if e.type == "arm" then p:set_timer("keep", e.ts + 100); p:set_timer("gone", e.ts + 200); return end
  p:set_timer("keep", e.ts + 999)
  p:cancel_timer("gone")
  p:set_timer("new", e.ts + 300)
  error("boom")
end })"};
    h.driver.pipe(ev("arm", t0));
    const auto before = h.profile().timers();
    ASSERT_EQ(before.size(), 2U);
    h.driver.pipe(ev("boom", t0 + 1));
    EXPECT_EQ(h.profile().timers(), before);
    EXPECT_EQ(h.stat("t").errors, 1U);
    EXPECT_NE(h.stat("t").last_error.find("timers.lua:7: boom"), std::string::npos) << h.stat("t").last_error;
}

TEST(lua_timers, max_timers_bounds_new_timers_and_names_the_limit) {
    harness h{R"(
crm.updater{ id = "t", on = "arm", fn = function(e, p)
  p:set_timer("a", e.ts + 1); p:set_timer("b", e.ts + 2)
  p:set_timer("a", e.ts + 3)  -- replacing one never passes the limit
  p:set_timer("c", e.ts + 4)
end })",
              rtcrm::profile_limits{.max_timers = 2}};
    h.driver.pipe(ev("arm", t0));
    EXPECT_TRUE(h.profile().timers().empty());  // the call failed: none of its writes stand
    EXPECT_NE(h.stat("t").last_error.find("timers.lua:5: profile:set_timer('c'): a new timer would exceed max_timers (2)"),
              std::string::npos)
        << h.stat("t").last_error;
}

TEST(lua_timers, bad_arguments_are_errors_that_say_what_is_wrong) {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {R"(p:set_timer("", 1))", "the timer name is empty"},
        {R"(p:set_timer(string.rep("n", 129), 1))", "the timer name is 129 bytes, over 128"},
        {R"(p:set_timer("campaign:31", 1))", "timer names starting with 'campaign:' belong to delayed campaigns"},
        {R"(p:cancel_timer("quiet:31"))", "timer names starting with 'quiet:' belong to delayed campaigns"},
        {R"(p:set_timer("a", 1.5))", "the due time must be an integer (event time in ms), not number"},
        {R"(p:set_timer("a", "soon"))", "the due time must be an integer (event time in ms), not string"},
        {R"(p:set_timer("a", -1))", "due time -1 is outside [0, 4611686018427387903]"},
        {R"(p:set_timer("a", 4611686018427387904))", "outside [0, 4611686018427387903]"},
        {R"(p:set_timer("a", 1, "x"))", "data must be a table, not string"},
        {R"(p:set_timer("a", 1, { f = print }))", "profile:set_timer('a'): "},
    };
    for (const auto& [call, expected] : cases) {
        harness h{fmt::format(R"(crm.updater{{ id = "t", on = "go", fn = function(e, p) {} end }})", call)};
        h.driver.pipe(ev("go", t0));
        const auto error = h.stat("t").last_error;
        EXPECT_NE(error.find("timers.lua:1: "), std::string::npos) << call << ": " << error;
        EXPECT_NE(error.find(expected), std::string::npos) << call << ": " << error;
        EXPECT_TRUE(h.profile().timers().empty()) << call;
    }
}

TEST(lua_timers, timer_data_is_bounded_by_max_value_bytes) {
    harness h{R"(crm.updater{ id = "t", on = "go", fn = function(e, p) p:set_timer("a", 1, { s = string.rep("x", 100) }) end })",
              rtcrm::profile_limits{.max_value_bytes = 50}};
    h.driver.pipe(ev("go", t0));
    EXPECT_NE(h.stat("t").last_error.find("exceeds max_value_bytes (50)"), std::string::npos) << h.stat("t").last_error;
    EXPECT_TRUE(h.profile().timers().empty());
}

// --- delayed campaigns: arming and cancelling ---

constexpr std::string_view win_back = R"(
crm.updater{ id = "logins", on = "login", fn = function(e, p) p:incr("logins") end }
crm.campaign{ id = 31, on = "login", after = "3d", unless = "login",
  when = function(e, p) return e.data.skip ~= true end,
  content = { offer = "comeback-pack" } }
crm.campaign{ id = 32, on = "level_up", after = "2h", unless = {"purchase", "refund"},
  when = function(e, p) return (e.data.level or 10) >= 10 end,
  content = { offer = "booster" } }
)";

TEST(lua_timers, an_on_event_arms_the_campaign_timer_and_a_later_one_re_arms_it) {
    harness h{std::string{win_back}};
    h.driver.pipe(ev("login", t0));
    const auto* t = h.timer("campaign:31");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->due, t0 + 3 * day);
    EXPECT_EQ(t->event_id, fmt::format("e-1-{}", t0));
    EXPECT_EQ(t->ref, fmt::format("e:e-1-{}", t0));
    EXPECT_EQ(t->data, R"({"type":"login"})");
    // Both `unless` and `on`: cancelled, then armed again from this login.
    h.driver.pipe(ev("login", t0 + day));
    EXPECT_EQ(h.timer("campaign:31")->due, t0 + 4 * day);
    EXPECT_EQ(h.stat("31").timers_armed, 2U);
    EXPECT_EQ(h.stat("31").timers_cancelled, 1U);
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
}

TEST(lua_timers, an_on_event_whose_when_fails_leaves_the_pending_timer) {
    harness h{std::string{win_back}};
    h.driver.pipe(ev("level_up", t0));
    h.driver.pipe(ev("login", t0 + 1));
    h.driver.pipe(ev("login", t0 + 2, 1, R"({"skip":true})"));  // cancels (unless), does not arm
    EXPECT_EQ(h.timer("campaign:31"), nullptr);
    // `when` fails on an event that is only `on`: campaign 32's timer stays as it is.
    h.driver.pipe(ev("level_up", t0 + 3, 1, R"({"level":3})"));
    EXPECT_EQ(h.timer("campaign:32")->due, t0 + 2 * hour);
    EXPECT_EQ(h.stat("32").timers_armed, 1U);
}

TEST(lua_timers, an_unless_event_before_the_due_time_cancels_and_one_at_it_does_not) {
    harness h{std::string{win_back}};
    h.driver.pipe(ev("level_up", t0));
    h.driver.pipe(ev("purchase", t0 + 2 * hour));  // at the due time: the timer has fired by then
    EXPECT_EQ(h.timer("campaign:32"), nullptr);
    EXPECT_EQ(h.stat("32").timers_fired, 1U);
    h.driver.pipe(ev("level_up", t0 + 3 * hour));
    h.driver.pipe(ev("refund", t0 + 5 * hour - 1));  // the last instant before the due time
    EXPECT_EQ(h.timer("campaign:32"), nullptr);
    EXPECT_EQ(h.stat("32").timers_cancelled, 1U);
    EXPECT_EQ(h.stat("32").timers_armed, 2U);
}

TEST(lua_timers, a_killed_campaign_arms_nothing_but_its_unless_still_cancels) {
    harness h{std::string{win_back}};
    h.driver.pipe(ev("level_up", t0));
    h.engine->disable("32");
    h.driver.pipe(ev("purchase", t0 + 1));
    EXPECT_EQ(h.timer("campaign:32"), nullptr);
    h.driver.pipe(ev("level_up", t0 + 2));
    EXPECT_EQ(h.timer("campaign:32"), nullptr);
    EXPECT_EQ(h.stat("32").suppressed_kill, 1U);
}

TEST(lua_timers, a_delayed_campaign_counts_against_max_timers) {
    harness h{R"(
crm.updater{ id = "fill", on = "fill", fn = function(e, p) p:set_timer("a", e.ts + 100); p:set_timer("b", e.ts + 100) end }
crm.campaign{ id = 7, on = "go", after = "1h" }
)",
              rtcrm::profile_limits{.max_timers = 2}};
    h.driver.pipe(ev("fill", t0));
    h.driver.pipe(ev("go", t0 + 1));
    EXPECT_EQ(h.timer("campaign:7"), nullptr);
    EXPECT_EQ(h.stat("7").errors, 1U);
    EXPECT_NE(h.stat("7").last_error.find("timers.lua:3: campaign '7': the player holds 2 pending timers, the profile "
                                          "limit max_timers (2)"),
              std::string::npos)
        << h.stat("7").last_error;
}

TEST(lua_timers, active_limits_the_events_a_campaign_sees) {
    harness h{fmt::format(R"(
crm.campaign{{ id = 40, on = "fight", active = {{ from = "2025-11-22T08:26:40Z", to = {} }} }}
crm.campaign{{ id = 41, on = "fight", after = "1h", active = {{ to = {} }} }}
)",
                          t0 + 10, t0 + 10)};
    // 2025-11-22T08:26:40Z is t0.
    h.driver.pipe(ev("fight", t0 - 1));
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    h.driver.pipe(ev("fight", t0));
    EXPECT_EQ(h.driver.read(rtcrm::stream::main).size(), 1U);
    h.driver.pipe(ev("fight", t0 + 9));
    EXPECT_EQ(h.driver.read(rtcrm::stream::main).size(), 1U);
    EXPECT_EQ(h.timer("campaign:41")->due, t0 + 9 + hour);
    h.driver.pipe(ev("fight", t0 + 10, 2));
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    EXPECT_EQ(h.timer("campaign:41", 2), nullptr);
}

// --- load errors ---

TEST(lua_timers, bad_campaign_timing_fields_are_load_errors_with_their_position) {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {R"(after = "0s")", "timers.lua:2: campaign '1': after must be a duration greater than 0"},
        {R"(after = "soon")", "timers.lua:2: campaign '1': after must be a duration greater than 0"},
        {R"(after = 5)", "timers.lua:2: campaign '1': after must be a duration greater than 0"},
        {R"(unless = "login")", "timers.lua:2: campaign '1': `unless` needs `after`"},
        {R"(after = "1h", unless = { 3 })", "timers.lua:2: campaign '1': `unless` must be an event type"},
        {R"(active = "always")", "timers.lua:2: campaign '1': `active` must be a table"},
        {R"(active = { from = "yesterday" })", "timers.lua:2: campaign '1': active.from must be a time"},
        {R"(active = { to = "2026-02-30T00:00:00Z" })", "timers.lua:2: campaign '1': active.to must be a time"},
        {R"(active = { from = 10, to = 10 })", "timers.lua:2: campaign '1': active.from (10) must be before active.to (10)"},
        {R"(quiet = "night")", "timers.lua:2: campaign '1': `quiet` must be a table"},
    };
    for (const auto& [fields, expected] : cases) {
        const auto error = load_error(fmt::format("\ncrm.campaign{{ id = 1, on = \"login\", {} }}", fields));
        EXPECT_NE(error.find(expected), std::string::npos) << fields << ": " << error;
    }
}

TEST(lua_timers, active_takes_iso_8601_and_milliseconds) {
    EXPECT_EQ(load_error(R"(crm.campaign{ id = 1, on = "x", active = { from = "2026-02-10T00:00:00Z", to = "2026-02-15T00:00:00.500Z" } })"), "");
    EXPECT_EQ(load_error(R"(crm.campaign{ id = 1, on = "x", active = { from = 0 } })"), "");
}

}  // namespace

namespace {

// --- quiet hours ---

// 2025-11-22T08:26:40Z is t0: 22:30 UTC that day is t0 + 14h 3m 20s.
constexpr std::int64_t utc_2230 = t0 + 14 * hour + 3 * 60'000 + 20'000;
constexpr std::int64_t next_0800 = utc_2230 + 9 * hour + 30 * 60'000;

constexpr std::string_view quiet_script = R"(
crm.updater{ id = "tz", on = "tz", fn = function(e, p) p:set("tz", e.data.tz) end }
crm.campaign{ id = 40, on = "fight", content = { offer = "x" },
  quiet = { from = "22:00", to = "08:00", tz = "tz", default_tz = "UTC", defer = true } }
crm.campaign{ id = 41, on = "fight", quiet = { from = "22:00", to = "08:00", defer = false } }
)";

TEST(lua_timers, a_trigger_inside_quiet_hours_is_deferred_to_their_end_or_dropped) {
    harness h{std::string{quiet_script}};
    h.driver.pipe(ev("fight", utc_2230 - hour));  // 21:30 UTC: both fire
    EXPECT_EQ(h.driver.read(rtcrm::stream::main).size(), 2U);
    h.driver.pipe(ev("fight", utc_2230));  // 22:30 UTC: 40 waits until 08:00, 41 drops it
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    const auto* t = h.timer("quiet:40");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->due, next_0800);
    EXPECT_EQ(t->data, R"({"type":"fight"})");
    EXPECT_EQ(t->event_id, fmt::format("e-1-{}", utc_2230));
    EXPECT_EQ(h.timer("quiet:41"), nullptr);
    EXPECT_EQ(h.stat("40").deferred_quiet, 1U);
    EXPECT_EQ(h.stat("41").dropped_quiet, 1U);
}

TEST(lua_timers, quiet_hours_follow_the_zone_in_the_players_attribute) {
    harness h{std::string{quiet_script}};
    // 22:30 UTC is 17:30 in New York: not quiet there.
    h.driver.pipe(ev("tz", utc_2230 - 1, 1, R"({"tz":"America/New_York"})"));
    h.driver.pipe(ev("fight", utc_2230));
    EXPECT_EQ(h.driver.read(rtcrm::stream::main).size(), 1U);  // 40 fires; 41 has no tz: UTC, dropped
    // An unknown zone falls back to default_tz (UTC): quiet.
    h.driver.pipe(ev("tz", utc_2230 + 1, 2, R"({"tz":"Mars/Olympus"})"));
    h.driver.pipe(ev("fight", utc_2230 + 2, 2));
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    EXPECT_NE(h.timer("quiet:40", 2), nullptr);
}

TEST(lua_timers, bad_quiet_fields_are_load_errors_with_their_position) {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {R"(quiet = { to = "08:00" })", "timers.lua:2: campaign '1': quiet.from must be a local time of day"},
        {R"(quiet = { from = "22:00", to = "8h" })", "timers.lua:2: campaign '1': quiet.to: "},
        {R"(quiet = { from = "22:00", to = "08:00", default_tz = "Mars/Olympus" })", "timers.lua:2: campaign '1': quiet.default_tz: "},
        {R"(quiet = { from = "22:00", to = "08:00", tz = 3 })", "timers.lua:2: campaign '1': quiet.tz must name the profile attribute"},
        {R"(quiet = { from = "22:00", to = "08:00", defer = "yes" })", "timers.lua:2: campaign '1': quiet.defer must be true"},
        {R"(quiet = { from = "22:00", to = "22:00" })", "timers.lua:2: campaign '1': quiet.from and quiet.to are equal"},
    };
    for (const auto& [fields, expected] : cases) {
        const auto error = load_error(fmt::format("\ncrm.campaign{{ id = 1, on = \"login\", {} }}", fields));
        EXPECT_NE(error.find(expected), std::string::npos) << fields << ": " << error;
    }
}

}  // namespace

namespace {

TEST(lua_timers, a_campaigns_timers_rank_by_its_registration_order) {
    const auto engine = load(std::string{win_back} + R"(crm.campaign{ id = "late", on = "x" })");
    const auto bolt = engine->make_bolt_factory()(rtcrm::bolt_placement{});
    EXPECT_EQ(bolt->timer_rank("campaign:31"), 0U);
    EXPECT_EQ(bolt->timer_rank("campaign:32"), 1U);
    EXPECT_EQ(bolt->timer_rank("quiet:late"), 2U);
    EXPECT_EQ(bolt->timer_rank("campaign:99"), std::nullopt);  // no such campaign
    EXPECT_EQ(bolt->timer_rank("remind"), std::nullopt);       // a script's own timer
}

}  // namespace

namespace {

// --- firing: the runtime's clock (topology_test_driver::advance_time) ---

rapidjson::Document json(const std::string& text) {
    rapidjson::Document d;
    d.Parse(text.c_str());
    return d;
}

constexpr std::string_view fired_win_back = R"(
crm.updater{ id = "logins", on = "login", fn = function(e, p) p:incr("logins") end }
crm.campaign{ id = 31, on = "login", after = "3d", unless = "login",
  segment = function(p) return (p:get("logins") or 0) >= 2 end,
  cap = { per_player = 1, every = "7d" }, content = { offer = "comeback-pack" } }
crm.campaign{ id = 32, on = "level_up", after = "2h", unless = "purchase", content = { offer = "booster" } }
crm.campaign{ id = 33, on = "level_up", after = "2h", content = { offer = "second" } }
)";

TEST(lua_timer_firing, a_delayed_campaign_fires_at_the_due_time_named_by_its_arming_event) {
    harness h{std::string{fired_win_back}};
    h.driver.pipe(ev("login", t0));
    h.driver.pipe(ev("login", t0 + 1));
    const std::int64_t due = t0 + 1 + 3 * day;
    h.driver.advance_time(due - 1);
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    h.driver.advance_time(due);
    const auto out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    const auto t = json(out[0]);
    EXPECT_EQ(t["campaign_id"].GetInt(), 31);
    EXPECT_STREQ(t["content"]["offer"].GetString(), "comeback-pack");
    EXPECT_EQ(t["event_id"].GetString(), fmt::format("e-1-{}", t0 + 1));
    EXPECT_STREQ(t["event_type"].GetString(), "login");
    EXPECT_EQ(t["ts"].GetInt64(), due);
    EXPECT_EQ(t["trigger_id"].GetString(), fmt::format("31:1:t:{}:campaign%3A31:e:e-1-{}", due, t0 + 1));
    const auto p = h.profile();
    EXPECT_EQ(p.timer("campaign:31"), nullptr);
    ASSERT_NE(p.triggers("31"), nullptr);
    EXPECT_EQ(p.triggers("31")->recent.back(), due);  // recorded at the due time
    EXPECT_EQ(h.stat("31").timers_fired, 1U);
    EXPECT_EQ(h.stat("31").triggers, 1U);
}

TEST(lua_timer_firing, the_segment_and_the_cap_are_checked_at_the_due_time) {
    harness h{std::string{fired_win_back}};
    h.driver.pipe(ev("login", t0));  // one login: outside the segment when it fires
    h.driver.advance_time(t0 + 3 * day);
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    EXPECT_EQ(h.stat("31").timers_fired, 1U);
    h.driver.pipe(ev("login", t0 + 3 * day + 1));
    h.driver.advance_time(t0 + 6 * day + 1);
    EXPECT_EQ(h.driver.read(rtcrm::stream::main).size(), 1U);
    h.driver.pipe(ev("login", t0 + 6 * day + 2));  // within 7 days of the last firing: capped
    h.driver.advance_time(t0 + 9 * day + 2);
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    EXPECT_EQ(h.stat("31").suppressed_cap, 1U);
}

TEST(lua_timer_firing, an_unless_event_at_due_minus_one_cancels_and_one_at_due_does_not) {
    harness h{std::string{fired_win_back}};
    h.driver.pipe(ev("level_up", t0));
    h.driver.pipe(ev("purchase", t0 + 2 * hour - 1));
    h.driver.pipe(ev("level_up", t0 + 3 * hour, 2));
    h.driver.pipe(ev("purchase", t0 + 5 * hour, 2));  // the timer due then fires first
    h.driver.advance_time(t0 + day);
    std::vector<std::string> fired;
    for (const auto& body : h.driver.read(rtcrm::stream::main)) {
        const auto t = json(body);
        fired.push_back(fmt::format("{}/{}", t["campaign_id"].GetInt(), t["player_id"].GetInt()));
    }
    EXPECT_EQ(fired, (std::vector<std::string>{"33/1", "32/2", "33/2"}));
    EXPECT_EQ(h.stat("32").timers_cancelled, 1U);
}

TEST(lua_timer_firing, campaigns_due_at_the_same_time_fire_in_registration_order) {
    harness h{std::string{fired_win_back}};
    h.driver.pipe(ev("level_up", t0));
    h.driver.advance_time(t0 + 2 * hour);
    const auto out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(json(out[0])["campaign_id"].GetInt(), 32);
    EXPECT_EQ(json(out[1])["campaign_id"].GetInt(), 33);
}

TEST(lua_timer_firing, a_login_at_the_due_time_comes_after_the_firing_and_arms_a_new_wait) {
    harness h{std::string{fired_win_back}};
    h.driver.pipe(ev("login", t0));
    h.driver.pipe(ev("login", t0 + 1));
    h.driver.pipe(ev("login", t0 + 1 + 3 * day));
    EXPECT_EQ(h.driver.read(rtcrm::stream::main).size(), 1U);
    EXPECT_EQ(h.timer("campaign:31")->due, t0 + 1 + 6 * day);
}

TEST(lua_timer_firing, a_campaign_removed_by_a_reload_fires_nothing) {
    harness h{std::string{fired_win_back}};
    h.driver.pipe(ev("login", t0));
    h.driver.pipe(ev("login", t0 + 1));
    ASSERT_TRUE(h.engine->load({{"timers.lua", "crm.updater{ id = \"x\", on = \"login\", fn = function() end }"}}));
    h.driver.advance_time(t0 + 4 * day);
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    EXPECT_EQ(h.engine->orphaned_timers(), 1U);
    EXPECT_TRUE(h.profile().timers().empty());
}

TEST(lua_timer_firing, a_changed_after_applies_to_waits_armed_after_the_reload) {
    harness h{std::string{fired_win_back}};
    h.driver.pipe(ev("login", t0));
    std::string shorter{fired_win_back};
    shorter.replace(shorter.find("\"3d\""), 4, "\"1d\"");
    ASSERT_TRUE(h.engine->load({{"timers.lua", shorter}}));
    h.driver.pipe(ev("level_up", t0 + 1));  // the shard switches sets at this batch
    EXPECT_EQ(h.timer("campaign:31")->due, t0 + 3 * day);
    h.driver.pipe(ev("login", t0 + 2, 2));
    EXPECT_EQ(h.timer("campaign:31", 2)->due, t0 + 2 + day);
}

TEST(lua_timer_firing, outside_active_a_wait_sends_nothing) {
    harness h{fmt::format(R"(crm.campaign{{ id = 50, on = "login", after = "1h", active = {{ to = {} }} }})", t0 + hour)};
    h.driver.pipe(ev("login", t0 - 1));  // due at t0 + 1h - 1: inside
    h.driver.pipe(ev("login", t0, 2));   // due at t0 + 1h: at `to`, dropped
    h.driver.advance_time(t0 + 2 * hour);
    const auto out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(json(out[0])["player_id"].GetInt(), 1);
    EXPECT_EQ(h.stat("50").dropped_inactive, 1U);
    EXPECT_EQ(h.stat("50").timers_fired, 2U);
}

TEST(lua_timer_firing, a_dry_run_delayed_campaign_fires_to_the_shadow_stream_with_its_own_history) {
    harness h{R"(crm.campaign{ id = 60, on = "login", after = "1h", dry_run = true, cap = { per_player = 1 } })"};
    h.driver.pipe(ev("login", t0));
    h.driver.advance_time(t0 + hour);
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    const auto shadow = h.driver.read(rtcrm::stream::shadow);
    ASSERT_EQ(shadow.size(), 1U);
    EXPECT_EQ(json(shadow[0])["trigger_id"].GetString(),
              fmt::format("60:1:t:{}:campaign%3A60:e:e-1-{}:dry_run", t0 + hour, t0));
    EXPECT_NE(h.profile().triggers("dry_run:60"), nullptr);
    EXPECT_EQ(h.profile().triggers("60"), nullptr);
}

TEST(lua_timer_firing, handlers_see_timer_events_and_star_does_not_match_them) {
    harness h{R"(
crm.updater{ id = "all", on = "*", fn = function(e, p) p:incr("seen") end }
crm.updater{ id = "arm", on = "login", fn = function(e, p) p:set_timer("remind", e.ts + 10, { n = 7 }) end }
crm.updater{ id = "remind", on = "timer:remind", fn = function(e, p)
  p:set("got", string.format("%s %d %s %d", e.type, e.ts, e.id, e.data.n))
  if p:count("again") == 0 then p:incr("again", 1, "1d"); p:set_timer("remind", e.ts + 5) end
end }
crm.campaign{ id = 70, on = "timer:remind" }
)"};
    h.driver.pipe(ev("login", t0));
    h.driver.advance_time(t0 + 10);
    auto p = h.profile();
    EXPECT_EQ(text(p, "got"), fmt::format("timer:remind {} e-1-{} 7", t0 + 10, t0));
    EXPECT_EQ(std::get<std::int64_t>(*p.get("seen")), 1);  // the login only
    EXPECT_EQ(p.timer("remind")->due, t0 + 15);  // re-armed by its own handler
    EXPECT_EQ(p.timer("remind")->ref, fmt::format("t:{}:remind:e:e-1-{}", t0 + 10, t0));
    const auto out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_STREQ(json(out[0])["event_type"].GetString(), "timer:remind");
    EXPECT_EQ(json(out[0])["trigger_id"].GetString(), fmt::format("70:1:t:{}:remind:e:e-1-{}", t0 + 10, t0));
    h.driver.advance_time(t0 + 15);
    EXPECT_EQ(json(h.driver.read(rtcrm::stream::main).at(0))["trigger_id"].GetString(),
              fmt::format("70:1:t:{}:remind:t:{}:remind:e:e-1-{}", t0 + 15, t0 + 10, t0));
}

TEST(lua_timer_firing, a_deferred_trigger_goes_out_when_the_quiet_hours_end) {
    harness h{std::string{quiet_script}};
    h.driver.pipe(ev("fight", utc_2230));
    h.driver.advance_time(next_0800 - 1);
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    h.driver.advance_time(next_0800);
    const auto out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    const auto t = json(out[0]);
    EXPECT_EQ(t["campaign_id"].GetInt(), 40);
    EXPECT_STREQ(t["event_type"].GetString(), "fight");
    EXPECT_EQ(t["ts"].GetInt64(), next_0800);
    EXPECT_EQ(t["trigger_id"].GetString(), fmt::format("40:1:t:{}:quiet%3A40:e:e-1-{}", next_0800, utc_2230));
    EXPECT_EQ(h.profile().triggers("40")->recent.back(), next_0800);
}

}  // namespace

namespace {

TEST(lua_timer_firing, deferred_triggers_go_out_at_eight_in_berlin_across_both_daylight_saving_changes) {
    harness h{std::string{quiet_script}};
    // 00:00 CET on 29 March 2026, the night the clocks go forward: 08:00 CEST is 06:00 UTC.
    h.driver.pipe(ev("tz", 1774738800000 - 2, 1, R"({"tz":"Europe/Berlin"})"));
    h.driver.pipe(ev("fight", 1774738800000));
    EXPECT_EQ(h.timer("quiet:40")->due, 1774764000000);
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());  // 41 (UTC, defer = false) dropped it
    h.driver.advance_time(1774764000000);
    auto out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(json(out[0])["ts"].GetInt64(), 1774764000000);
    // 01:00 CEST on 25 October 2026, the night the clocks go back: 08:00 CET is 07:00 UTC.
    h.driver.pipe(ev("tz", 1792882800000 - 2, 2, R"({"tz":"Europe/Berlin"})"));
    h.driver.pipe(ev("fight", 1792882800000, 2));
    EXPECT_EQ(h.timer("quiet:40", 2)->due, 1792911600000);
    h.driver.read(rtcrm::stream::main);
    h.driver.advance_time(1792911600000);
    out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(json(out[0])["ts"].GetInt64(), 1792911600000);
}

}  // namespace
