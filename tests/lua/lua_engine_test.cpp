#include <rtcrm/core/callback_sink.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/ndjson_source.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/test_driver.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include "support/lua_engines.hpp"
#include "support/result_assertions.hpp"
#include "support/test_components.hpp"

#include <rapidjson/document.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace {

using namespace std::chrono_literals;
using rtcrm::testing::succeeded;
constexpr std::int64_t t0 = 1'763'800'000'000;
constexpr std::int64_t day = 86'400'000;

std::string ev(std::int64_t player, std::string_view type, std::int64_t ts, std::string_view data = "{}",
               std::string_view id = "") {
    return fmt::format(R"({{"id":"{}","player_id":{},"type":"{}","ts":{},"data":{}}})",
                       id.empty() ? fmt::format("e-{}-{}", player, ts) : std::string{id}, player, type, ts, data);
}
std::string loss(std::int64_t player, std::int64_t ts) { return ev(player, "fight", ts, R"({"result":"loss"})"); }
std::string win(std::int64_t player, std::int64_t ts) { return ev(player, "fight", ts, R"({"result":"win"})"); }

using rtcrm::test::engine_with;

struct harness {
    std::shared_ptr<rtcrm::lua_engine> engine;
    rtcrm::topology_test_driver driver;

    explicit harness(std::shared_ptr<rtcrm::lua_engine> e, std::uint32_t shards = 2)
        : engine(std::move(e)), driver(make(engine, shards)) {}

    static rtcrm::topology make(const std::shared_ptr<rtcrm::lua_engine>& engine, std::uint32_t shards) {
        rtcrm::topology t;
        t.add_shard_bolt(engine->make_bolt_factory()).with_options({.shards = shards});
        return t;
    }

    const rtcrm::handler_stats& stat(std::string_view id) {
        stats_ = engine->stats();
        for (const auto& s : stats_) {
            if (s.id == id) {
                return s;
            }
        }
        throw std::runtime_error("no handler " + std::string{id});
    }
    std::vector<rtcrm::handler_stats> stats_;
};

rapidjson::Document parse(const std::string& json) {
    rapidjson::Document d;
    d.Parse(json.c_str());
    return d;
}

TEST(lua_engine, bob_gets_his_tank_offer_after_three_lost_fights) {
    harness h{std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = "lua/examples"})};
    h.driver.pipe(ev(4242, "login", t0, R"({"platform":"ios"})"));
    h.driver.pipe(ev(4242, "level_up", t0 + 1, R"({"level":12})"));
    h.driver.pipe(loss(4242, t0 + 2));
    h.driver.pipe(loss(4242, t0 + 3));
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    h.driver.pipe(ev(4242, "fight", t0 + 4, R"({"result":"loss"})", "e-bob-3"));
    const auto triggers = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(triggers.size(), 1U);
    const auto t = parse(triggers[0]);
    ASSERT_FALSE(t.HasParseError()) << triggers[0];
    EXPECT_EQ(t["campaign_id"].GetInt(), 3);
    EXPECT_EQ(t["player_id"].GetInt64(), 4242);
    EXPECT_STREQ(t["content"]["offer"].GetString(), "tanks-10");
    EXPECT_STREQ(t["content"]["markets"][0].GetString(), "de");
    EXPECT_STREQ(t["event_id"].GetString(), "e-bob-3");
    EXPECT_STREQ(t["event_type"].GetString(), "fight");
    EXPECT_EQ(t["ts"].GetInt64(), t0 + 4);
    EXPECT_FALSE(t["dry_run"].GetBool());
    EXPECT_STREQ(t["trigger_id"].GetString(), "3:4242:e:e-bob-3");
    auto p = h.driver.profile_of(rtcrm::player_key{4242});
    EXPECT_EQ(std::get<std::int64_t>(*p->get("logins")), 1);
    EXPECT_EQ(std::get<std::int64_t>(*p->get("level")), 12);
    EXPECT_EQ(p->count("fights_lost", day, t0 + 4), 3);
}

TEST(lua_engine, payers_and_high_levels_are_outside_the_segment) {
    harness h{std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = "lua/examples"})};
    h.driver.pipe(ev(1, "purchase", t0, R"({"item":"gems-100","amount":4.99,"currency":"EUR"})"));
    h.driver.pipe(ev(2, "level_up", t0, R"({"level":150})"));
    for (int i = 1; i <= 4; ++i) {
        h.driver.pipe(loss(1, t0 + i));
        h.driver.pipe(loss(2, t0 + i));
    }
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
}

