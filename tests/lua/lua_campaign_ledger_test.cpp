// What the engine counts into the campaign ledger (per campaign, per event-time day), and
// the stability of arms across shard counts and restarts.
#include "experiments_harness.hpp"

#include <rtcrm/core/memory_store.hpp>
#if RTCRM_TEST_WITH_LMDB
#include <rtcrm/lmdb/lmdb_store.hpp>
#endif

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>

namespace {

using namespace rtcrm::test;
using rtcrm::stream;
using rtcrm::detail::lua::campaign_ledger;
using rtcrm::detail::lua::suppression;

std::string at(std::int64_t ts) { return std::to_string(ts); }

TEST(campaign_ledger_counts, triggers_shadow_and_players_per_day) {
    experiment x{R"(
crm.campaign{ id = 1, on = "fight" }
crm.campaign{ id = 2, on = "fight", dry_run = true }
)"};
    x.pipe("fight", t0, 1);
    x.pipe("fight", t0 + 1, 1);
    x.pipe("fight", t0 + 2, 2);
    x.pipe("fight", t0 + day, 1);
    const auto l = x.ledger();
    const auto& c1 = l.campaigns().at("1");
    EXPECT_EQ(c1.players, 2);  // distinct players ever
    EXPECT_EQ(c1.days.at(campaign_ledger::day_of(t0)).triggers, 3);
    EXPECT_EQ(c1.days.at(campaign_ledger::day_of(t0)).players, 2);
    EXPECT_EQ(c1.days.at(campaign_ledger::day_of(t0 + day)).triggers, 1);
    EXPECT_EQ(c1.days.at(campaign_ledger::day_of(t0 + day)).players, 1);
    EXPECT_EQ(c1.days.at(campaign_ledger::day_of(t0)).shadow, 0);
    EXPECT_TRUE(c1.days.at(campaign_ledger::day_of(t0)).arms.empty());  // no experiment: no arms
    const auto& c2 = l.campaigns().at("2");
    EXPECT_EQ(c2.players, 2);
    EXPECT_EQ(c2.days.at(campaign_ledger::day_of(t0)).shadow, 3);
    EXPECT_EQ(c2.days.at(campaign_ledger::day_of(t0)).triggers, 0);
    EXPECT_EQ(suppressed(c2.days.at(campaign_ledger::day_of(t0)), suppression::dry_run), 3);
}

TEST(campaign_ledger_counts, control_exposures_are_shadow_and_reach_no_player) {
    const auto control = player_in("control", "1", 0.5);
    const auto treated = player_in("treatment", "1", 0.5);
    experiment x{R"(crm.campaign{ id = 1, on = "fight", holdout = 0.5 })"};
    x.pipe("fight", t0, control);
    x.pipe("fight", t0, treated);
    const auto l = x.ledger();
    const auto& d = l.campaigns().at("1").days.at(campaign_ledger::day_of(t0));
    EXPECT_EQ(d.triggers, 1);
    EXPECT_EQ(d.shadow, 1);
    EXPECT_EQ(d.players, 1);
    EXPECT_EQ(l.campaigns().at("1").players, 1);
    EXPECT_EQ(d.arms.at("control").exposures, 1);
    EXPECT_EQ(d.arms.at("treatment").exposures, 1);
}

TEST(campaign_ledger_counts, cap_rate_and_kill_switch_on_events) {
    experiment x{R"(
crm.campaign{ id = 1, on = "fight", cap = { per_player = 1 } }
crm.campaign{ id = 2, on = "fight", rate = { per_second = 0.001 } }
crm.campaign{ id = 3, on = "fight" }
)"};
    x.kill("3");
    for (int i = 0; i < 3; ++i) {
        x.pipe("fight", t0 + i);
    }
    EXPECT_EQ(x.on("1", t0).suppressed_by(suppression::cap), 2);
    EXPECT_EQ(x.on("1", t0).triggers, 1);
    // A rate of one per 1000 s: the first firing takes the one token.
    EXPECT_EQ(x.on("2", t0).suppressed_by(suppression::rate), 2);
    EXPECT_EQ(x.on("3", t0).suppressed_by(suppression::kill_switch), 3);
    EXPECT_EQ(x.on("3", t0).triggers, 0);
}

TEST(campaign_ledger_counts, quiet_hours_count_dropped_triggers_not_deferred_ones) {
    experiment x{R"(
crm.campaign{ id = 1, on = "fight", quiet = { from = "00:00", to = "23:59", defer = false } }
crm.campaign{ id = 2, on = "fight", quiet = { from = "00:00", to = "23:59" } }
)"};
    x.pipe("fight", t0);
    EXPECT_EQ(x.on("1", t0).suppressed_by(suppression::quiet_hours), 1);
    EXPECT_EQ(x.on("2", t0).suppressed_by(suppression::quiet_hours), 0);
    x.driver.advance_time(t0 + day);  // the deferred trigger goes out at 23:59
    EXPECT_EQ(x.on("2", t0).triggers, 1);
}

TEST(campaign_ledger_counts, schedule_and_kill_switch_on_due_timers) {
    experiment x{R"(
crm.campaign{ id = 1, on = "login", after = "1h", active = { to = )" + at(t0 + 30 * minute) + R"( } }
crm.campaign{ id = 2, on = "login", after = "1h" }
)"};
    x.pipe("login", t0);
    x.kill("2");
    x.driver.advance_time(t0 + 2 * hour);
    EXPECT_EQ(x.on("1", t0 + hour).suppressed_by(suppression::schedule), 1);
    EXPECT_EQ(x.on("2", t0 + hour).suppressed_by(suppression::kill_switch), 1);
    EXPECT_TRUE(x.driver.read(stream::main).empty());
}

TEST(campaign_ledger_counts, a_stored_base_is_adopted_once_and_replaces_the_shards_earlier_counts) {
    experiment x{R"(crm.campaign{ id = 7, on = "fight" })"};
    x.pipe("fight", t0);
    EXPECT_EQ(x.on("7", t0).triggers, 1);
    campaign_ledger stored;
    stored.day("7", t0).triggers = 5;
    auto tallies = std::make_shared<std::vector<std::pair<std::string, std::int64_t>>>();
    stored.append_tallies(*tallies);
    rtcrm::bolt_placement placement{.worker = 0, .workers = 1, .stored_tallies = tallies};
    auto factory = rtcrm::detail::lua::make_crm_bolt_factory(x.state);
    auto bolt = factory(placement);
    EXPECT_EQ(x.on("7", t0).triggers, 5);  // the store's count holds the earlier run's
    x.pipe("fight", t0 + 1);
    EXPECT_EQ(x.on("7", t0).triggers, 6);
    auto again = factory(placement);  // another shard of the same runtime
    EXPECT_EQ(x.on("7", t0).triggers, 6);
    std::vector<std::pair<std::string, std::int64_t>> taken;
    bolt->take_tallies(taken);
    EXPECT_TRUE(taken.empty());  // a fresh bolt has counted nothing
}

// A bolt context with one profile, for a bolt driven by hand.
struct single_profile_context final : rtcrm::bolt_context {
    rtcrm::profile p{rtcrm::player_key{1}};
    rtcrm::profile_limits lim;
    int emitted = 0;
    void emit(rtcrm::event&, stream, std::string) override { ++emitted; }
    void reject(rtcrm::event&, rtcrm::errc, std::string_view) override {}
    void drop(rtcrm::event&) override {}
    rtcrm::profile* profile_of(const rtcrm::event&) override { return &p; }
    [[nodiscard]] std::uint32_t worker() const noexcept override { return 0; }
    [[nodiscard]] const rtcrm::profile_limits& limits() const noexcept override { return lim; }
};

TEST(campaign_ledger_counts, take_tallies_hands_over_the_changes_once_and_keeps_them_counted) {
    auto state = installed(R"(crm.campaign{ id = 7, on = "fight" })");
    auto bolt = rtcrm::detail::lua::make_crm_bolt_factory(state)(rtcrm::bolt_placement{});
    single_profile_context ctx;
    auto fire = [&](std::int64_t ts) {
        std::vector<rtcrm::event> batch;
        batch.push_back(rtcrm::parse_event(ev("fight", ts), {}).value());
        bolt->process(batch, ctx);
    };
    fire(t0);
    fire(t0 + 1);
    std::vector<std::pair<std::string, std::int64_t>> taken;
    bolt->take_tallies(taken);
    campaign_ledger handed;
    for (const auto& [name, value] : taken) {
        EXPECT_TRUE(handed.add_tally(name, value)) << name;
    }
    EXPECT_EQ(handed.day("7", t0).triggers, 2);
    EXPECT_EQ(handed.campaign("7").players, 1);
    taken.clear();
    bolt->take_tallies(taken);
    EXPECT_TRUE(taken.empty());  // handed over once
    fire(t0 + 2);  // counted into a fresh delta, after the cached tallies were cleared
    bolt->take_tallies(taken);
    handed = {};
    for (const auto& [name, value] : taken) {
        handed.add_tally(name, value);
    }
    EXPECT_EQ(handed.day("7", t0).triggers, 1);
    EXPECT_EQ(ctx.emitted, 3);
    EXPECT_EQ(state->ledger_snapshot().day("7", t0).triggers, 3);  // committed + delta
}

constexpr const char* experiment_script = R"(
crm.fatigue{ per_player = 2, every = "1d" }
crm.campaign{ id = 33, on = "fight", holdout = 0.2, priority = 1, cap = { per_player = 3, every = "1d" },
  variants = { { name = "a", content = { offer = "x" } }, { name = "b", weight = 2 } },
  goal = { on = "purchase", within = "1h" } }
crm.campaign{ id = 34, on = "fight", holdout = 0.5 }
crm.campaign{ id = 35, on = "fight", transactional = true }
)";

