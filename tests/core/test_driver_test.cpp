#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/test_driver.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>

#include "support/result_assertions.hpp"
#include "support/test_components.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace {

using rtcrm::testing::echo_bolt;
using rtcrm::testing::fight_json;
using rtcrm::testing::succeeded;

// Counts losses in a windowed counter and emits a trigger on the third loss in a row:
// the C++ shape of the "frustrated fighter" campaign.
class loss_streak_bolt final : public rtcrm::bolt {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "loss_streak"; }
    void process(std::span<rtcrm::event> batch, rtcrm::bolt_context& ctx) override {
        for (auto& ev : batch) {
            auto* p = ctx.profile_of(ev);
            const auto* data = ev.field("data");
            if (p == nullptr || data == nullptr || !data->HasMember("result")) {
                ctx.drop(ev);
                continue;
            }
            if (std::string_view{(*data)["result"].GetString()} == "loss") {
                if (p->incr("loss_streak") == 3.0) {
                    ctx.emit(ev, rtcrm::stream::main, fmt::format(R"({{"player_id":{}}})", ev.player().text()));
                }
            } else {
                p->set("loss_streak", std::int64_t{0});
            }
        }
    }
};

rtcrm::topology streak_topology(std::uint32_t shards) {
    rtcrm::topology t;
    t.add_shard_bolt([](const rtcrm::bolt_placement&) { return std::make_unique<loss_streak_bolt>(); })
        .with_options({.shards = shards});
    return t;
}

TEST(topology_test_driver, pipes_events_synchronously_through_the_shard_bolts) {
    rtcrm::topology_test_driver driver{streak_topology(4)};
    driver.pipe(fight_json(42, 0));
    driver.pipe(fight_json(42, 1));
    EXPECT_TRUE(driver.read(rtcrm::stream::main).empty());
    driver.pipe(fight_json(42, 2));
    EXPECT_EQ(driver.read(rtcrm::stream::main), std::vector<std::string>{R"({"player_id":42})"});
    EXPECT_TRUE(driver.read(rtcrm::stream::main).empty());  // read() consumes
}

TEST(topology_test_driver, shows_the_profile_the_owning_shard_holds) {
    rtcrm::topology_test_driver driver{streak_topology(4)};
    driver.pipe(fight_json(7, 0));
    driver.pipe(fight_json(7, 1, "win"));
    auto p = driver.profile_of(rtcrm::player_key{7});
    ASSERT_TRUE(p);
    EXPECT_EQ(std::get<std::int64_t>(*p->get("loss_streak")), 0);
    EXPECT_EQ(p->recent().size(), 2U);
    EXPECT_FALSE(driver.profile_of(rtcrm::player_key{8}));
}

TEST(topology_test_driver, dead_letters_bad_input_with_the_original_bytes) {
    rtcrm::topology_test_driver driver{streak_topology(1)};
    driver.pipe("not json");
    const auto dead = driver.read(rtcrm::stream::dead_letter);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_NE(dead[0].find(R"("reason":"parse_error")"), std::string::npos);
    EXPECT_NE(dead[0].find(R"("raw":"not json")"), std::string::npos);
    const auto stats = driver.stats();
    EXPECT_EQ(stats.dead_lettered, 1U);
    ASSERT_EQ(stats.dead_lettered_by_reason.size(), 1U);
    EXPECT_EQ(stats.dead_lettered_by_reason[0].first, rtcrm::errc::parse_error);
}

// The source's key scan read the last key member, the shard's parser the first: half of
// a player's events were counted on another shard's copy of the profile.
TEST(topology_test_driver, a_key_member_spelled_twice_is_dead_lettered_not_misrouted) {
    rtcrm::topology_test_driver driver{streak_topology(8)};
    for (int i = 0; i < 1000; ++i) {
        const std::string key = i % 2 == 0 ? R"("player\u005fid":"A","player_id":"D")" : R"("player\u005fid":"A")";
        driver.pipe(fmt::format(R"({{{},"type":"fight","ts":{},"data":{{"result":"loss"}}}})", key, i + 1));
    }
    const auto dead = driver.read(rtcrm::stream::dead_letter);
    ASSERT_EQ(dead.size(), 500U);
    EXPECT_NE(dead[0].find(R"("reason":"ambiguous_key")"), std::string::npos) << dead[0];
    const auto a = driver.profile_of(rtcrm::player_key{std::string{"A"}});
    ASSERT_TRUE(a);
    EXPECT_EQ(std::get<std::int64_t>(*a->get("loss_streak")), 500);
    EXPECT_FALSE(driver.profile_of(rtcrm::player_key{std::string{"D"}}));
    const auto stats = driver.stats();
    ASSERT_EQ(stats.dead_lettered_by_reason.size(), 1U);
    EXPECT_EQ(stats.dead_lettered_by_reason[0].first, rtcrm::errc::ambiguous_key);
    EXPECT_EQ(stats.processed, 500U);
}

