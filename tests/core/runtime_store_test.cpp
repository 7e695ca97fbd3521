// The runtime and its profile store: write-back (volatile rounds, durable group commit),
// the TTL sweep, and profiles read from other threads while the shards run.
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>

#include "support/result_assertions.hpp"
#include "support/test_components.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>

namespace {

using namespace std::chrono_literals;
using namespace rtcrm::testing;

TEST(runtime, profiles_reach_the_store_at_stop) {
    std::vector<std::string> lines;
    for (int i = 0; i < 300; ++i) {
        lines.push_back(fight_json(i % 30 + 1, i / 30));
    }
    rtcrm::topology t;
    t.add_source(std::make_unique<vector_source>(lines)).with_options({.shards = 3});
    rtcrm::runtime rt{std::move(t)};
    rt.run();
    int profiles = 0;
    ASSERT_TRUE(succeeded(rt.store()->scan([&](const rtcrm::profile& p) {
        ++profiles;
        EXPECT_EQ(p.recent().size(), 10U);
        return true;
    })));
    EXPECT_EQ(profiles, 30);
}

// With a durable store, acks wait for the committer's group commit: every event is
// committed only once its profile is in the store, and a small cache still loses nothing.
TEST(runtime, a_durable_store_commits_every_event_after_its_profile_is_written) {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("rtcrm_runtime_lmdb_{}", ::getpid());
    std::filesystem::remove_all(dir);
    constexpr int players = 500;
    constexpr int per_player = 40;
    std::vector<std::string> lines;
    for (int seq = 0; seq < per_player; ++seq) {
        for (int p = 1; p <= players; ++p) {
            lines.push_back(fight_json(p, seq));
        }
    }
    auto source = std::make_unique<vector_source>(lines, 4);
    auto* src = source.get();
    std::vector<rtcrm::source_position> commits;  // read before the runtime (and its source) goes
    {
        auto store = std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = dir.string(), .sync = false});
        rtcrm::topology t;
        t.add_source(std::move(source)).with_store(store)
            .with_options({.shards = 2, .durable_store_interval = std::chrono::milliseconds(2), .cache_max_profiles = 100});
        rtcrm::runtime rt{std::move(t)};
        rt.run();
        const auto stats = rt.stats();
        EXPECT_EQ(stats.processed, lines.size());
        EXPECT_EQ(stats.nacked, 0U);
        EXPECT_EQ(stats.store_errors, 0U);
        EXPECT_GT(stats.evicted_profiles, 0U);
        EXPECT_EQ(stats.event_latency.count, stats.processed);
        std::uint64_t in_buckets = 0;
        for (auto n : stats.event_latency.counts) {
            in_buckets += n;
        }
        EXPECT_EQ(in_buckets, stats.event_latency.count);
        EXPECT_GT(stats.store_commit.count, 0U);  // the committer timed its writes
        EXPECT_GT(stats.store_commit.sum_seconds, 0.0);
        commits = src->commits();
    }
    // The last committed position of each partition is its last offset.
    std::map<std::int32_t, std::int64_t> last;
    for (const auto& c : commits) {
        last[c.partition] = std::max(last[c.partition], c.offset);
    }
    ASSERT_EQ(last.size(), 4U);
    for (const auto& [partition, offset] : last) {
        EXPECT_EQ(offset, static_cast<std::int64_t>(lines.size() / 4 - 1)) << "partition " << partition;
    }
    rtcrm::lmdb_store reopened{{.path = dir.string(), .read_only = true}};
    int profiles = 0;
    ASSERT_TRUE(succeeded(reopened.scan([&](const rtcrm::profile& p) {
        ++profiles;
        EXPECT_EQ(p.recent().size(), 16U) << "player " << p.key().text();  // 40 events; the ring keeps 16
        return true;
    })));
    EXPECT_EQ(profiles, players);
    std::filesystem::remove_all(dir);
}

constexpr std::int64_t ttl_day_ms = 86'400'000;
constexpr std::int64_t ttl_start_ms = 1'763'800'000'000;

