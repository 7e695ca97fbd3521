// The libuv and Asio bridges: triggers on the host's loop thread, in per-player order,
// acked when the handler returns; backpressure; shutdown with the loop.
#include <rtcrm/asio/asio_bridge.hpp>
#include <rtcrm/core/event_builder.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/uv/uv_bridge.hpp>

#include "core/string_pool.hpp"
#include "support/test_components.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <uv.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using rtcrm::testing::echo_bolt;
using rtcrm::testing::eventually;
using rtcrm::testing::fight_json;

rtcrm::topology bridge_topology(std::shared_ptr<rtcrm::sink> bridge, std::size_t submit_capacity = 4096) {
    rtcrm::topology t;
    t.add_shard_bolt(echo_bolt::factory()).add_sink(rtcrm::stream::main, std::move(bridge));
    t.with_options(
        {.shards = 2, .batch_size = 64, .queue_batches = 4, .max_in_flight = 1024, .submit_capacity = submit_capacity});
    return t;
}

// Checks what a handler sees: the thread, and each player's sequence numbers in order.
struct order_check {
    std::thread::id expected_thread;
    std::map<std::int64_t, std::int64_t> next_seq;
    std::size_t seen = 0;
    std::size_t wrong_thread = 0;
    std::size_t out_of_order = 0;

    void see(const rtcrm::output& out) {
        ++seen;
        if (std::this_thread::get_id() != expected_thread) {
            ++wrong_thread;
        }
        rapidjson::Document d;
        d.Parse(out.body.c_str());
        const auto player = d["player_id"].GetInt64();
        const auto seq = d["seq"].GetInt64();
        auto& next = next_seq[player];
        if (seq != next) {
            ++out_of_order;
        }
        next = seq + 1;
    }
};

// Submits `per_player` events for each of `players` players, in sequence order.
void submit_all(rtcrm::runtime& rt, int players, int per_player) {
    for (int seq = 0; seq < per_player; ++seq) {
        for (int p = 1; p <= players; ++p) {
            ASSERT_EQ(rt.submit(fight_json(p, seq), 30s), rtcrm::submit_status::accepted);
        }
    }
}

