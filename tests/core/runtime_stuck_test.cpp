// A stuck shard: the watchdog and shard_health() say what it is doing, stop() and the
// destructor do not wait for it longer than the drain timeout.
#include <rtcrm/core/runtime.hpp>

#include "support/test_components.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>

namespace {

using namespace std::chrono_literals;
using namespace rtcrm::testing;

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

}  // namespace