std::vector<std::string> events(std::int64_t players, int rounds) {
    std::vector<std::string> out;
    for (int r = 0; r < rounds; ++r) {
        for (std::int64_t p = 1; p <= players; ++p) {
            const auto ts = t0 + r * 5 * hour + p;
            out.push_back(ev("fight", ts, p));
            if ((p + r) % 3 == 0) {
                out.push_back(ev("purchase", ts + 20 * minute, p));
            }
        }
    }
    return out;
}

// Every output per player, main and shadow, in order.
using outputs = std::map<std::string, std::vector<std::string>>;

// The first player whose outputs differ, with both ("" when none does).
std::string first_difference(const outputs& a, const outputs& b) {
    for (const auto& [player, mine] : a) {
        const auto it = b.find(player);
        if (it == b.end() || it->second != mine) {
            std::string out = "player " + player + ":\n";
            for (const auto& line : mine) {
                out += "  < " + line + "\n";
            }
            if (it != b.end()) {
                for (const auto& line : it->second) {
                    out += "  > " + line + "\n";
                }
            }
            return out;
        }
    }
    return a.size() == b.size() ? std::string{} : "a player is missing";
}
void collect(rtcrm::topology_test_driver& driver, outputs& out) {
    for (const auto s : {stream::main, stream::shadow}) {
        for (const auto& body : driver.read(s)) {
            const auto d = parsed(body);
            out[std::to_string(d["player_id"].GetInt64())].push_back(body);
        }
    }
}