TEST(topology_test_driver, invalid_utf8_is_kept_as_base64) {
    rtcrm::topology_test_driver driver{streak_topology(1)};
    driver.pipe(std::string{"\xff\xfe{"});
    const auto dead = driver.read(rtcrm::stream::dead_letter);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_NE(dead[0].find(R"("raw_base64":"//57")"), std::string::npos);
    EXPECT_NE(dead[0].find("\"raw\":\"\xEF\xBF\xBD\xEF\xBF\xBD{\",\"raw_utf8_replaced\":true"), std::string::npos) << dead[0];
}

TEST(topology_test_driver, commits_each_event_once_its_outputs_are_acked) {
    rtcrm::topology t;
    t.add_shard_bolt(echo_bolt::factory()).with_options({.shards = 2});
    rtcrm::topology_test_driver driver{std::move(t)};
    EXPECT_EQ(driver.committed(), std::nullopt);
    driver.pipe(fight_json(1, 0));
    driver.pipe("garbage");
    driver.pipe(fight_json(2, 0));
    EXPECT_EQ(driver.committed(), 2);
}

TEST(topology_test_driver, dropped_events_count_as_handled) {
    rtcrm::topology_test_driver driver{streak_topology(2)};
    driver.pipe(R"({"player_id":5,"type":"login","ts":1})");
    const auto stats = driver.stats();
    EXPECT_EQ(stats.dropped, 1U);
    EXPECT_EQ(stats.processed, 0U);
    EXPECT_EQ(driver.committed(), 0);
}

// A store whose reads fail while `broken` is set.
class flaky_store final : public rtcrm::profile_store {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "flaky"; }
    rtcrm::result<void> get(std::span<const rtcrm::player_key> keys,
                            std::span<std::optional<rtcrm::profile>> out) override {
        if (broken) {
            return {rtcrm::errc::store_error, "flaky_store: get: the disk is away"};
        }
        return inner.get(keys, out);
    }
    rtcrm::result<void> write(const rtcrm::write_batch& batch) override { return inner.write(batch); }
    rtcrm::result<void> scan(const rtcrm::profile_visitor& visit) override { return inner.scan(visit); }
    rtcrm::result<void> flush() override { return {}; }
    std::vector<rtcrm::source_position> positions() override { return {}; }
    bool broken = true;
    rtcrm::memory_store inner;
};

TEST(topology_test_driver, a_failing_store_read_dead_letters_instead_of_inventing_a_profile) {
    auto store = std::make_shared<flaky_store>();
    rtcrm::profile stored{rtcrm::player_key{9}};
    stored.set("level", std::int64_t{50});
    ASSERT_TRUE(succeeded(store->inner.write(rtcrm::write_batch{{stored}, {}, {}})));
    auto t = streak_topology(1);
    t.with_store(store);
    rtcrm::topology_test_driver driver{std::move(t)};
    driver.pipe(fight_json(9, 0));
    const auto dead = driver.read(rtcrm::stream::dead_letter);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_NE(dead[0].find("store_error"), std::string::npos);
    EXPECT_NE(dead[0].find("flaky_store: get: the disk is away"), std::string::npos) << dead[0];  // the store's reason
    EXPECT_EQ(driver.stats().store_errors, 1U);
    EXPECT_FALSE(driver.profile_of(rtcrm::player_key{9}));
    store->broken = false;
    driver.pipe(fight_json(9, 1));
    auto p = driver.profile_of(rtcrm::player_key{9});
    ASSERT_TRUE(p);
    EXPECT_EQ(std::get<std::int64_t>(*p->get("level")), 50);  // the stored profile, not a new one
}

// A fresh LMDB directory, removed at the end of the test.
struct temp_lmdb {
    std::filesystem::path dir = std::filesystem::temp_directory_path() / ("rtcrm_driver_lmdb_" + std::to_string(::getpid()));
    temp_lmdb() { std::filesystem::remove_all(dir); }
    ~temp_lmdb() { std::filesystem::remove_all(dir); }
    std::shared_ptr<rtcrm::lmdb_store> open() const {
        return std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = dir.string(), .sync = false});
    }
};

rtcrm::record at(std::int64_t offset, std::string bytes) {
    rtcrm::record rec{std::move(bytes), std::nullopt, {}};
    rec.origin.offset = offset;
    return rec;
}

TEST(topology_test_driver, with_a_durable_store_an_event_commits_only_after_its_group_commit) {
    temp_lmdb tmp;
    auto t = streak_topology(2);
    t.with_store(tmp.open());
    rtcrm::topology_test_driver driver{std::move(t)};
    driver.pipe(fight_json(1, 0));
    driver.pipe(fight_json(2, 0));
    EXPECT_EQ(driver.committed(), std::nullopt);  // processed, but not yet durable
    driver.flush();
    EXPECT_EQ(driver.committed(), 1);
}

