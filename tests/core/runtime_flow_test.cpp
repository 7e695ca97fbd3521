// The runtime's path of an event: per-player order, backpressure, commits behind acks,
// the drain at stop, dead letters, partitions released and read again.
#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/validation_bolt.hpp>

#include "support/test_components.hpp"

#include <rapidjson/document.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace rtcrm::testing;

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

// Validation runs on every shard at once; schemas with `pattern` (purchase.currency) are
// the risk: RapidJSON 1.1.0 keeps regex state in the compiled schema.
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
    // Events of the first reading that no shard had taken at the release are not applied
    // (their partition's next owner reads them again): nacked, not committed.
    EXPECT_GE(stats.processed, 100U);
    EXPECT_EQ(stats.processed + stats.nacked, 200U);
    EXPECT_EQ(gate->received(), stats.processed);
    EXPECT_EQ(src->in_flight_at_release, 100U);   // nothing was acked before the gate opened
    EXPECT_TRUE(src->released_positions.empty()); // a released partition reports nothing
    ASSERT_FALSE(src->committed.empty());
    EXPECT_EQ(src->committed.back(), 149);
    for (auto offset : src->committed) {
        EXPECT_GE(offset, 50);  // positions come from the second reading only
    }
}

// A bolt that holds the shard on its first batch until `go` is set, saying when it does.
struct holding_bolt final : rtcrm::bolt {
    std::atomic<bool>* holding;
    std::atomic<bool>* go;
    int batches = 0;
    holding_bolt(std::atomic<bool>* h, std::atomic<bool>* g) : holding(h), go(g) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "holding"; }
    void process(std::span<rtcrm::event> batch, rtcrm::bolt_context& ctx) override {
        if (batches++ == 0) {
            holding->store(true);
            while (!go->load()) {
                std::this_thread::sleep_for(1ms);
            }
        }
        for (auto& ev : batch) {
            ctx.emit(ev, rtcrm::stream::main, std::string{ev.raw()});
        }
    }
};

// Reads one event of partition 1 (the shard holds on it), then 50 of partition 0, which
// wait in the shard's queue; gives partition 0 up, then lets the shard go on.
class giving_up_source final : public rtcrm::source {
public:
    giving_up_source(std::atomic<bool>* holding, std::atomic<bool>* go) : holding_(holding), go_(go) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "giving-up"; }
    void attach(rtcrm::source_control& control) override { control_ = &control; }
    rtcrm::poll_status poll(std::vector<rtcrm::record>& out, std::size_t, std::chrono::milliseconds) override {
        switch (phase_++) {
        case 0: emit(out, 1, 0, 1); return rtcrm::poll_status::more;
        case 1: emit(out, 0, 0, 50); return rtcrm::poll_status::more;
        default:
            while (!holding_->load()) {
                std::this_thread::sleep_for(1ms);
            }
            control_->release(0);  // a rebalance took partition 0 while its events were queued
            go_->store(true);
            return rtcrm::poll_status::end;
        }
    }

private:
    static void emit(std::vector<rtcrm::record>& out, std::int32_t partition, std::int64_t from, std::int64_t to) {
        for (auto offset = from; offset < to; ++offset) {
            rtcrm::record rec{fight_json(1, offset), std::nullopt, {}};
            rec.origin.partition = partition;
            rec.origin.offset = offset;
            out.push_back(std::move(rec));
        }
    }
    std::atomic<bool>* holding_;
    std::atomic<bool>* go_;
    rtcrm::source_control* control_ = nullptr;
    int phase_ = 0;
};

TEST(runtime, queued_events_of_a_partition_given_up_are_not_applied) {
    std::atomic<bool> holding{false};
    std::atomic<bool> go{false};
    auto collected = std::make_shared<collecting_sink>();
    rtcrm::topology t;
    t.add_source(std::make_unique<giving_up_source>(&holding, &go))
        .add_shard_bolt([&](const rtcrm::bolt_placement&) { return std::make_unique<holding_bolt>(&holding, &go); })
        .add_sink(rtcrm::stream::main, collected)
        .with_options({.shards = 1});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    rt.wait();
    const auto stats = rt.stats();
    EXPECT_EQ(stats.events_in, 51U);
    EXPECT_EQ(stats.processed, 1U);  // the partition's next owner applies the other 50
    EXPECT_EQ(collected->bodies().size(), 1U);
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