TEST(campaign_arms, are_stable_across_1_2_and_8_shards) {
    const auto lines = events(60, 4);
    std::optional<outputs> first;
    std::optional<campaign_ledger> first_ledger;
    for (const std::uint32_t shards : {1U, 2U, 8U}) {
        experiment x{experiment_script, shards};
        outputs out;
        for (const auto& line : lines) {
            x.driver.pipe(line);
            collect(x.driver, out);
        }
        if (!first) {
            first = out;
            first_ledger = x.ledger();
            continue;
        }
        EXPECT_EQ(first_difference(out, *first), "") << shards << " shards";
        std::vector<std::pair<std::string, std::int64_t>> mine;
        std::vector<std::pair<std::string, std::int64_t>> theirs;
        x.ledger().append_tallies(mine);
        first_ledger->append_tallies(theirs);
        EXPECT_EQ(mine, theirs) << shards << " shards";
    }
    // The run exercised every arm, and conversions.
    const auto& d = first_ledger->campaigns().at("33").days.begin()->second;
    EXPECT_GT(d.arms.at("control").exposures, 0);
    EXPECT_GT(d.arms.at("a").exposures, 0);
    EXPECT_GT(d.arms.at("b").exposures, 0);
    EXPECT_GT(d.arms.at("a").conversions + d.arms.at("b").conversions, 0);
}

#if RTCRM_TEST_WITH_LMDB
// A record at `offset` of one partition: the store remembers the offsets a profile has
// seen, so a restarted run must go on from where the first stopped.
rtcrm::record at_offset(const std::string& line, std::size_t offset) {
    rtcrm::record r{line, std::nullopt, {}};
    r.origin.offset = static_cast<std::int64_t>(offset);
    return r;
}

TEST(campaign_arms, are_stable_across_a_restart_with_the_lmdb_store) {
    const auto lines = events(40, 4);
    outputs uninterrupted;
    {
        experiment x{experiment_script, 2, std::make_shared<rtcrm::memory_store>()};
        for (std::size_t i = 0; i < lines.size(); ++i) {
            x.driver.pipe(at_offset(lines[i], i));
            collect(x.driver, uninterrupted);
        }
    }
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("rtcrm_arms_lmdb_{}", ::getpid());
    std::filesystem::remove_all(dir);
    outputs restarted;
    const std::size_t half = lines.size() / 2;
    for (const auto& [from, to, shards] : {std::tuple{std::size_t{0}, half, 2U}, std::tuple{half, lines.size(), 8U}}) {
        auto store = std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = dir.string(), .sync = false});
        experiment x{experiment_script, shards, store};  // a fresh engine: a restart
        for (std::size_t i = from; i < to; ++i) {
            x.driver.pipe(at_offset(lines[i], i));  // a resumed source goes on from where it was
            collect(x.driver, restarted);
        }
    }
    std::filesystem::remove_all(dir);
    EXPECT_EQ(first_difference(restarted, uninterrupted), "");
    EXPECT_GT(uninterrupted.size(), 30U);
}
#endif  // RTCRM_TEST_WITH_LMDB

}  // namespace