TEST(lua_engine, a_win_resets_the_streak) {
    harness h{std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = "lua/examples"})};
    h.driver.pipe(loss(7, t0));
    h.driver.pipe(loss(7, t0 + 1));
    h.driver.pipe(win(7, t0 + 2));
    h.driver.pipe(loss(7, t0 + 3));
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    EXPECT_EQ(std::get<std::int64_t>(*h.driver.profile_of(rtcrm::player_key{7})->get("loss_streak")), 1);
}

TEST(lua_engine, event_fields_are_readable_at_any_depth) {
    harness h{engine_with({{"read.lua", R"(
crm.updater{ id = "read", on = "deep", fn = function(e, p)
  p:set("type", e.type); p:set("player", e.player); p:set("ts", e.ts); p:set("id", e.id)
  p:set("game", e.game); p:set("x", e.data.a.b[2].c); p:set("n", #e.data.a.b); p:set("missing", e.data.nope)
  p:set("float", e.data.f); p:set("flag", e.data.t)
end })"}})};
    h.driver.pipe(R"({"id":"e9","player_id":5,"type":"deep","ts":77,"game":"foe","data":{"a":{"b":[{"c":1},{"c":"two"}]},"f":1.5,"t":true}})");
    auto p = *h.driver.profile_of(rtcrm::player_key{5});
    EXPECT_EQ(std::get<std::string>(*p.get("type")), "deep");
    EXPECT_EQ(std::get<std::int64_t>(*p.get("player")), 5);
    EXPECT_EQ(std::get<std::int64_t>(*p.get("ts")), 77);
    EXPECT_EQ(std::get<std::string>(*p.get("id")), "e9");
    EXPECT_EQ(std::get<std::string>(*p.get("game")), "foe");
    EXPECT_EQ(std::get<std::string>(*p.get("x")), "two");
    EXPECT_EQ(std::get<std::int64_t>(*p.get("n")), 2);
    EXPECT_EQ(p.get("missing"), nullptr);
    EXPECT_DOUBLE_EQ(std::get<double>(*p.get("float")), 1.5);
    EXPECT_TRUE(std::get<bool>(*p.get("flag")));
}

TEST(lua_engine, profile_api_get_set_incr_count_recent_last_trigger) {
    harness h{engine_with({{"api.lua", R"(
crm.updater{ id = "api", on = "probe", fn = function(e, p)
  assert(p:get("never") == nil, "unset is nil")
  local first = p:get("c") == nil
  local one, three = p:incr("c"), p:incr("c", 2)
  if first then assert(one == 1 and three == 3, "incr starts from 0") end
  p:set("t", { a = 1, list = {1, 2} })
  local t = p:get("t")
  assert(t.a == 1 and t.list[2] == 2, "tables round-trip")
  p:set("gone", 1); p:set("gone", nil); assert(p:get("gone") == nil, "set nil removes")
  p:incr("lost", 1, "1d")
  assert(p:get("lost") == p:count("lost"), "get falls back to a counter's total")
  p:set("count_1d", p:count("lost", "1d")); p:set("count_all", p:count("lost"))
  p:set("count_1w", p:count("lost", "1w"))  -- the grammar of rtcrm/core/duration.hpp, as in config files
  local r = p:recent("probe", 5)
  p:set("recent_n", #r)
  if #r > 0 then p:set("recent_newest", r[1].id) end
  p:set("last", p:last_trigger(9))
  p:set("me", p:player())
end })"}})};
    h.driver.pipe(ev(1, "probe", t0, "{}", "p1"));
    h.driver.pipe(ev(1, "probe", t0 + 2 * day, "{}", "p2"));
    EXPECT_EQ(h.stat("api").errors, 0U) << h.stat("api").last_error;
    auto p = *h.driver.profile_of(rtcrm::player_key{1});
    EXPECT_EQ(std::get<std::int64_t>(*p.get("c")), 6);  // +1 and +2 per event
    EXPECT_EQ(std::get<std::int64_t>(*p.get("count_1d")), 1);   // the first day's loss is outside the window
    EXPECT_EQ(std::get<std::int64_t>(*p.get("count_all")), 2);
    EXPECT_EQ(std::get<std::int64_t>(*p.get("count_1w")), 2);
    EXPECT_EQ(std::get<std::int64_t>(*p.get("recent_n")), 1);   // history holds the previous probe
    EXPECT_EQ(std::get<std::string>(*p.get("recent_newest")), "p1");
    EXPECT_EQ(p.get("last"), nullptr);
    EXPECT_EQ(std::get<std::int64_t>(*p.get("me")), 1);
}

TEST(lua_engine, updaters_run_in_registration_order_before_campaigns) {
    harness h{engine_with({{"order.lua", R"(
crm.updater{ id = "a", on = "x", fn = function(e, p) p:set("trace", (p:get("trace") or "") .. "a") end }
crm.updater{ id = "any", on = "*", fn = function(e, p) p:set("trace", (p:get("trace") or "") .. "*") end }
crm.updater{ id = "b", on = {"x", "y"}, fn = function(e, p) p:set("trace", (p:get("trace") or "") .. "b") end }
crm.campaign{ id = "c", on = "x", segment = function(p) return p:get("trace") == "a*b" end }
)"}})};
    h.driver.pipe(ev(1, "x", t0));
    EXPECT_EQ(std::get<std::string>(*h.driver.profile_of(rtcrm::player_key{1})->get("trace")), "a*b");
    EXPECT_EQ(h.driver.read(rtcrm::stream::main).size(), 1U);
    h.driver.pipe(ev(2, "unknown-type", t0));
    EXPECT_EQ(std::get<std::string>(*h.driver.profile_of(rtcrm::player_key{2})->get("trace")), "*");
}

const char* capped = R"(
crm.campaign{ id = 1, on = "x", cap = { per_player = 2, every = "1d" } }
crm.campaign{ id = 2, on = "x", cap = { per_player = 1 } }
)";

TEST(lua_engine, frequency_caps_count_in_event_time) {
    harness h{engine_with({{"cap.lua", capped}})};
    for (int i = 0; i < 5; ++i) {
        h.driver.pipe(ev(1, "x", t0 + i));
    }
    auto out = h.driver.read(rtcrm::stream::main);
    EXPECT_EQ(std::count_if(out.begin(), out.end(), [](auto& s) { return s.find(R"("campaign_id":1,)") != std::string::npos; }), 2);
    EXPECT_EQ(std::count_if(out.begin(), out.end(), [](auto& s) { return s.find(R"("campaign_id":2,)") != std::string::npos; }), 1);
    EXPECT_EQ(h.stat("1").suppressed_cap, 3U);
    // A day of event time later, the daily cap allows two more; the lifetime cap none.
    h.driver.pipe(ev(1, "x", t0 + day + 10));
    out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_NE(out[0].find(R"("campaign_id":1,)"), std::string::npos);
    EXPECT_EQ(h.driver.profile_of(rtcrm::player_key{1})->triggers("1")->total, 3);
}

TEST(lua_engine, the_rate_limit_stops_a_flood) {
    harness h{engine_with({{"rate.lua", R"(crm.campaign{ id = "flood", on = "x", rate = { per_second = 2 } })"}}), 1};
    for (int i = 0; i < 200; ++i) {
        h.driver.pipe(ev(i + 1, "x", t0));
    }
    const auto fired = h.driver.read(rtcrm::stream::main).size();
    EXPECT_GE(fired, 2U);
    EXPECT_LE(fired, 10U);  // the burst plus what refills while the test runs
    EXPECT_EQ(h.stat("flood").suppressed_rate, 200U - fired);
}

TEST(lua_engine, dry_run_campaigns_go_to_the_shadow_stream_only) {
    harness h{engine_with({{"dry.lua", R"(crm.campaign{ id = 5, on = "x", dry_run = true, cap = { per_player = 1 } })"}})};
    h.driver.pipe(ev(1, "x", t0));
    h.driver.pipe(ev(1, "x", t0 + 1));
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    const auto shadow = h.driver.read(rtcrm::stream::shadow);
    ASSERT_EQ(shadow.size(), 1U);  // the shadow cap works like a live one
    EXPECT_TRUE(parse(shadow[0])["dry_run"].GetBool());
    EXPECT_STREQ(parse(shadow[0])["trigger_id"].GetString(), "5:1:e:e-1-1763800000000:dry_run");
    EXPECT_EQ(h.driver.profile_of(rtcrm::player_key{1})->triggers("5"), nullptr);  // live history untouched
    EXPECT_EQ(h.stat("5").shadow_triggers, 1U);
}

TEST(lua_engine, the_campaign_report_describes_the_current_set_in_registration_order) {
    auto engine = engine_with({{"a.lua", R"(crm.campaign{ id = 9, on = "x" }
crm.campaign{ id = "welcome", on = "x", dry_run = true })"},
                               {"b.lua", R"(crm.campaign{ id = 2, on = "x" })"}});
    auto ids = [&] {
        const auto doc = parse(engine->campaign_report());
        std::vector<std::pair<std::string, bool>> out;
        for (const auto& c : doc["campaigns"].GetArray()) {
            out.emplace_back(c["id"].GetString(), c["dry_run"].GetBool());
            EXPECT_EQ(c["triggers"].GetInt64(), 0);
            EXPECT_EQ(c["days"].Size(), 0U);
        }
        return out;
    };
    EXPECT_EQ(ids(), (std::vector<std::pair<std::string, bool>>{{"9", false}, {"welcome", true}, {"2", false}}));
    ASSERT_TRUE(succeeded(engine->remove_script("a.lua")));
    EXPECT_EQ(ids(), (std::vector<std::pair<std::string, bool>>{{"2", false}}));  // nothing counted for 9: gone
    // The admin API reads it through script_admin.
    const rtcrm::script_admin& admin = *engine;
    EXPECT_EQ(admin.campaign_report(rtcrm::campaign_report_scope::totals),
              R"({"campaigns":[{"id":"2","dry_run":false,"triggers":0,"shadow":0,"players":0,"suppressed":{"kill_switch":0,"cap":0,"fatigue":0,"rate":0,"quiet_hours":0,"schedule":0,"dry_run":0}}]})");
}

TEST(lua_engine, the_campaign_report_counts_what_the_shards_did_and_keeps_it_across_reloads) {
    harness h{engine_with({{"c.lua", R"(crm.campaign{ id = 4, on = "x", cap = { per_player = 1 } })"}})};
    h.driver.pipe(ev(1, "x", t0));
    h.driver.pipe(ev(2, "x", t0 + 1));
    h.driver.pipe(ev(1, "x", t0 + day));  // capped
    ASSERT_EQ(h.driver.read(rtcrm::stream::main).size(), 2U);
    ASSERT_TRUE(succeeded(h.engine->load({{"other.lua", R"(crm.campaign{ id = 5, on = "y" })"}})));
    const auto doc = parse(h.engine->campaign_report());
    ASSERT_EQ(doc["campaigns"].Size(), 2U);
    const auto& removed = doc["campaigns"][1];
    EXPECT_STREQ(removed["id"].GetString(), "4");
    EXPECT_EQ(removed["triggers"].GetInt64(), 2);
    EXPECT_EQ(removed["players"].GetInt64(), 2);
    EXPECT_EQ(removed["suppressed"]["cap"].GetInt64(), 1);
    ASSERT_EQ(removed["days"].Size(), 2U);
    EXPECT_EQ(removed["days"][0]["triggers"].GetInt64(), 2);
    EXPECT_EQ(removed["days"][1]["suppressed"]["cap"].GetInt64(), 1);
}

TEST(lua_engine, a_trigger_body_ends_with_its_trigger_id) {
    harness h{engine_with({{"c.lua", R"(crm.campaign{ id = "win back", on = "x", content = { n = 1 } })"}})};
    rtcrm::record rec{R"({"player_id":"ann","type":"x","ts":5})", std::nullopt, {}};
    rec.origin.partition = 3;
    rec.origin.offset = 17;
    h.driver.pipe(std::move(rec));
    const auto out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0], R"({"campaign_id":"win back","player_id":"ann","content":{"n":1},"event_id":null,)"
                      R"("event_type":"x","ts":5,"dry_run":false,"trigger_id":"win%20back:ann:o:0:3:17"})");
}

TEST(lua_engine, an_event_without_id_or_position_gets_a_trigger_id_from_its_bytes) {
    harness h{engine_with({{"c.lua", R"(crm.campaign{ id = 3, on = "fight" })"}})};
    rtcrm::record rec{R"({"player_id":42,"type":"fight","ts":5})", std::nullopt, {}};
    rec.origin.offset = -1;  // the runtime numbers it: a sequence number, not a position
    h.driver.pipe(std::move(rec));
    const auto out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    // 64-bit FNV-1a of the event's bytes, computed independently.
    EXPECT_STREQ(parse(out[0])["trigger_id"].GetString(), "3:42:h:0585bb7dc049867a");
}

TEST(lua_engine, submitted_events_without_an_id_get_trigger_ids_from_their_bytes) {
    auto engine = engine_with({{"c.lua", R"(crm.campaign{ id = 3, on = "fight" })"}});
    std::mutex m;
    std::vector<std::string> ids;
    rtcrm::topology t;
    t.add_shard_bolt(engine->make_bolt_factory())
        .add_sink(rtcrm::stream::main, std::make_shared<rtcrm::callback_sink>([&](std::span<const rtcrm::output> batch) {
            std::lock_guard lock(m);
            for (const auto& out : batch) {
                ids.push_back(parse(out.body)["trigger_id"].GetString());
            }
        }))
        .with_options({.shards = 1, .submit_capacity = 16});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    // The same bytes twice (a host sending again what it is unsure was taken), then others.
    const std::string bytes = R"({"player_id":42,"type":"fight","ts":5})";
    ASSERT_EQ(rt.submit(bytes, 5s), rtcrm::submit_status::accepted);
    ASSERT_EQ(rt.submit(bytes, 5s), rtcrm::submit_status::accepted);
    ASSERT_EQ(rt.submit(R"({"player_id":42,"type":"fight","ts":6})", 5s), rtcrm::submit_status::accepted);
    rt.stop();
    // Not the submit lane's sequence numbers, which a restart numbers afresh: the bytes'
    // 64-bit FNV-1a, computed independently for the first.
    ASSERT_EQ(ids.size(), 3U);
    EXPECT_EQ(ids[0], "3:42:h:0585bb7dc049867a");
    EXPECT_EQ(ids[1], ids[0]);
    EXPECT_NE(ids[2], ids[0]);
    EXPECT_TRUE(ids[2].starts_with("3:42:h:")) << ids[2];
}

TEST(lua_engine, events_read_again_after_a_restart_get_the_same_trigger_ids) {
    const auto path = std::filesystem::temp_directory_path() / fmt::format("rtcrm_trigger_ids_{}.ndjson", ::getpid());
    const std::string with_id = fmt::format(R"({{"id":"a-1","player_id":1,"type":"x","ts":{}}})", t0);
    const std::string without_id = fmt::format(R"({{"player_id":2,"type":"x","ts":{}}})", t0 + 1);
    {
        std::ofstream f(path);
        f << with_id << '\n' << without_id << '\n';
    }
    // A runtime without a durable store keeps no positions: each run reads the file from
    // its start again, as a restart after a crash re-reads what was not committed.
    auto run_once = [&] {
        auto engine = engine_with({{"c.lua", R"(crm.campaign{ id = 3, on = "x" }
                                               crm.campaign{ id = 4, on = "x", dry_run = true })"}});
        std::mutex m;
        std::vector<std::string> ids;
        auto collect = [&](std::span<const rtcrm::output> batch) {
            std::lock_guard lock(m);
            for (const auto& out : batch) {
                ids.push_back(parse(out.body)["trigger_id"].GetString());
            }
        };
        rtcrm::topology t;
        t.add_source(std::make_unique<rtcrm::ndjson_source>(rtcrm::ndjson_source_options{.path = path.string()}))
            .add_shard_bolt(engine->make_bolt_factory())
            .add_sink(rtcrm::stream::main, std::make_shared<rtcrm::callback_sink>(collect))
            .add_sink(rtcrm::stream::shadow, std::make_shared<rtcrm::callback_sink>(collect))
            .with_options({.shards = 2});
        rtcrm::runtime rt{std::move(t)};
        rt.run();
        std::sort(ids.begin(), ids.end());
        return ids;
    };
    const auto first = run_once();
    const auto second = run_once();
    std::filesystem::remove(path);
    const auto offset = with_id.size() + 1;  // the second line's byte offset
    const std::vector<std::string> expected{"3:1:e:a-1", fmt::format("3:2:o:0:0:{}", offset), "4:1:e:a-1:dry_run",
                                            fmt::format("4:2:o:0:0:{}:dry_run", offset)};
    EXPECT_EQ(first, expected);
    EXPECT_EQ(second, first);
}

TEST(lua_engine, the_kill_switch_takes_effect_at_the_next_event) {
    harness h{engine_with({{"k.lua", R"(crm.campaign{ id = 3, on = "x" })"}})};
    h.driver.pipe(ev(1, "x", t0));
    EXPECT_EQ(h.driver.read(rtcrm::stream::main).size(), 1U);
    h.engine->disable("3");
    EXPECT_TRUE(h.engine->disabled("3"));
    h.driver.pipe(ev(1, "x", t0 + 1));
    EXPECT_TRUE(h.driver.read(rtcrm::stream::main).empty());
    EXPECT_EQ(h.stat("3").suppressed_kill, 1U);
    h.engine->enable("3");
    h.driver.pipe(ev(1, "x", t0 + 2));
    EXPECT_EQ(h.driver.read(rtcrm::stream::main).size(), 1U);
}

// Each sandbox escape attempt fails inside the handler; the pipeline goes on.
class sandbox_escape : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(sandbox_escape, is_refused_with_an_error_naming_the_file_and_line) {
    const auto [code, expected] = GetParam();
    const auto script = fmt::format("crm.updater{{ id = \"escape\", on = \"x\", fn = function(e, p)\n  {}\nend }}\n"
                                    "crm.updater{{ id = \"after\", on = \"x\", fn = function(e, p) p:set(\"after\", true) end }}\n",
                                    code);
    harness h{engine_with({{"escape.lua", script}}, {.instruction_budget = 100'000, .memory_limit = 16 * 1024 * 1024})};
    h.driver.pipe(ev(1, "x", t0));
    const auto& s = h.stat("escape");
    EXPECT_EQ(s.errors, 1U) << code;
    // Memory errors carry no position in Lua: they name the handler's definition (line 1).
    const bool memory = std::string_view{expected} == "memory";
    EXPECT_NE(s.last_error.find(memory ? "escape.lua:1:" : "escape.lua:2:"), std::string::npos) << s.last_error;
    EXPECT_NE(s.last_error.find(expected), std::string::npos) << s.last_error;
    EXPECT_TRUE(std::get<bool>(*h.driver.profile_of(rtcrm::player_key{1})->get("after")));  // the next handler ran
    EXPECT_EQ(h.driver.stats().processed, 1U);
}

INSTANTIATE_TEST_SUITE_P(
    attempts, sandbox_escape,
    ::testing::Values(std::pair{"os.execute('touch /tmp/rtcrm-pwned')", "execute"},
                      std::pair{"io.open('/etc/passwd')", "io"},
                      std::pair{"while true do end", "instruction budget"},
                      // Catching the budget error does not buy more time.
                      std::pair{"while true do pcall(function() while true do end end) end", "instruction budget"},
                      std::pair{"while true do xpcall(function() while true do end end, function(m) return m end) end",
                                "instruction budget"},
                      std::pair{"while true do pcall(string.rep, 'x', 1e9) end", "instruction budget"},
                      std::pair{"local t, s = {}, ('x'):rep(1000) for i = 1, 1e8 do t[i] = s .. i end", "memory"},
                      std::pair{"load('return 1')()", "load"},
                      std::pair{"require('os')", "require"},
                      std::pair{"debug.getinfo(1)", "debug"},
                      std::pair{"collectgarbage('stop')", "collectgarbage"},
                      std::pair{"leaked = 1", "read-only"},
                      std::pair{"print = nil", "read-only"},  // globals that exist are frozen too
                      std::pair{"_G.pairs = next", "read-only"},
                      std::pair{"crm.updater = nil", "read-only"},
                      std::pair{"getmetatable('').__index.upper = nil", "index"},
                      std::pair{"string.dump(print)", "dump"}));

TEST(lua_engine, scripts_cannot_see_each_others_globals) {
    harness h{engine_with({{"a.lua", "secret = 42\n"},
                           {"b.lua", R"(crm.updater{ id = "peek", on = "x", fn = function(e, p) p:set("seen", secret) end })"}})};
    h.driver.pipe(ev(1, "x", t0));
    EXPECT_EQ(h.driver.profile_of(rtcrm::player_key{1})->get("seen"), nullptr);
}

TEST(lua_engine, a_failing_handler_is_disabled_after_consecutive_errors) {
    harness h{engine_with({{"bad.lua", R"(
crm.updater{ id = "bad", on = "x", fn = function(e, p) error("always") end }
crm.updater{ id = "good", on = "x", fn = function(e, p) p:incr("n") end })"}},
                          {.max_consecutive_errors = 3})};
    for (int i = 0; i < 5; ++i) {
        h.driver.pipe(ev(1, "x", t0 + i));
    }
    EXPECT_EQ(h.stat("bad").errors, 3U);
    EXPECT_TRUE(h.stat("bad").disabled);
    EXPECT_NE(h.stat("bad").last_error.find("bad.lua:2: always"), std::string::npos);
    EXPECT_EQ(std::get<std::int64_t>(*h.driver.profile_of(rtcrm::player_key{1})->get("n")), 5);
}

TEST(lua_engine, load_errors_name_the_file_and_line_and_keep_the_old_set) {
    auto engine = engine_with({{"ok.lua", R"(crm.campaign{ id = 1, on = "x" })"}});
    const auto before = engine->version();
    struct bad_case {
        rtcrm::lua_script script;
        const char* expected;
    };
    const std::vector<bad_case> cases = {
        {{"syntax.lua", "crm.updater{ id = 'x', on = 'x', fn = function() end\n"}, "syntax.lua:2:"},
        {{"runtime.lua", "local x = nil\nx.y = 1\n"}, "runtime.lua:2:"},
        {{"dup.lua", "crm.campaign{ id = 1, on = 'y' }\n"}, "duplicate campaign id '1'"},
        {{"noon.lua", "\ncrm.updater{ id = 'u', fn = function() end }\n"}, "noon.lua:2:"},
        {{"cap.lua", "crm.campaign{ id = 9, on = 'x', cap = { per_player = 1, every = 'soon' } }\n"}, "cap.lua:1: campaign '9': cap.every"},
        {{"bytecode.lua", std::string{"\x1bLua"} + "T"}, "binary"},
    };
    for (const auto& c : cases) {
        const auto r = engine->put_script(c.script);
        ASSERT_FALSE(r) << c.script.name;
        EXPECT_NE(r.error().reason.find(c.expected), std::string::npos) << r.error().reason;
        EXPECT_EQ(engine->version(), before);
        EXPECT_EQ(engine->scripts().size(), 1U);
    }
    EXPECT_EQ(engine->failed_reloads(), cases.size());
}

// JSON text is UTF-8: a trigger quoting a transport key of any bytes is still JSON, and
// strings a script turns into JSON must be Unicode text.
TEST(lua_engine, triggers_are_valid_json_whatever_the_transport_key) {
    harness h{engine_with({{"offer.lua", R"(crm.campaign{ id = "o", on = "x", content = { text = "h\u{e9}" } })"}})};
    h.driver.pipe(rtcrm::record{ev(1, "x", t0), std::string{"b\xffob"}, {}});
    const auto out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(out[0].data(), out[0].size());
    ASSERT_FALSE(d.HasParseError()) << out[0];
    EXPECT_EQ(std::string{d["player_id"].GetString()}, "b\xEF\xBF\xBDob");
    EXPECT_EQ(std::string{d["content"]["text"].GetString()}, "h\xC3\xA9");
}

TEST(lua_engine, strings_that_are_not_utf8_never_become_json) {
    auto engine = engine_with({{"ok.lua", R"(crm.campaign{ id = 1, on = "x" })"}});
    const auto r = engine->put_script({"bad.lua", R"(crm.campaign{ id = 2, on = "x", content = { text = "caf\xe9" } })"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().reason.find("not valid UTF-8 (ill-formed byte 0xe9 at offset 3"), std::string::npos)
        << r.error().reason;
    const auto key = engine->put_script({"key.lua", R"(crm.campaign{ id = 3, on = "x", content = { ["\xff"] = 1 } })"});
    ASSERT_FALSE(key);
    EXPECT_NE(key.error().reason.find("an object key is not valid UTF-8"), std::string::npos) << key.error().reason;

    harness h{engine_with({{"set.lua", R"(
crm.updater{ id = "set", on = "x", fn = function(e, p)
  p:set("good", { name = "caf\u{e9}" })
  p:set("cut", { name = string.sub("caf\u{e9}", 1, 4) })
end })"}})};
    h.driver.pipe(ev(1, "x", t0));
    EXPECT_EQ(h.stat("set").errors, 1U);
    EXPECT_NE(h.stat("set").last_error.find("a string is not valid UTF-8"), std::string::npos) << h.stat("set").last_error;
}

TEST(lua_engine, a_put_script_swaps_every_shard_at_an_event_boundary) {
    harness h{engine_with({{"v.lua", R"(crm.updater{ id = "v", on = "x", fn = function(e, p) p:set("v", 1) end })"}}), 4};
    h.driver.pipe(ev(1, "x", t0));
    ASSERT_TRUE(h.engine->put_script({"v.lua", R"(crm.updater{ id = "v", on = "x", fn = function(e, p) p:set("v", 2) end })"}));
    for (int player = 1; player <= 8; ++player) {
        h.driver.pipe(ev(player, "x", t0 + 1));
        EXPECT_EQ(std::get<std::int64_t>(*h.driver.profile_of(rtcrm::player_key{player})->get("v")), 2);
    }
    ASSERT_TRUE(h.engine->remove_script("v.lua"));
    EXPECT_FALSE(h.engine->remove_script("v.lua"));
}

TEST(lua_engine, hot_reload_under_load_loses_duplicates_and_reorders_nothing) {
    auto engine = engine_with({{"seq.lua", R"(
crm.updater{ id = "seq", on = "fight", fn = function(e, p)
  local last = p:get("last_seq") or -1
  if e.seq ~= last + 1 then p:set("gap", true) end
  p:set("last_seq", e.seq); p:incr("n")
end })"}});
    constexpr int players = 50;
    constexpr int per_player = 2000;
    std::vector<std::string> lines;
    for (int seq = 0; seq < per_player; ++seq) {
        for (int player = 1; player <= players; ++player) {
            lines.push_back(rtcrm::testing::fight_json(player, seq));
        }
    }
    auto store = std::make_shared<rtcrm::memory_store>();
    rtcrm::topology t;
    t.add_source(std::make_unique<rtcrm::testing::vector_source>(std::move(lines)))
        .add_shard_bolt(engine->make_bolt_factory())
        .with_store(store)
        .with_options({.shards = 2, .batch_size = 64});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    int swaps = 0;
    while (!rt.wait_for(2ms)) {
        const auto r = engine->put_script({"extra.lua", fmt::format("crm.updater{{ id = 'extra', on = 'login', fn = function() end }} -- {}", swaps)});
        ASSERT_TRUE(r) << r.error().reason;
        ++swaps;
    }
    EXPECT_GT(swaps, 0);
    int checked = 0;
    ASSERT_TRUE(succeeded(store->scan([&](const rtcrm::profile& p) {
        EXPECT_EQ(p.get("gap"), nullptr) << p.key().text();
        EXPECT_EQ(std::get<std::int64_t>(*p.get("n")), per_player);
        EXPECT_EQ(std::get<std::int64_t>(*p.get("last_seq")), per_player - 1);
        return ++checked, true;
    })));
    EXPECT_EQ(checked, players);
}

// A handler that runs long (here: up to its deadline) is what the runtime's watchdog names
// when it reports the shard stuck.
TEST(lua_engine, a_shard_stuck_in_a_handler_is_reported_with_the_handler_and_its_line) {
    auto engine = engine_with({{"slow.lua", "crm.updater{ id = 'slow', on = 'fight', fn = function(e, p)\n"
                                            "  local n = 0\n  while true do n = n + 1 end\nend }"}},
                              {.instruction_budget = 1'000'000'000'000, .call_deadline = 3s});
    rtcrm::topology t;
    t.add_source(std::make_unique<rtcrm::testing::vector_source>(std::vector<std::string>{rtcrm::testing::fight_json(1, 0)}))
        .add_shard_bolt(engine->make_bolt_factory())
        .with_options({.shards = 1, .stuck_after = 100ms});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    std::string doing;
    for (int i = 0; i < 200 && doing.empty(); ++i) {
        std::this_thread::sleep_for(10ms);
        const auto health = rt.shard_health();
        if (!health.empty() && health[0].stuck) {
            doing = health[0].doing;
        }
    }
    EXPECT_NE(doing.find("updater 'slow' (slow.lua:1), at slow.lua:3"), std::string::npos) << doing;
    ASSERT_TRUE(rt.wait_for(10s));  // the call ends at its deadline, and the shard goes on
    const auto stats = engine->stats();
    ASSERT_EQ(stats.size(), 1U);
    EXPECT_NE(stats[0].last_error.find("slow.lua:3: deadline exceeded"), std::string::npos) << stats[0].last_error;
}

TEST(lua_engine, a_changed_directory_is_reloaded_by_the_watcher) {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("rtcrm_watch_{}", ::getpid());
    std::filesystem::create_directories(dir);
    auto write = [&](const char* text) {
        std::ofstream(dir / "w.lua") << text;
    };
    write(R"(crm.updater{ id = "w", on = "x", fn = function(e, p) p:set("w", 1) end })");
    {
        rtcrm::lua_engine engine{{.script_dir = dir.string(), .watch = true, .watch_debounce = 50ms}};
        EXPECT_EQ(engine.version(), 1U);
        write(R"(crm.updater{ id = "w", on = "x", fn = function(e, p) p:set("w", 2) end })");
        for (int i = 0; i < 100 && engine.version() == 1; ++i) {
            std::this_thread::sleep_for(50ms);
        }
        EXPECT_EQ(engine.version(), 2U);
        write("this is not lua");
        for (int i = 0; i < 100 && engine.failed_reloads() == 0; ++i) {
            std::this_thread::sleep_for(50ms);
        }
        EXPECT_EQ(engine.version(), 2U);  // the broken file did not replace the running set
        EXPECT_NE(engine.last_reload_error().find("w.lua:1:"), std::string::npos) << engine.last_reload_error();
    }
    std::filesystem::remove_all(dir);
}

TEST(lua_engine, a_missing_script_directory_is_a_clear_error) {
    try {
        rtcrm::lua_engine engine{{.script_dir = "/nonexistent/scripts"}};
        FAIL();
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string{e.what()}.find("/nonexistent/scripts"), std::string::npos);
    }
}

}  // namespace

TEST(lua_engine, trigger_content_lists_its_members_in_key_order_on_every_shard) {
    // Lua's table order depends on each state's hash seed; the JSON must not.
    std::string fields;
    std::string expected;
    for (char c = 't'; c >= 'a'; --c) {
        fields += fmt::format("{} = {}, ", c, c - 'a');
    }
    for (char c = 'a'; c <= 't'; ++c) {
        expected += fmt::format("{}\"{}\":{}", c == 'a' ? "" : ",", c, c - 'a');
    }
    harness h{engine_with({{"content.lua", fmt::format(R"(crm.campaign{{ id = 1, on = "x", content = {{ {} zz = {{ b = 1, a = 2 }} }} }})", fields)}})};
    h.driver.pipe(ev(1, "x", t0));
    const auto out = h.driver.read(rtcrm::stream::main);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_NE(out[0].find(R"("content":{)" + expected + R"(,"zz":{"a":2,"b":1}})"), std::string::npos) << out[0];
}
