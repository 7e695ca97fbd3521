// The HTTP event gateway with a real runtime behind it, driven over loopback sockets.
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/http/gateway_source.hpp>

#include "../support/test_components.hpp"
#include "../support/tiny_http.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
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
    // Other clients get 503 once the queue is full: each batch that is queued waits for
    // its answer (a short wait tells it from a 503, which comes at once; a 503 read late
    // only means one more batch), and past capacity / 100 more batches all are refused.
    std::vector<std::unique_ptr<tiny_http>> others;
    bool refused = false;
    for (int k = 0; k < 100 && !refused; ++k) {
        others.push_back(std::make_unique<tiny_http>(f.port()));
        others.back()->send_raw(tiny_http::post("/events", batch_of(k * 100, 100)));
        try {
            const auto r = others.back()->read_reply(200ms);
            refused = r.status == 503;
            EXPECT_TRUE(r.status == 503 || r.status == 202) << r.status << " " << r.body;
        } catch (const std::exception&) {
            // queued: its answer waits for the runtime
        }
    }
    EXPECT_TRUE(refused);
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

TEST(gateway, bodies_over_the_limit_get_413_naming_the_limit) {
    gateway_fixture f{{.body_limit = 1000}};
    tiny_http client{f.port()};
    client.send_raw(tiny_http::post("/events", batch_of(0, 100)));
    const auto r = client.read_reply();
    EXPECT_EQ(r.status, 413);
    EXPECT_NE(r.body.find("limit of 1000 bytes"), std::string::npos) << r.body;
}

TEST(gateway, a_batch_over_the_line_limit_gets_413_naming_it_even_on_an_idle_server) {
    gateway_fixture f{{}};
    tiny_http client{f.port()};
    std::string over;
    for (int i = 0; i < 65537; ++i) {
        over += "{}\n";
    }
    client.send_raw(tiny_http::post("/events", over));
    const auto r = client.read_reply();
    EXPECT_EQ(r.status, 413);
    EXPECT_NE(r.body.find("more than 65536 events"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("max_lines"), std::string::npos) << r.body;
    EXPECT_EQ(f.gateway->stats().too_many_lines, 1U);
    EXPECT_EQ(f.gateway->stats().busy, 0U);
    // The connection is kept, and nothing of the refused batch entered.
    client.send_raw(tiny_http::post("/events", batch_of(0, 10)));
    EXPECT_EQ(client.read_reply().status, 202);
    ASSERT_TRUE(eventually([&] { return f.sink->received() == 10; }));
    f.rt->stop();
    EXPECT_EQ(f.rt->stats().events_in, 10U);
}

TEST(gateway, the_line_limit_counts_events_not_blank_lines_and_a_batch_at_it_is_accepted) {
    gateway_fixture f{{.max_lines = 100}};
    tiny_http client{f.port()};
    client.send_raw(tiny_http::post("/events", batch_of(0, 101)));
    const auto r = client.read_reply();
    EXPECT_EQ(r.status, 413);
    EXPECT_NE(r.body.find("more than 100 events"), std::string::npos) << r.body;
    client.send_raw(tiny_http::post("/events", "\n \n" + batch_of(0, 100) + "\t\n\n"));
    EXPECT_EQ(client.read_reply().body, R"({"accepted":100})");
}

TEST(gateway, the_line_limit_is_at_most_the_queue_capacity) {
    // A batch larger than the queue could never be taken: it is too large, not "busy".
    gateway_fixture f{{.queue_capacity = 50}};
    tiny_http client{f.port()};
    client.send_raw(tiny_http::post("/events", batch_of(0, 51)));
    const auto r = client.read_reply();
    EXPECT_EQ(r.status, 413);
    EXPECT_NE(r.body.find("more than 50 events"), std::string::npos) << r.body;
}

TEST(gateway, a_400_lists_a_bounded_number_of_rejected_lines_and_counts_the_rest) {
    gateway_fixture f{{}};
    tiny_http client{f.port()};
    const auto listed = rtcrm::gateway_source::max_listed_rejections;
    std::string body;
    for (std::size_t i = 0; i < listed + 7; ++i) {
        body += "{}\n";
    }
    client.send_raw(tiny_http::post("/events", fight_json(1, 0) + "\n" + body));
    const auto r = client.read_reply();
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find(R"("accepted":1)"), std::string::npos);
    EXPECT_NE(r.body.find(R"("rejected_not_listed":7})"), std::string::npos) << r.body.substr(r.body.size() - 200);
    std::size_t entries = 0;
    for (auto at = r.body.find(R"({"line":)"); at != std::string::npos; at = r.body.find(R"({"line":)", at + 1)) {
        ++entries;
    }
    EXPECT_EQ(entries, listed);
    EXPECT_NE(r.body.find(R"({"line":2,)"), std::string::npos);  // numbered as sent
    ASSERT_TRUE(eventually([&] { return f.sink->received() == 1; }));
    f.rt->stop();
    EXPECT_EQ(f.rt->stats().dead_lettered, listed + 7);  // every bad line, listed or not
    EXPECT_EQ(f.gateway->stats().bad_lines, listed + 7);
}