TEST(uv_bridge, delivers_on_the_loop_thread_in_player_order_and_stops_with_the_loop) {
    constexpr int players = 50;
    constexpr int per_player = 400;
    constexpr std::size_t total = players * per_player;
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    order_check check;
    std::unique_ptr<rtcrm::runtime> rt;
    bool stopped = false;
    auto bridge = std::make_shared<rtcrm::uv_bridge>(
        &loop, [&](rtcrm::output& out) { check.see(out); },
        rtcrm::loop_bridge_options{.capacity = 256, .max_per_turn = 64});
    rt = std::make_unique<rtcrm::runtime>(bridge_topology(bridge));
    rt->start();
    std::thread host([&] { submit_all(*rt, players, per_player); });
    // The loop runs here; when everything arrived, a timer on the loop stops the runtime
    // from the loop thread without blocking it, and the loop ends after the shutdown.
    struct ctx {
        order_check* check;
        rtcrm::uv_bridge* bridge;
        rtcrm::runtime* rt;
        bool* stopped;
    } c{&check, bridge.get(), rt.get(), &stopped};
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = &c;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
            auto* x = static_cast<ctx*>(t->data);
            if (x->check->seen == total) {
                uv_timer_stop(t);
                uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
                x->bridge->stop_runtime(*x->rt, [x] { *x->stopped = true; });
            }
        },
        5, 5);
    check.expected_thread = std::this_thread::get_id();
    uv_run(&loop, UV_RUN_DEFAULT);  // returns once the bridge shut down: nothing else is open
    host.join();
    EXPECT_TRUE(stopped);
    EXPECT_EQ(check.seen, total);
    EXPECT_EQ(check.wrong_thread, 0U);
    EXPECT_EQ(check.out_of_order, 0U);
    EXPECT_EQ(bridge->stats().delivered, total);
    EXPECT_EQ(rt->stats().nacked, 0U);
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(uv_bridge, a_loop_that_does_not_run_backs_the_pipeline_up_and_then_gets_everything) {
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    std::size_t seen = 0;
    auto bridge = std::make_shared<rtcrm::uv_bridge>(
        &loop, [&](rtcrm::output&) { ++seen; }, rtcrm::loop_bridge_options{.capacity = 16, .max_per_turn = 8});
    rtcrm::runtime rt{bridge_topology(bridge, 64)};
    rt.start();
    std::size_t accepted = 0;
    // The loop is not running: the bridge fills, the shards wait, the queues fill.
    for (std::int64_t i = 0;; ++i) {
        const auto s = rt.submit(fight_json(i % 7 + 1, i), 200ms);
        if (s != rtcrm::submit_status::accepted) {
            ASSERT_EQ(s, rtcrm::submit_status::full);
            break;
        }
        ++accepted;
        ASSERT_LT(accepted, 100'000U) << "the pipeline never pushed back";
    }
    EXPECT_LE(bridge->stats().queued, 16U);
    // Now the loop runs until everything accepted was delivered.
    while (seen < accepted) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    EXPECT_EQ(seen, accepted);
    rtcrm::runtime* rtp = &rt;
    bool stopped = false;
    bridge->stop_runtime(*rtp, [&] { stopped = true; });
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_TRUE(stopped);
    EXPECT_EQ(rt.stats().nacked, 0U);
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(uv_bridge, a_throwing_handler_nacks_its_output_and_the_rest_flows) {
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    std::size_t calls = 0;
    auto bridge = std::make_shared<rtcrm::uv_bridge>(&loop, [&](rtcrm::output&) {
        if (++calls % 3 == 0) {
            throw std::runtime_error("player disconnected");
        }
    });
    rtcrm::runtime rt{bridge_topology(bridge)};
    rt.start();
    for (int i = 0; i < 30; ++i) {
        ASSERT_EQ(rt.submit(fight_json(1, i), 5s), rtcrm::submit_status::accepted);
    }
    while (calls < 30) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    bridge->stop_runtime(rt);
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(bridge->stats().failed, 10U);
    EXPECT_EQ(bridge->stats().delivered, 20U);
    EXPECT_EQ(rt.stats().nacked, 10U);
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

// A delivered body goes back to the thread that wrote it (into its string_pool, where its
// next bodies are written), unless the handler kept it.
TEST(uv_bridge, a_delivered_body_goes_back_to_the_thread_that_wrote_it_unless_the_handler_keeps_it) {
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    const std::string body(200, 'x');
    std::vector<std::string> kept_by_handler;
    std::size_t seen = 0;
    auto bridge = std::make_shared<rtcrm::uv_bridge>(&loop, [&](rtcrm::output& out) {
        EXPECT_EQ(out.body, body);
        if (++seen % 2 == 0) {
            kept_by_handler.push_back(std::move(out.body));  // the host keeps every other body
        }
    });
    std::size_t kept_by_producer = 0;
    std::size_t next_body_capacity = 0;
    std::thread producer([&] {
        std::vector<rtcrm::output> batch(10);
        for (auto& out : batch) {
            out.body = body;
        }
        bridge->consume(batch);
        while (bridge->stats().delivered < 10) {
            std::this_thread::sleep_for(1ms);
        }
        bridge->consume({});  // its next batch: takes the spent bodies back first
        kept_by_producer = rtcrm::detail::string_pool::kept();
        next_body_capacity = rtcrm::detail::string_pool::take().capacity();
    });
    while (bridge->stats().delivered < 10) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    producer.join();
    EXPECT_EQ(bridge->stats().returned, 5U);
    EXPECT_EQ(kept_by_producer, 5U);
    EXPECT_GE(next_body_capacity, body.size());
    ASSERT_EQ(kept_by_handler.size(), 5U);
    for (const auto& b : kept_by_handler) {
        EXPECT_EQ(b, body);
    }
    EXPECT_EQ(rtcrm::detail::string_pool::kept(), 0U);  // none stayed on the loop's thread
    bridge->shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(uv_bridge, destroyed_without_shutdown_its_handle_is_closed_by_the_loop) {
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    {
        rtcrm::uv_bridge bridge(&loop, [](rtcrm::output&) {});
        EXPECT_EQ(uv_loop_alive(&loop), 1);  // the async handle keeps the loop alive
    }
    uv_run(&loop, UV_RUN_DEFAULT);  // closes the orphaned handle and returns
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(uv_bridge, after_shutdown_outputs_are_refused_not_lost_silently) {
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    auto bridge = std::make_shared<rtcrm::uv_bridge>(&loop, [](rtcrm::output&) {});
    bridge->shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
    rtcrm::runtime rt{bridge_topology(bridge)};
    rt.start();
    ASSERT_EQ(rt.submit(fight_json(1, 0), 5s), rtcrm::submit_status::accepted);
    rt.stop();
    EXPECT_EQ(bridge->stats().refused, 1U);
    EXPECT_EQ(rt.stats().nacked, 1U);
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(asio_bridge, delivers_on_the_context_thread_in_player_order_and_stops_with_it) {
    constexpr int players = 50;
    constexpr int per_player = 400;
    constexpr std::size_t total = players * per_player;
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    order_check check;
    std::shared_ptr<rtcrm::asio_bridge> bridge;
    std::unique_ptr<rtcrm::runtime> rt;
    bool stopped = false;
    bridge = rtcrm::asio_bridge::create(
        io,
        [&](rtcrm::output& out) {
            check.see(out);
            if (check.seen == total) {
                bridge->stop_runtime(*rt, [&] {
                    stopped = true;
                    guard.reset();  // io.run() returns once nothing is left
                });
            }
        },
        rtcrm::loop_bridge_options{.capacity = 256, .max_per_turn = 64});
    rt = std::make_unique<rtcrm::runtime>(bridge_topology(bridge));
    rt->start();
    std::thread host([&] { submit_all(*rt, players, per_player); });
    check.expected_thread = std::this_thread::get_id();
    io.run();
    host.join();
    EXPECT_TRUE(stopped);
    EXPECT_EQ(check.seen, total);
    EXPECT_EQ(check.wrong_thread, 0U);
    EXPECT_EQ(check.out_of_order, 0U);
    EXPECT_EQ(rt->stats().nacked, 0U);
}

}  // namespace
