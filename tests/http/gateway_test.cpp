// The HTTP event gateway with a real runtime behind it, driven over loopback sockets.
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/http/gateway_source.hpp>

#include "../support/test_components.hpp"
#include "../support/tiny_http.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>

using namespace std::chrono_literals;
using rtcrm::testing::eventually;
using rtcrm::testing::fight_json;
using rtcrm::testing::gate_sink;
using rtcrm::testing::tiny_http;

namespace {


struct gateway_fixture {
    rtcrm::gateway_source* gateway = nullptr;
    std::shared_ptr<gate_sink> sink;
    std::unique_ptr<rtcrm::runtime> rt;

    explicit gateway_fixture(rtcrm::gateway_options options, bool open = true) : sink(std::make_shared<gate_sink>(open)) {
        options.listen = "127.0.0.1:0";
        auto src = std::make_unique<rtcrm::gateway_source>(std::move(options));
        gateway = src.get();
        rtcrm::topology t;
        t.add_source(std::move(src)).add_shard_bolt(rtcrm::testing::echo_bolt::factory()).add_sink(rtcrm::stream::main, sink)
            .with_options({.shards = 2, .batch_size = 64, .queue_batches = 4});
        rt = std::make_unique<rtcrm::runtime>(std::move(t));
        rt->start();
    }
    [[nodiscard]] std::uint16_t port() const { return gateway->port(); }
};

std::string batch_of(int first, int n) {
    std::string body;
    for (int i = first; i < first + n; ++i) {
        body += fight_json(i % 50 + 1, i) + "\n";
    }
    return body;
}


}  // namespace

TEST(gateway, a_batch_is_accepted_and_its_bad_lines_are_named) {
    gateway_fixture f{{}};
    tiny_http client{f.port()};
    client.send_raw(tiny_http::post("/events", fight_json(1, 0) + "\n\n{\"player_id\":\n" + fight_json(2, 1) + "\n{\"type\":\"x\"}\n"));
    const auto r = client.read_reply();
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find(R"("accepted":2)"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(R"({"line":3,"reason":"parse_error")"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(R"({"line":5,"reason":"missing_field")"), std::string::npos) << r.body;
    // A good batch on the same (kept-alive) connection.
    client.send_raw(tiny_http::post("/events", batch_of(10, 100)));
    const auto ok = client.read_reply();
    EXPECT_EQ(ok.status, 202);
    EXPECT_EQ(ok.body, R"({"accepted":100})");
    ASSERT_TRUE(eventually([&] { return f.sink->received() == 102; }));
    f.rt->stop();
    const auto stats = f.rt->stats();
    EXPECT_EQ(stats.processed, 102U);
    EXPECT_EQ(stats.dead_lettered, 2U);  // the bad lines went on, to the dead-letter stream
}

TEST(gateway, pipelined_requests_are_answered_in_order) {
    gateway_fixture f{{}};
    tiny_http client{f.port()};
    client.send_raw(tiny_http::post("/events", batch_of(0, 3)) + "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" +
                    tiny_http::post("/events", batch_of(3, 5)) + "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(client.read_reply().body, R"({"accepted":3})");
    EXPECT_EQ(client.read_reply().status, 200);
    EXPECT_EQ(client.read_reply().body, R"({"accepted":5})");
    EXPECT_EQ(client.read_reply().status, 404);
}

TEST(gateway, a_flood_gets_503_with_bounded_memory_and_no_accepted_event_is_lost) {
    gateway_fixture f{{.queue_capacity = 2000}, /*open=*/false};
    std::size_t accepted = 0;
    std::size_t busy = 0;
    {
        tiny_http client{f.port()};
        // The sink is closed: the pipeline fills, then the gateway's queue, then 503s.
        for (int k = 0; k < 200 && busy < 5; ++k) {
            client.send_raw(tiny_http::post("/events", batch_of(k * 100, 100)));
            // An accepted batch is answered once the runtime takes it: with the pipeline
            // full that may wait, so read with a short timeout and move on.
            try {
                const auto r = client.read_reply(2s);
                if (r.status == 503) {
                    ++busy;
                    EXPECT_NE(r.headers.find("Retry-After: 1"), std::string::npos);
                } else {
                    ASSERT_EQ(r.status, 202) << r.body;
                    accepted += 100;
                }
            } catch (const std::exception&) {
                break;  // the answer waits for the runtime: the queue holds this batch
            }
        }
    }
    // Other clients get 503 at once while the queue is full.
    tiny_http other{f.port()};
    other.send_raw(tiny_http::post("/events", batch_of(0, 5000)));
    const auto r = other.read_reply();
    EXPECT_EQ(r.status, 503);
    const auto in = f.rt->stats().events_in;
    EXPECT_LE(in, 2U * (4 + 2) * 64 + 2000 + 64U);  // bounded: queues + gateway capacity
    f.sink->open();
    const auto gateway_accepted = f.gateway->stats().accepted;
    ASSERT_TRUE(eventually([&] { return f.sink->received() == gateway_accepted; }))
        << f.sink->received() << " of " << gateway_accepted;
    EXPECT_GE(gateway_accepted, accepted);
    f.rt->stop();
    EXPECT_EQ(f.rt->stats().processed, gateway_accepted);  // every accepted event, once
}

TEST(gateway, slow_loris_and_oversized_headers_are_cut_off_and_others_are_served) {
    // The timeout leaves a well-behaved client time to be served on a loaded machine.
    gateway_fixture f{{.header_limit = 1024, .request_timeout = 1s}};
    tiny_http slow{f.port()};
    slow.send_raw("POST /events HTTP/1.1\r\nHost: t\r\nX-Trickle: a");  // and then nothing
    tiny_http big{f.port()};
    big.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4000, 'x') + "\r\n\r\n");
    EXPECT_EQ(big.read_reply().status, 431);
    tiny_http good{f.port()};
    good.send_raw(tiny_http::post("/events", batch_of(0, 10)));
    EXPECT_EQ(good.read_reply().status, 202);
    EXPECT_TRUE(slow.closed_by_peer(5s)) << "the slow client was not cut off";
    // A new client: `good`'s own keep-alive wait has the same timeout, and on a loaded
    // machine both timers can fire in one turn of the I/O thread.
    tiny_http after{f.port()};
    after.send_raw(tiny_http::post("/events", batch_of(10, 10)));
    EXPECT_EQ(after.read_reply().status, 202);
}

TEST(gateway, bodies_over_the_limit_get_413) {
    gateway_fixture f{{.body_limit = 1000}};
    tiny_http client{f.port()};
    client.send_raw(tiny_http::post("/events", batch_of(0, 100)));
    EXPECT_EQ(client.read_reply().status, 413);
}

TEST(gateway, connections_past_the_cap_get_503_and_the_others_are_served) {
    gateway_fixture f{{.max_connections = 2}};
    tiny_http a{f.port()};
    tiny_http b{f.port()};
    a.send_raw(tiny_http::post("/events", batch_of(0, 1)));  // both are open and served
    EXPECT_EQ(a.read_reply().status, 202);
    tiny_http c{f.port()};
    const auto refused = c.read_reply();
    EXPECT_EQ(refused.status, 503);
    EXPECT_TRUE(c.closed_by_peer(2s));
    b.send_raw(tiny_http::post("/events", batch_of(1, 1)));
    EXPECT_EQ(b.read_reply().status, 202);
}
