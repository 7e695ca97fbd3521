#include <rtcrm/core/callback_sink.hpp>
#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/validation_bolt.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>

#include "support/test_components.hpp"

#include <rapidjson/document.h>

#include <gtest/gtest.h>
#include <unistd.h>
#include <filesystem>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>

namespace {

using namespace std::chrono_literals;
using rtcrm::testing::collecting_sink;
using rtcrm::testing::echo_bolt;
using rtcrm::testing::endless_source;
using rtcrm::testing::fight_json;
using rtcrm::testing::gate_sink;
using rtcrm::testing::vector_source;

struct parsed_output {
    std::int64_t player;
    std::int64_t seq;
};

parsed_output parse_output(const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.c_str());
    return {d["player_id"].GetInt64(), d["seq"].GetInt64()};
}

class runtime_order : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(runtime_order, preserves_per_player_order_over_100k_events) {
    constexpr int events = 100'000;
    constexpr int players = 997;
    std::vector<std::string> lines;
    lines.reserve(events);
    std::vector<std::int64_t> next_seq(players + 1, 0);
    std::mt19937 rng(7);
    for (int i = 0; i < events; ++i) {
        const std::int64_t player = static_cast<std::int64_t>(rng() % players) + 1;
        lines.push_back(fight_json(player, next_seq[static_cast<std::size_t>(player)]++));
    }
    auto sink = std::make_shared<collecting_sink>();
    rtcrm::topology t;
    t.add_source(std::make_unique<vector_source>(std::move(lines), 4))
        .add_shard_bolt(echo_bolt::factory())
        .add_sink(rtcrm::stream::main, sink)
        .with_options({.shards = GetParam(), .batch_size = 128});
    rtcrm::runtime rt{std::move(t)};
    rt.run();

    const auto stats = rt.stats();
    EXPECT_EQ(stats.events_in, static_cast<std::uint64_t>(events));
    EXPECT_EQ(stats.processed, static_cast<std::uint64_t>(events));
    EXPECT_EQ(stats.dead_lettered, 0U);

    std::vector<std::int64_t> expected(players + 1, 0);
    const auto bodies = sink->bodies();
    ASSERT_EQ(bodies.size(), static_cast<std::size_t>(events));
    for (const auto& body : bodies) {
        const auto out = parse_output(body);
        ASSERT_EQ(out.seq, expected[static_cast<std::size_t>(out.player)]) << "player " << out.player << " out of order";
        ++expected[static_cast<std::size_t>(out.player)];
    }
    EXPECT_EQ(expected, next_seq);
}

INSTANTIATE_TEST_SUITE_P(shards, runtime_order, ::testing::Values(1U, 2U, 8U));

// A sink that blocks until released.