TEST(gateway, a_compressed_body_gets_415_saying_only_identity_is_accepted) {
    gateway_fixture f{{}};
    tiny_http client{f.port()};
    client.send_raw(tiny_http::post("/events", "\x1f\x8b\x08\x00 not really gzip", "Content-Encoding: gzip\r\n"));
    const auto r = client.read_reply();
    EXPECT_EQ(r.status, 415);
    EXPECT_NE(r.body.find("only identity is accepted"), std::string::npos) << r.body;
    client.send_raw(tiny_http::post("/events", batch_of(0, 2), "Content-Encoding: Identity\r\n"));
    EXPECT_EQ(client.read_reply().status, 202);  // same connection: it stays in step
    client.send_raw(tiny_http::post("/events", batch_of(2, 2), "Content-Encoding: identity, br\r\n"));
    EXPECT_EQ(client.read_reply().status, 415);
    EXPECT_EQ(f.gateway->stats().accepted, 2U);
}

namespace {

// The process's resident set (VmRSS) or its peak (VmHWM), in bytes, from /proc/self/status.
std::size_t proc_status_bytes(const std::string& field) {
    std::ifstream in{"/proc/self/status"};
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) {
            return std::stoul(line.substr(field.size() + 1)) * 1024;
        }
    }
    return 0;
}

// Starts a new peak: VmHWM becomes the current resident set (Linux 4.0+).
bool reset_peak_rss() {
    std::ofstream out{"/proc/self/clear_refs"};
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

}  // namespace

TEST(gateway, a_body_of_millions_of_short_lines_costs_a_small_multiple_of_the_body_limit) {
    constexpr std::size_t limit = 16 * 1024 * 1024;
    gateway_fixture f{{.body_limit = limit}};
    std::string body;
    body.reserve(limit);
    while (body.size() + 3 <= limit) {
        body += "{}\n";  // about 5.6 million events: over the line limit
    }
    const auto request = tiny_http::post("/events", body);
    std::string{}.swap(body);
    if (!reset_peak_rss()) {
        GTEST_SKIP() << "/proc/self/clear_refs cannot reset the peak resident set here";
    }
    const auto before = proc_status_bytes("VmRSS");
    tiny_http big{f.port()};
    big.send_raw(request);
    const auto r = big.read_reply(60s);
    const auto peak = proc_status_bytes("VmHWM");
    EXPECT_EQ(r.status, 413) << r.body;
    EXPECT_NE(r.body.find("more than 65536 events"), std::string::npos) << r.body;
    const auto growth = peak > before ? peak - before : 0;
    EXPECT_LE(growth, 8 * limit) << "peak resident set grew by " << growth / (1024 * 1024) << " MiB";
}

TEST(gateway, a_big_batch_being_checked_does_not_hold_up_other_connections) {
    // One I/O thread, a closed sink: the big batch cannot be answered before the sink
    // opens, and a health check on another connection must be answered meanwhile.
    gateway_fixture f{{.threads = 1}, /*open=*/false};
    std::string body;
    for (int i = 0; i < 65536; ++i) {
        body += fight_json(i % 5000 + 1, i) + "\n";
    }
    tiny_http big{f.port()};
    std::thread sender{[&] { big.send_raw(tiny_http::post("/events", body)); }};
    ASSERT_TRUE(eventually([&] { return f.gateway->stats().requests == 1; }));  // being checked or queued
    tiny_http health{f.port()};
    health.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    const auto h = health.read_reply(30s);
    EXPECT_EQ(h.status, 200);
    sender.join();
    f.sink->open();
    const auto r = big.read_reply(60s);
    EXPECT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(r.body, R"({"accepted":65536})");
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
