#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/error.hpp>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace {

TEST(offset_tracker, safe_position_waits_for_the_oldest_incomplete_event) {
    rtcrm::offset_tracker tracker{8};
    auto a = tracker.track(10);
    auto b = tracker.track(11);
    auto c = tracker.track(12);
    ASSERT_TRUE(a && b && c);
    c->ack();
    b->ack();
    EXPECT_EQ(tracker.advance(), std::nullopt);
    a->ack();
    EXPECT_EQ(tracker.advance(), 12);
    EXPECT_EQ(tracker.in_flight(), 0U);
}

TEST(offset_tracker, an_event_completes_only_when_every_share_is_acked) {
    rtcrm::offset_tracker tracker{8};
    auto a = tracker.track(1);
    auto s1 = a->share();
    auto s2 = a->share();
    a->ack();
    s1.ack();
    EXPECT_EQ(tracker.advance(), std::nullopt);
    s2.ack();
    EXPECT_EQ(tracker.advance(), 1);
}

TEST(offset_tracker, refuses_more_than_capacity_in_flight) {
    rtcrm::offset_tracker tracker{4};
    std::vector<rtcrm::ack_token> tokens;
    for (int i = 0; i < 4; ++i) {
        auto t = tracker.track(i);
        ASSERT_TRUE(t);
        tokens.push_back(std::move(*t));
    }
    EXPECT_FALSE(tracker.track(4));
    tokens[0].ack();
    tracker.advance();
    EXPECT_TRUE(tracker.track(4));
    for (auto& t : tokens) {
        t.ack();
    }
}

TEST(offset_tracker, a_dropped_token_is_a_nack_that_pins_the_position) {
    rtcrm::offset_tracker tracker{8};
    auto a = tracker.track(1);
    a->ack();
    { auto b = tracker.track(2); }  // dropped without ack
    auto c = tracker.track(3);
    c->ack();
    EXPECT_EQ(tracker.advance(), 1);
    EXPECT_EQ(tracker.failed(), 1U);
    EXPECT_EQ(tracker.first_failure(), rtcrm::errc::dropped);
    EXPECT_EQ(tracker.in_flight(), 0U);  // the pipeline keeps flowing
}

TEST(offset_tracker, acks_from_many_threads_complete_every_event) {
    rtcrm::offset_tracker tracker{1 << 12};
    std::vector<rtcrm::ack_token> tokens;
    for (int i = 0; i < 4000; ++i) {
        tokens.push_back(std::move(*tracker.track(i)));
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (std::size_t i = static_cast<std::size_t>(t); i < tokens.size(); i += 4) {
                tokens[i].ack();
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(tracker.advance(), 3999);
}

}  // namespace