TEST(runtime, a_blocked_sink_makes_the_source_wait_with_bounded_queues) {
    auto gate = std::make_shared<gate_sink>();
    auto source = std::make_unique<endless_source>(100);
    auto* src = source.get();
    rtcrm::topology t;
    constexpr std::size_t queue_batches = 4;
    constexpr std::size_t batch_size = 64;
    t.add_source(std::move(source))
        .add_shard_bolt(echo_bolt::factory())
        .add_sink(rtcrm::stream::main, gate)
        .with_options({.shards = 2, .batch_size = batch_size, .queue_batches = queue_batches, .max_in_flight = 1 << 20});
    rtcrm::runtime rt{std::move(t)};
    rt.start();

    // Wait until the source has stalled: its count stops moving.
    std::int64_t before = -1;
    for (int i = 0; i < 200; ++i) {
        std::this_thread::sleep_for(20ms);
        const auto now = src->produced.load();
        if (now == before && now > 0) {
            break;
        }
        before = now;
    }
    const auto stats = rt.stats();
    for (auto depth : stats.queue_depth) {
        EXPECT_LE(depth, queue_batches);
    }
    // Each shard holds at most its queue, one batch in hand (blocked in the sink), and the
    // source at most one poll in hand per shard: nothing grows without bound.
    const auto bound = static_cast<std::int64_t>(2 * (queue_batches + 2) * batch_size + 2 * batch_size);
    EXPECT_LE(src->produced.load(), bound);
    EXPECT_EQ(gate->received(), 0U);
    // While stalled, the source gets idle() calls (a Kafka consumer heartbeats there).
    for (int i = 0; i < 200 && src->idles.load() == 0; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_GT(src->idles.load(), 0);

    gate->open();
    rt.stop();
    const auto after = rt.stats();
    EXPECT_EQ(after.events_in, after.processed);
    EXPECT_EQ(gate->received(), after.processed);
}

// A sink that keeps the outputs and acks them later, in random order, from its own thread.
class shuffling_sink final : public rtcrm::sink {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "shuffle"; }
    void consume(std::span<rtcrm::output> batch) override {
        std::lock_guard lock(mutex_);
        for (auto& out : batch) {
            held_.push_back(std::move(out));
        }
    }
    // Acks a random half of what is held; records the acked (partition, offset) first.
    void ack_some(std::mt19937& rng) {
        std::vector<rtcrm::output> now;
        {
            std::lock_guard lock(mutex_);
            std::shuffle(held_.begin(), held_.end(), rng);
            const auto n = (held_.size() + 1) / 2;
            now.assign(std::make_move_iterator(held_.end() - static_cast<std::ptrdiff_t>(n)),
                       std::make_move_iterator(held_.end()));
            held_.resize(held_.size() - n);
        }
        for (auto& out : now) {
            {
                std::lock_guard lock(acked_mutex_);
                acked_.insert(out.body);
            }
            out.ack.ack();
        }
    }
    bool was_acked(const std::string& body) {
        std::lock_guard lock(acked_mutex_);
        return acked_.count(body) > 0;
    }
    std::size_t held() {
        std::lock_guard lock(mutex_);
        return held_.size();
    }

private:
    std::mutex mutex_;
    std::vector<rtcrm::output> held_;
    std::mutex acked_mutex_;
    std::set<std::string> acked_;
};

TEST(runtime, the_commit_position_never_passes_an_unacked_event) {
    constexpr int events = 20'000;
    std::vector<std::string> lines;
    for (int i = 0; i < events; ++i) {
        lines.push_back(fight_json(i % 50 + 1, i));
    }
    const auto all_lines = lines;  // line i of partition p is all_lines[offset * 2 + p]
    auto sink = std::make_shared<shuffling_sink>();
    auto source = std::make_unique<vector_source>(std::move(lines), 2);
    std::atomic<int> violations{0};
    std::atomic<int> commits{0};
    source->on_commit = [&](const rtcrm::source_position& pos) {
        ++commits;
        for (std::int64_t off = 0; off <= pos.offset; ++off) {
            const auto index = static_cast<std::size_t>(off * 2 + pos.partition);
            if (!sink->was_acked(all_lines[index])) {
                ++violations;
            }
        }
    };
    rtcrm::topology t;
    t.add_source(std::move(source))
        .add_shard_bolt(echo_bolt::factory())
        .add_sink(rtcrm::stream::main, sink)
        .with_options({.shards = 2, .batch_size = 64, .commit_interval = 1ms});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    std::mt19937 rng(3);
    while (!rt.wait_for(1ms)) {
        sink->ack_some(rng);
    }
    EXPECT_EQ(violations.load(), 0);
    EXPECT_GT(commits.load(), 2);
    EXPECT_EQ(rt.stats().processed, static_cast<std::uint64_t>(events));
}

TEST(runtime, stop_drains_events_in_flight_without_loss_or_duplicates) {
    auto sink = std::make_shared<collecting_sink>();
    auto source = std::make_unique<endless_source>(1000);
    rtcrm::topology t;
    t.add_source(std::move(source))
        .add_shard_bolt(echo_bolt::factory())
        .add_sink(rtcrm::stream::main, sink)
        .with_options({.shards = 2, .batch_size = 256});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    std::this_thread::sleep_for(100ms);
    rt.stop();
    const auto stats = rt.stats();
    ASSERT_GT(stats.events_in, 0U);
    EXPECT_EQ(stats.events_in, stats.processed);
    const auto bodies = sink->bodies();
    EXPECT_EQ(bodies.size(), stats.processed);
    EXPECT_EQ(std::set<std::string>(bodies.begin(), bodies.end()).size(), bodies.size());
    for (auto depth : stats.queue_depth) {
        EXPECT_EQ(depth, 0U);
    }
}