TEST(topology_test_driver, a_replayed_event_is_not_applied_twice) {
    temp_lmdb tmp;
    {
        auto t = streak_topology(1);
        t.with_store(tmp.open());
        rtcrm::topology_test_driver driver{std::move(t)};
        driver.pipe(at(10, fight_json(5, 0)));
        driver.pipe(at(20, fight_json(5, 1)));
        driver.flush();
    }
    // A restart replays from an older position: offsets 10 and 20 are already in the
    // stored profile, 30 is new.
    auto t = streak_topology(1);
    t.with_store(tmp.open());
    rtcrm::topology_test_driver driver{std::move(t)};
    driver.pipe(at(10, fight_json(5, 0)));
    driver.pipe(at(20, fight_json(5, 1)));
    driver.pipe(at(30, fight_json(5, 2)));
    EXPECT_EQ(driver.stats().replayed, 2U);
    EXPECT_EQ(driver.stats().processed, 1U);
    auto p = driver.profile_of(rtcrm::player_key{5});
    ASSERT_TRUE(p);
    EXPECT_EQ(std::get<std::int64_t>(*p->get("loss_streak")), 3);  // not 5
    EXPECT_EQ(driver.read(rtcrm::stream::main).size(), 1U);        // the third loss fires once
}

TEST(topology_test_driver, a_bounded_cache_evicts_and_reloads_profiles_without_losing_updates) {
    auto store = std::make_shared<rtcrm::memory_store>();
    rtcrm::topology t;
    t.add_shard_bolt([](const rtcrm::bolt_placement&) { return std::make_unique<loss_streak_bolt>(); })
        .with_store(store)
        .with_options({.shards = 2, .cache_max_profiles = 5});
    rtcrm::topology_test_driver driver{std::move(t)};
    for (int round = 0; round < 3; ++round) {
        for (int player = 1; player <= 40; ++player) {
            driver.pipe(fight_json(player, round));
        }
    }
    const auto stats = driver.stats();
    EXPECT_LE(stats.cached_profiles, 2U * 5U);
    EXPECT_GT(stats.evicted_profiles, 0U);
    EXPECT_EQ(driver.read(rtcrm::stream::main).size(), 40U);  // every third loss seen: no update lost
    driver.flush();
    for (int player = 1; player <= 40; ++player) {
        auto p = driver.profile_of(rtcrm::player_key{player});
        ASSERT_TRUE(p) << player;
        EXPECT_EQ(std::get<std::int64_t>(*p->get("loss_streak")), 3) << player;
    }
}

TEST(topology_test_driver, ingest_bolts_get_no_profile_even_for_cached_players) {
    class probe final : public rtcrm::bolt {
    public:
        explicit probe(int* seen) : seen_(seen) {}
        [[nodiscard]] std::string_view name() const noexcept override { return "probe"; }
        void process(std::span<rtcrm::event> batch, rtcrm::bolt_context& ctx) override {
            for (auto& ev : batch) {
                *seen_ += ctx.profile_of(ev) != nullptr ? 1 : 0;
            }
        }

    private:
        int* seen_;
    };
    int seen = 0;
    auto t = streak_topology(1);
    t.add_ingest_bolt([&seen](const rtcrm::bolt_placement&) { return std::make_unique<probe>(&seen); });
    rtcrm::topology_test_driver driver{std::move(t)};
    driver.pipe(fight_json(1, 0));
    driver.pipe(fight_json(1, 1));  // player 1 is cached now
    EXPECT_EQ(seen, 0);
    EXPECT_TRUE(driver.profile_of(rtcrm::player_key{1}));
}

TEST(topology_test_driver, flush_writes_profiles_to_the_store) {
    auto store = std::make_shared<rtcrm::memory_store>();
    auto t = streak_topology(2);
    t.with_store(store);
    rtcrm::topology_test_driver driver{std::move(t)};
    driver.pipe(fight_json(3, 0));
    EXPECT_EQ(store->size(), 0U);  // written back on the store interval, not per event
    driver.flush();
    EXPECT_EQ(store->size(), 1U);
}

}  // namespace

// --- TTL ---------------------------------------------------------------------------------

namespace {
std::string login_at(std::int64_t player, std::int64_t ts, int n) {
    return fmt::format(R"({{"id":"l-{}","player_id":{},"type":"login","ts":{}}})", n, player, ts);
}
constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t start_ms = 1'763'800'000'000;
}  // namespace

TEST(topology_test_driver, a_profile_inactive_past_its_ttl_starts_afresh_at_its_next_event) {
    rtcrm::topology t;
    rtcrm::runtime_options options;
    options.expiry.profile_ttl = std::chrono::milliseconds(7 * day_ms);
    t.with_options(options);
    rtcrm::topology_test_driver driver{std::move(t)};
    driver.pipe(login_at(1, start_ms, 1));
    driver.pipe(login_at(1, start_ms + 6 * day_ms, 2));  // within the TTL: kept
    ASSERT_EQ(driver.profile_of(rtcrm::player_key{1})->recent().size(), 2U);
    driver.pipe(login_at(1, start_ms + 14 * day_ms, 3));  // 8 days after the last: afresh
    const auto p = driver.profile_of(rtcrm::player_key{1});
    ASSERT_TRUE(p);
    ASSERT_EQ(p->recent().size(), 1U);
    EXPECT_EQ(p->recent()[0].id, "l-3");
}
