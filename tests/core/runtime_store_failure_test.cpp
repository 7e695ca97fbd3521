// The runtime and a durable store whose writes fail (a full disk): the failure is named
// while it lasts (store_failure, readiness), counted, and at the drain deadline the
// events are given up as unstored, within drain_timeout, and reported by stop().
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/runtime.hpp>

#include "support/full_disk_store.hpp"
#include "support/test_components.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <system_error>

namespace {

using namespace std::chrono_literals;
using namespace rtcrm::testing;

std::vector<std::string> fights(int n) {
    std::vector<std::string> lines;
    for (int i = 0; i < n; ++i) {
        lines.push_back(fight_json(i % 10 + 1, i / 10));
    }
    return lines;
}

TEST(runtime_store_failure, a_failing_store_is_named_while_it_fails_and_clears_when_it_writes_again) {
    auto store = std::make_shared<full_disk_store>();
    rtcrm::topology t;
    t.add_source(std::make_unique<endless_source>(10)).with_store(store).with_options({.shards = 2});
    rtcrm::runtime rt{std::move(t)};
    EXPECT_FALSE(rt.store_failure().has_value());
    rt.start();
    ASSERT_TRUE(eventually([&] { return rt.store_failure().has_value(); }));
    const auto why = rt.store_failure().value_or("");
    EXPECT_NE(why.find("store full-disk"), std::string::npos) << why;
    EXPECT_NE(why.find("No space left on device"), std::string::npos) << why;
    EXPECT_GT(rt.stats().store_errors, 0U);
    store->full.store(false);
    EXPECT_TRUE(eventually([&] { return !rt.store_failure().has_value(); }));
    const auto report = rt.stop();
    EXPECT_TRUE(report.stopped);
    EXPECT_EQ(report.unstored, 0U);
    EXPECT_EQ(rt.stats().unstored, 0U);
}

// The sources end while the store fails: the drain waits drain_timeout, then the writes
// are given up and every event is reported unstored; the run ends on its own.
TEST(runtime_store_failure, the_drain_gives_up_a_failing_store_and_reports_the_events_not_stored) {
    constexpr int events = 200;
    auto store = std::make_shared<full_disk_store>();
    rtcrm::topology t;
    t.add_source(std::make_unique<vector_source>(fights(events)))
        .with_store(store)
        .with_options({.shards = 2, .drain_timeout = 300ms});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    ASSERT_TRUE(rt.wait_for(60s)) << "the drain did not end with the store failing";
    const auto stats = rt.stats();
    EXPECT_EQ(stats.processed, static_cast<std::uint64_t>(events));
    EXPECT_EQ(stats.unstored, static_cast<std::uint64_t>(events));
    EXPECT_GT(stats.store_errors, 0U);
    EXPECT_NE(stats.summary().find("unstored=200"), std::string::npos) << stats.summary();
    const auto report = rt.stop();
    EXPECT_TRUE(report.stopped);
    EXPECT_EQ(report.unstored, static_cast<std::uint64_t>(events));
    EXPECT_FALSE(report.clean());
    EXPECT_NE(report.summary().find("200 events processed and not stored"), std::string::npos) << report.summary();
    EXPECT_NE(report.summary().find("No space left on device"), std::string::npos) << report.summary();
}

// stop() while the store fails gives up its writes at the stop's deadline: the stop
// returns having stopped every thread (nothing stuck), with the events reported.
TEST(runtime_store_failure, a_stop_gives_up_a_failing_store_at_its_deadline) {
    auto store = std::make_shared<full_disk_store>();
    rtcrm::topology t;
    t.add_source(std::make_unique<endless_source>(10))
        .with_store(store)
        .with_options({.shards = 2, .drain_timeout = 300ms});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    ASSERT_TRUE(eventually([&] { return rt.stats().store_errors > 0; }));
    const auto report = rt.stop();
    EXPECT_TRUE(report.stopped) << report.summary();
    EXPECT_GT(report.unstored, 0U);
    EXPECT_FALSE(report.clean());
    EXPECT_EQ(rt.stats().unstored, report.unstored);
}

}  // namespace