TEST(runtime, bad_events_are_dead_lettered_and_the_run_continues) {
    std::vector<std::string> lines = {
        fight_json(1, 0),
        R"({"player_id":1,"type":)",                   // malformed
        R"({"type":"fight","ts":1})",                  // missing key
        R"({"player_id":true,"type":"fight","ts":1})", // wrong type
        std::string(70 * 1024, ' '),                   // over 64 KiB
        fight_json(1, 1),
    };
    auto main = std::make_shared<collecting_sink>();
    auto dead = std::make_shared<collecting_sink>();
    rtcrm::topology t;
    t.add_source(std::make_unique<vector_source>(lines))
        .add_shard_bolt(echo_bolt::factory())
        .add_sink(rtcrm::stream::main, main)
        .add_sink(rtcrm::stream::dead_letter, dead)
        .with_options({.shards = 2});
    rtcrm::runtime rt{std::move(t)};
    rt.run();
    EXPECT_EQ(main->bodies().size(), 2U);
    const auto dead_bodies = dead->bodies();
    ASSERT_EQ(dead_bodies.size(), 4U);
    std::multiset<std::string> reasons;
    for (const auto& body : dead_bodies) {
        rapidjson::Document d;
        d.Parse(body.c_str());
        ASSERT_FALSE(d.HasParseError()) << body;
        reasons.insert(d["reason"].GetString());
        EXPECT_STREQ(d["source"].GetString(), "vector");
        EXPECT_TRUE(d.HasMember("raw"));
        EXPECT_GE(d["offset"].GetInt64(), 1);
    }
    EXPECT_EQ(reasons, (std::multiset<std::string>{"parse_error", "missing_field", "wrong_type", "too_large"}));
    const auto stats = rt.stats();
    EXPECT_EQ(stats.events_in, 6U);
    EXPECT_EQ(stats.processed + stats.dead_lettered, stats.events_in);
}

TEST(runtime, a_throwing_bolt_dead_letters_its_batch_and_the_run_continues) {
    class flaky_bolt final : public rtcrm::bolt {
    public:
        [[nodiscard]] std::string_view name() const noexcept override { return "flaky"; }
        void process(std::span<rtcrm::event> batch, rtcrm::bolt_context&) override {
            for (auto& ev : batch) {
                if (ev.field("boom") != nullptr) {
                    throw std::runtime_error("boom");
                }
            }
        }
    };
    std::vector<std::string> lines = {R"({"player_id":1,"type":"x","boom":1})", fight_json(2, 0)};
    auto dead = std::make_shared<collecting_sink>();
    rtcrm::topology t;
    t.add_source(std::make_unique<vector_source>(lines))
        .add_shard_bolt([](const rtcrm::bolt_placement&) { return std::make_unique<flaky_bolt>(); })
        .add_sink(rtcrm::stream::dead_letter, dead)
        .with_options({.shards = 2, .batch_size = 1});
    rtcrm::runtime rt{std::move(t)};
    rt.run();
    const auto stats = rt.stats();
    EXPECT_EQ(stats.handler_errors, 1U);
    EXPECT_EQ(stats.processed, 1U);
    ASSERT_EQ(dead->bodies().size(), 1U);
    EXPECT_NE(dead->bodies()[0].find("handler_failed"), std::string::npos);
}

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
    ASSERT_FALSE(rt.store()->scan([&](const rtcrm::profile& p) {
        ++profiles;
        EXPECT_EQ(p.recent().size(), 10U);
        return true;
    }));
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
    ASSERT_FALSE(reopened.scan([&](const rtcrm::profile& p) {
        ++profiles;
        EXPECT_EQ(p.recent().size(), 16U) << "player " << p.key().text();  // 40 events; the ring keeps 16
        return true;
    }));
    EXPECT_EQ(profiles, players);
    std::filesystem::remove_all(dir);
}