TEST(runtime, the_ttl_sweep_deletes_inactive_profiles_from_the_store) {
    auto store = std::make_shared<rtcrm::memory_store>();
    rtcrm::write_batch stale;
    for (int i = 1000; i < 1100; ++i) {
        rtcrm::profile p{rtcrm::player_key{i}};
        p.record_event("login", ttl_start_ms - 30 * ttl_day_ms, "old");
        stale.profiles.push_back(std::move(p));
    }
    ASSERT_TRUE(succeeded(store->write(stale)));
    std::vector<std::string> lines;
    for (int i = 0; i < 50; ++i) {
        lines.push_back(fight_json(i % 5 + 1, i));  // recent events of players 1..5
    }
    rtcrm::topology t;
    rtcrm::runtime_options options;
    options.shards = 2;
    options.expiry.profile_ttl = std::chrono::milliseconds(7 * ttl_day_ms);
    options.ttl_sweep_interval = std::chrono::milliseconds(20);
    options.store_interval = std::chrono::milliseconds(10);
    t.add_source(std::make_unique<vector_source>(lines)).with_store(store).with_options(options);
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    for (int i = 0; i < 500 && store->size() != 5; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    rt.stop();
    EXPECT_EQ(store->size(), 5U);  // the 100 stale ones are gone, the 5 active ones written back
    EXPECT_EQ(rt.stats().expired_profiles, 100U);
}

// Polls until `store` holds at least `want` profiles (or 10 s pass); the count seen.
// Liveness only: generous enough for a sanitizer build on a loaded machine (the round
// takes about half a second in an optimised build).
std::size_t wait_for_store_size(const rtcrm::memory_store& store, std::size_t want) {
    for (int i = 0; i < 6000 && store.size() < want; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    return store.size();
}

TEST(runtime, a_volatile_store_gets_all_dirty_profiles_each_interval_however_many_they_are) {
    // Far more dirty profiles than store_max_batch: it does not apply to a volatile store,
    // whose rounds come by the interval and are copied while the shard has no events.
    auto store = std::make_shared<rtcrm::memory_store>();
    rtcrm::topology t;
    t.with_store(store).with_options(
        {.shards = 1, .store_interval = 50ms, .store_max_batch = 10, .submit_capacity = 1024});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    for (int i = 0; i < 300; ++i) {
        ASSERT_EQ(rt.submit(fight_json(i + 1, i), 10s), rtcrm::submit_status::accepted);
    }
    EXPECT_EQ(wait_for_store_size(*store, 300), 300U);  // the next round, before stop
    rt.stop();
}

TEST(runtime, a_volatile_write_back_round_is_spread_over_half_the_interval) {
    // Copied at once, 2,000 profiles would hold the shard for milliseconds; spread over
    // 500 ms the store is seen to fill in many steps.
    auto store = std::make_shared<rtcrm::memory_store>();
    rtcrm::topology t;
    t.with_store(store).with_options({.shards = 1, .store_interval = 1000ms, .submit_capacity = 4096});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    constexpr std::size_t players = 2000;
    for (std::size_t i = 0; i < players; ++i) {
        ASSERT_EQ(rt.submit(fight_json(static_cast<std::int64_t>(i) + 1, static_cast<std::int64_t>(i)), 10s),
                  rtcrm::submit_status::accepted);
    }
    std::set<std::size_t> partial;  // store sizes seen between empty and full
    for (int i = 0; i < 1000 && store->size() < players; ++i) {
        if (const auto n = store->size(); n > 0) {
            partial.insert(n);
        }
        std::this_thread::sleep_for(5ms);
    }
    EXPECT_EQ(store->size(), players);
    EXPECT_GE(partial.size(), 5U) << "the round was not spread out";
    rt.stop();
}

TEST(runtime, a_volatile_write_back_round_ends_under_full_load) {
    // With no idle time the round still progresses, a chunk per tick.
    auto store = std::make_shared<rtcrm::memory_store>();
    rtcrm::topology t;
    t.add_source(std::make_unique<endless_source>(2000))
        .with_store(store)
        .with_options({.shards = 2, .store_interval = 50ms});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    EXPECT_GE(wait_for_store_size(*store, 1900), 1900U);
    rt.stop();
}

TEST(runtime, profiles_can_be_read_while_it_runs_without_racing_the_shards) {
    // Profiles of players 1..100, half of them also in the store only.
    auto store = std::make_shared<rtcrm::memory_store>();
    rtcrm::write_batch stored;
    for (int i = 1001; i <= 1050; ++i) {
        rtcrm::profile p{rtcrm::player_key{i}};
        p.set("stored", true);
        stored.profiles.push_back(std::move(p));
    }
    ASSERT_TRUE(succeeded(store->write(stored)));
    auto source = std::make_unique<endless_source>(100);
    rtcrm::topology t;
    t.add_source(std::move(source)).with_store(store).with_options({.shards = 2});
    rtcrm::runtime rt{std::move(t)};
    EXPECT_FALSE(rt.profile_of(rtcrm::player_key{7}).has_value());  // not started: read in place
    rt.start();
    std::this_thread::sleep_for(100ms);
    for (int k = 0; k < 50; ++k) {  // while the shards keep changing them
        const auto p = rt.profile_of(rtcrm::player_key{7});
        ASSERT_TRUE(p.has_value());
        EXPECT_FALSE(p->recent().empty());
    }
    EXPECT_TRUE(rt.profile_of(rtcrm::player_key{1001}).has_value());  // from the store
    EXPECT_FALSE(rt.profile_of(rtcrm::player_key{999'999}).has_value());
    std::vector<std::set<std::string>> seen(2 + 3);
    ASSERT_TRUE(succeeded(rt.scan_profiles(
        [&](std::size_t w) -> rtcrm::profile_visitor {
            return [&seen, w](const rtcrm::profile& p) {
                seen[w].insert(std::string{p.key().text()});
                return true;
            };
        },
        3)));
    rt.stop();
    std::set<std::string> all;
    std::size_t total = 0;
    for (const auto& part : seen) {
        total += part.size();
        all.insert(part.begin(), part.end());
    }
    EXPECT_EQ(all.size(), 150U);  // 100 held by the shards, 50 only stored
    EXPECT_EQ(total, all.size()) << "a profile was visited twice";
}

// A scan of every profile (an audience query) must not stop the shards: the visitors run
// on the scanning thread, and the shards only copy their not yet written profiles. The
// first visit submits more events and waits until a shard has processed them, which a
// scan running on the shard thread would never see.
void scan_while_events_flow(const std::shared_ptr<rtcrm::profile_store>& store, std::chrono::milliseconds store_interval) {
    rtcrm::write_batch stored;
    for (int i = 5001; i <= 6000; ++i) {
        rtcrm::profile p{rtcrm::player_key{i}};
        p.set("stored", true);
        stored.profiles.push_back(std::move(p));
    }
    ASSERT_TRUE(succeeded(store->write(stored)));
    rtcrm::topology t;
    t.with_store(store).with_options({.shards = 2, .store_interval = store_interval, .submit_capacity = 4096});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    std::int64_t seq = 0;
    auto submit = [&](int first, int last) {
        for (int i = first; i <= last; ++i) {
            ASSERT_EQ(rt.submit(fight_json(i, seq++), 10s), rtcrm::submit_status::accepted);
        }
    };
    submit(1, 500);       // held by the shards only (dirty with a volatile store)
    submit(5001, 5010);   // stored, and changed since by the shards
    ASSERT_TRUE(eventually([&] { return rt.stats().processed == 510; }));

    std::mutex mutex;
    std::map<std::string, std::size_t> recent_of;  // key -> recent events of the version visited
    std::size_t visits = 0;
    std::once_flag first_visit;
    bool flowed = false;
    const auto scanned = rt.scan_profiles(
        [&](std::size_t) -> rtcrm::profile_visitor {
            return [&](const rtcrm::profile& p) {
                std::call_once(first_visit, [&] {
                    const auto before = rt.stats().processed;
                    submit(20001, 20100);
                    flowed = eventually([&] { return rt.stats().processed >= before + 100; }, 10s);
                });
                std::lock_guard lock(mutex);
                ++visits;
                recent_of[std::string{p.key().text()}] = p.recent().size();
                return true;
            };
        },
        3);
    ASSERT_TRUE(succeeded(scanned));
    EXPECT_TRUE(flowed) << "the shards processed no event while the scan ran";
    rt.stop();
    EXPECT_EQ(visits, recent_of.size()) << "a profile was visited twice";
    std::size_t before_scan = 0;
    for (const auto& [key, recent] : recent_of) {
        const auto id = std::stoi(key);
        if (id < 20001) {
            ++before_scan;
        }
        if (id <= 500 || (id >= 5001 && id <= 5010)) {
            EXPECT_EQ(recent, 1U) << key << ": not the shard's version";
        } else if (id <= 6000) {
            EXPECT_EQ(recent, 0U) << key;
        }
    }
    // Players 1..500 from the shards, 5001..6000 from the store (5001..5010 in the shards'
    // version); the players of the events sent during the scan may be seen or not.
    EXPECT_EQ(before_scan, 1500U);
}

TEST(runtime, a_profile_scan_lets_the_shards_process_events_and_sees_their_unwritten_profiles) {
    scan_while_events_flow(std::make_shared<rtcrm::memory_store>(), 1h);  // nothing written during the test
}

TEST(runtime, a_profile_scan_over_a_durable_store_sees_each_profile_once_while_events_flow) {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("rtcrm_runtime_scan_{}", ::getpid());
    std::filesystem::remove_all(dir);
    scan_while_events_flow(std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = dir.string(), .sync = false}), 1s);
    std::filesystem::remove_all(dir);
}

}  // namespace
