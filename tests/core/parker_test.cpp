// The parker the shards sleep on (core/router.hpp): a wake-up is never lost, and a
// deadline ends the sleep. (A wake-up may also come without an unpark: callers look again.)
#include "core/router.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using rtcrm::detail::parker;

TEST(parker, does_not_sleep_when_ready_already_holds) {
    parker p;
    const auto deadline = clock_type::now() + 30s;
    p.park_until([] { return true; }, deadline);
    EXPECT_LT(clock_type::now(), deadline);
}

TEST(parker, an_unpark_wakes_the_sleeper_before_its_deadline) {
    parker p;
    std::atomic<bool> work{false};
    const auto deadline = clock_type::now() + 30s;
    std::thread waker([&] {
        std::this_thread::sleep_for(20ms);
        work.store(true);
        p.unpark();
    });
    while (!work.load()) {
        p.park_until([&] { return work.load(); }, deadline);
        ASSERT_LT(clock_type::now(), deadline);  // woken, not timed out
    }
    waker.join();
}

// The race the parker exists for: work arrives between the sleeper's last look and its
// sleep, many times over; every piece of work is seen long before the deadline.
TEST(parker, no_wake_up_is_lost_between_the_last_look_and_the_sleep) {
    parker p;
    std::atomic<int> produced{0};
    constexpr int rounds = 20000;
    const auto deadline = clock_type::now() + 60s;
    std::thread producer([&] {
        for (int i = 1; i <= rounds; ++i) {
            produced.store(i, std::memory_order_release);
            p.unpark();
            while (produced.load(std::memory_order_acquire) == i && i != rounds) {
                std::this_thread::yield();  // the consumer takes it (resets to 0 below)
            }
        }
    });
    int seen = 0;
    while (seen < rounds) {
        p.park_until([&] { return produced.load(std::memory_order_acquire) != 0; }, deadline);
        ASSERT_LT(clock_type::now(), deadline);
        if (const int v = produced.load(std::memory_order_acquire); v != 0) {
            seen = v;
            if (v != rounds) {
                produced.store(0, std::memory_order_release);
            }
        }
    }
    producer.join();
    EXPECT_EQ(seen, rounds);
}

TEST(parker, many_wake_ups_while_parked_end_one_sleep_and_a_deadline_ends_the_next) {
    parker p;
    std::thread waker([&] {
        std::this_thread::sleep_for(20ms);
        for (int i = 0; i < 100; ++i) {
            p.unpark();
        }
    });
    p.park_until([] { return false; }, clock_type::now() + 30s);
    waker.join();
    // Nobody wakes it now: it sleeps until the deadline (a late wake-up of the burst may
    // end one sleep early, as callers allow), and the deadline ends it.
    const auto deadline = clock_type::now() + 50ms;
    int sleeps = 0;
    while (clock_type::now() < deadline) {
        p.park_until([] { return false; }, deadline);
        ++sleeps;
    }
    EXPECT_LT(sleeps, 10);  // a few sleeps, not a spin on a stale wake-up
}

}  // namespace