// Validation runs on every shard at once; schemas with `pattern` (purchase.currency) once
// crashed because RapidJSON 1.1.0 keeps regex state in the compiled schema.
TEST(runtime, validates_generated_traffic_on_several_shards_at_once) {
    rtcrm::topology t;
    t.add_source(std::make_unique<rtcrm::generator_source>(rtcrm::generator_options{.events = 60'000, .players = 500}))
        .add_ingest_bolt(rtcrm::validation_bolt::factory({.schema_dir = "examples/schemas"}))
        .with_options({.shards = 4, .batch_size = 64});
    rtcrm::runtime rt{std::move(t)};
    rt.run();
    const auto stats = rt.stats();
    EXPECT_EQ(stats.processed, 60'000U);
    EXPECT_EQ(stats.dead_lettered, 0U);
}

// Like a Kafka consumer across a rebalance: reads partition 0 up to offset 99, gives it
// up (release) while those events are still in flight, then gets it back and reads it
// again from offset 50 (the last committed position).
class rebalancing_source final : public rtcrm::source {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "rebalancing"; }
    void attach(rtcrm::source_control& control) override { control_ = &control; }
    rtcrm::poll_status poll(std::vector<rtcrm::record>& out, std::size_t, std::chrono::milliseconds) override {
        if (phase_ == 0) {
            emit(out, 0, 100);
            phase_ = 1;
            return rtcrm::poll_status::more;
        }
        if (phase_ == 1) {
            in_flight_at_release = control_->in_flight(0);
            control_->release(0);
            released_positions = control_->safe_positions();
            emit(out, 50, 150);
            phase_ = 2;
            return rtcrm::poll_status::more;
        }
        return rtcrm::poll_status::end;
    }
    void commit(std::span<const rtcrm::source_position> positions) override {
        for (const auto& p : positions) {
            committed.push_back(p.offset);
        }
    }
    std::size_t in_flight_at_release = 0;
    std::vector<rtcrm::source_position> released_positions;
    std::vector<std::int64_t> committed;

private:
    static void emit(std::vector<rtcrm::record>& out, std::int64_t from, std::int64_t to) {
        for (auto offset = from; offset < to; ++offset) {
            rtcrm::record rec{fight_json(offset % 7 + 1, offset), std::nullopt, {}};
            rec.origin.offset = offset;
            out.push_back(std::move(rec));
        }
    }
    rtcrm::source_control* control_ = nullptr;
    int phase_ = 0;
};

TEST(runtime, a_released_partition_can_be_read_again_from_an_earlier_offset) {
    auto gate = std::make_shared<gate_sink>();
    auto source = std::make_unique<rebalancing_source>();
    auto* src = source.get();
    rtcrm::topology t;
    t.add_source(std::move(source)).add_shard_bolt(echo_bolt::factory()).add_sink(rtcrm::stream::main, gate)
        .with_options({.shards = 2});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    std::this_thread::sleep_for(50ms);
    gate->open();  // the first 100 stay in flight until now, across the release
    rt.wait();
    const auto stats = rt.stats();
    EXPECT_EQ(stats.events_in, 200U);
    EXPECT_EQ(stats.processed, 200U);
    EXPECT_EQ(stats.nacked, 0U);
    EXPECT_EQ(gate->received(), 200U);
    EXPECT_EQ(src->in_flight_at_release, 100U);   // nothing was acked before the gate opened
    EXPECT_TRUE(src->released_positions.empty()); // a released partition reports nothing
    ASSERT_FALSE(src->committed.empty());
    EXPECT_EQ(src->committed.back(), 149);
    for (auto offset : src->committed) {
        EXPECT_GE(offset, 50);  // positions come from the second reading only
    }
}

namespace {
constexpr std::int64_t ttl_day_ms = 86'400'000;
constexpr std::int64_t ttl_start_ms = 1'763'800'000'000;
}  // namespace

TEST(runtime, the_ttl_sweep_deletes_inactive_profiles_from_the_store) {
    auto store = std::make_shared<rtcrm::memory_store>();
    rtcrm::write_batch stale;
    for (int i = 1000; i < 1100; ++i) {
        rtcrm::profile p{rtcrm::player_key{i}};
        p.record_event("login", ttl_start_ms - 30 * ttl_day_ms, "old");
        stale.profiles.push_back(std::move(p));
    }
    ASSERT_FALSE(store->write(stale));
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
    t.add_source(std::make_unique<rtcrm::testing::vector_source>(lines)).with_store(store).with_options(options);
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
std::size_t wait_for_store_size(const rtcrm::memory_store& store, std::size_t want) {
    for (int i = 0; i < 1000 && store.size() < want; ++i) {
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
    ASSERT_FALSE(store->write(stored));
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
    ASSERT_FALSE(rt.scan_profiles(
        [&](std::size_t w) -> rtcrm::profile_visitor {
            return [&seen, w](const rtcrm::profile& p) {
                seen[w].insert(std::string{p.key().text()});
                return true;
            };
        },
        3));
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

// A shard bolt that blocks in process() until the test opens its gate (a handler or a
// client that never returns), and says so in activity() meanwhile.
class blocking_bolt final : public rtcrm::bolt {
public:
    struct gate {
        std::mutex mutex;
        std::condition_variable cv;
        bool open = false;  // guarded by mutex
        void release() {
            {
                std::lock_guard lock(mutex);
                open = true;
            }
            cv.notify_all();
        }
    };

    explicit blocking_bolt(std::shared_ptr<gate> g) : gate_(std::move(g)) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "blocker"; }
    void process(std::span<rtcrm::event>, rtcrm::bolt_context&) override {
        inside_.store(true);
        std::unique_lock lock(gate_->mutex);
        gate_->cv.wait(lock, [&] { return gate_->open; });
        inside_.store(false);
    }
    [[nodiscard]] std::string activity() const override { return inside_.load() ? "waiting for the test's gate" : ""; }
    static rtcrm::bolt_factory factory(std::shared_ptr<gate> g) {
        return [g](const rtcrm::bolt_placement&) { return std::make_unique<blocking_bolt>(g); };
    }

private:
    std::shared_ptr<gate> gate_;
    std::atomic<bool> inside_{false};
};

bool all_stuck(const rtcrm::runtime& rt) {
    const auto health = rt.shard_health();
    return std::all_of(health.begin(), health.end(), [](const rtcrm::shard_health& h) { return h.stuck; });
}

TEST(runtime, a_shard_busy_past_stuck_after_is_reported_stuck_with_what_its_bolt_is_doing_until_it_finishes) {
    auto gate = std::make_shared<blocking_bolt::gate>();
    auto sink = std::make_shared<collecting_sink>();
    rtcrm::topology t;
    t.add_source(std::make_unique<vector_source>(std::vector<std::string>{fight_json(1, 0)}))
        .add_shard_bolt(echo_bolt::factory())  // says nothing: the blocker, asked next, answers
        .add_shard_bolt(blocking_bolt::factory(gate))
        .add_sink(rtcrm::stream::main, sink)
        .with_options({.shards = 1, .stuck_after = 50ms});
    rtcrm::runtime rt{std::move(t)};
    ASSERT_EQ(rt.shard_health().size(), 1U);
    EXPECT_FALSE(rt.shard_health()[0].stuck);
    rt.start();

    ASSERT_TRUE(rtcrm::testing::eventually([&] { return rt.shard_health()[0].stuck; }));
    const auto stuck = rt.shard_health()[0];
    EXPECT_EQ(stuck.shard, 0U);
    EXPECT_FALSE(stuck.finished);
    EXPECT_GE(stuck.busy_for, 50ms);
    EXPECT_NE(stuck.doing.find("shard bolt 'blocker': waiting for the test's gate"), std::string::npos) << stuck.doing;
    ASSERT_TRUE(rtcrm::testing::eventually([&] { return rt.stuck_episodes() == 1; }));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(rt.stuck_episodes(), 1U) << "one episode, however long it lasts";

    gate->release();
    ASSERT_TRUE(rtcrm::testing::eventually([&] { return !rt.shard_health()[0].stuck; }));
    const auto report = rt.stop();
    EXPECT_TRUE(report.stopped);
    EXPECT_TRUE(report.clean()) << report.summary();
    EXPECT_EQ(report.summary(), "");
    EXPECT_EQ(rt.stuck_episodes(), 1U);
    EXPECT_EQ(rt.shard_health()[0].busy_for, 0ms);
    EXPECT_TRUE(rt.shard_health()[0].finished);
    EXPECT_EQ(sink->bodies().size(), 1U);
}

TEST(runtime, stop_returns_after_the_drain_timeout_while_a_shard_is_stuck_and_says_what_was_lost) {
    auto gate = std::make_shared<blocking_bolt::gate>();
    auto sink = std::make_shared<collecting_sink>();
    constexpr auto drain_timeout = 300ms;
    rtcrm::topology t;
    // Small queues: the source soon waits for room a stuck shard never makes.
    t.add_source(std::make_unique<endless_source>(100))
        .add_shard_bolt(blocking_bolt::factory(gate))
        .add_shard_bolt(echo_bolt::factory())
        .add_sink(rtcrm::stream::main, sink)
        .with_options(
            {.shards = 2, .batch_size = 64, .queue_batches = 2, .drain_timeout = drain_timeout, .stuck_after = 50ms});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    ASSERT_TRUE(rtcrm::testing::eventually([&] { return all_stuck(rt); }));

    const auto asked = std::chrono::steady_clock::now();
    const auto report = rt.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 10 * (drain_timeout + 1s)) << "stop() waited for a stuck shard";
    EXPECT_FALSE(report.stopped);
    EXPECT_FALSE(report.clean());
    ASSERT_EQ(report.unfinished.size(), 2U);
    for (const auto& h : report.unfinished) {
        EXPECT_TRUE(h.stuck);
        EXPECT_NE(h.doing.find("shard bolt 'blocker': waiting for the test's gate"), std::string::npos) << h.doing;
    }
    ASSERT_EQ(report.sources.size(), 1U);
    EXPECT_EQ(report.sources[0].name, "endless");
    EXPECT_TRUE(report.sources[0].closed) << "the source stopped waiting for room and closed";
    EXPECT_GT(report.sources[0].read, 0U);
    EXPECT_GT(report.sources[0].unacked + report.sources[0].nacked, 0U);
    EXPECT_GT(report.in_flight, 0U);
    const auto summary = report.summary();
    EXPECT_NE(summary.find("shard 0 did not finish, stuck for"), std::string::npos) << summary;
    EXPECT_NE(summary.find("source endless:"), std::string::npos) << summary;
    EXPECT_TRUE(rt.wait_for(0ms)) << "wait() returns once stop() gave up";

    // Once the shards are let go and have recovered, a second stop() finishes the job.
    gate->release();
    ASSERT_TRUE(rtcrm::testing::eventually([&] {
        const auto health = rt.shard_health();
        return std::none_of(health.begin(), health.end(), [](const rtcrm::shard_health& h) { return h.stuck; });
    }));
    const auto again = rt.stop();
    EXPECT_TRUE(again.stopped) << again.summary();
    EXPECT_TRUE(again.unfinished.empty());
}

TEST(runtime, the_destructor_leaves_a_stuck_shard_running_instead_of_waiting_for_it) {
    auto gate = std::make_shared<blocking_bolt::gate>();
    constexpr auto drain_timeout = 200ms;
    const auto asked = [&] {
        rtcrm::topology t;
        t.add_source(std::make_unique<endless_source>(10))
            .add_shard_bolt(blocking_bolt::factory(gate))
            .with_options({.shards = 1,
                           .batch_size = 16,
                           .queue_batches = 2,
                           .drain_timeout = drain_timeout,
                           .stuck_after = 20ms});
        rtcrm::runtime rt{std::move(t)};
        rt.start();
        EXPECT_TRUE(rtcrm::testing::eventually([&] { return all_stuck(rt); }));
        return std::chrono::steady_clock::now();
    }();
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 10 * (drain_timeout + 1s))
        << "the destructor waited for a stuck shard";
    gate->release();  // the shard thread then ends by itself, in the state the runtime left to it
}

TEST(runtime, refuses_a_topology_without_sources) {
    EXPECT_THROW(rtcrm::runtime{rtcrm::topology{}}, rtcrm::error);
}

TEST(runtime_options, validate_names_the_bad_field) {
    try {
        rtcrm::runtime_options{.batch_size = 0}.validate();
        FAIL() << "expected a throw";
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string{e.what()}.find("batch_size"), std::string::npos);
    }
}

TEST(runtime_options, a_negative_stuck_after_is_refused_and_zero_turns_the_watchdog_off) {
    try {
        rtcrm::runtime_options{.stuck_after = -1ms}.validate();
        FAIL() << "expected a throw";
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string{e.what()}.find("stuck_after"), std::string::npos);
    }
    EXPECT_NO_THROW(rtcrm::runtime_options{.stuck_after = 0ms}.validate());
    EXPECT_EQ(rtcrm::runtime_options{}.stuck_after, 5s);
}

}  // namespace
