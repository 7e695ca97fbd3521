// The CQL session against a CQL test peer posing as a cluster of three nodes: discovery,
// token-aware routing, retries on another node; then callbacks on the I/O thread and
// shutdown.
#include "cassandra/cql_session_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace rtcrm::test;

// --- cluster ------------------------------------------------------------------------------

cql_peer_options three_nodes() { return {.addresses = {"127.0.0.1", "127.0.0.2", "127.0.0.3"}}; }

TEST(cql_session, discovers_every_node_from_one_contact_point) {
    cql_peer peer(three_nodes());
    auto s = cql::session::connect(options_for({peer.contact_points().at(0)}));
    EXPECT_EQ(s->stats().hosts, 3U);
    EXPECT_EQ(s->stats().hosts_up, 3U);
    EXPECT_EQ(peer.connections_accepted(), 3U);

    // 3 nodes x 8 tokens: 24 ranges plus the wrap split in two, covering the ring once.
    const auto ranges = s->token_ranges();
    ASSERT_EQ(ranges.size(), 25U);
    EXPECT_EQ(ranges.front().first, std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(ranges.back().second, std::numeric_limits<std::int64_t>::max());
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        EXPECT_LT(ranges[i].first, ranges[i].second);
        if (i > 0) {
            EXPECT_EQ(ranges[i].first, ranges[i - 1].second);
        }
    }
}

TEST(cql_session, sends_each_keyed_request_to_the_node_that_owns_its_token) {
    cql_peer peer(three_nodes());
    auto s = cql::session::connect(options_for({peer.contact_points().at(0)}));
    make_schema(*s);
    auto insert = s->prepare_sync("INSERT INTO ks.kv (k, v) VALUES (?, ?)");
    ASSERT_TRUE(insert.ok());

    std::set<std::size_t> owners;
    for (int i = 0; i < 60; ++i) {
        const auto key = "player-" + std::to_string(i);
        const auto owner = peer.owner_of(cql::murmur3_token(key));
        owners.insert(owner);
        const auto before = peer.requests(owner);
        if (i % 2 == 0) {
            // Routing key derived from the prepared statement's partition key.
            run(*s, bound(insert.value(), {cql::text_value(key), cql::int_value(i)}));
        } else {
            // Routing key given with a text statement.
            auto st = text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value(key), cql::int_value(i)});
            st.routing_key = key;
            run(*s, st);
        }
        EXPECT_EQ(peer.requests(owner), before + 1) << key << " did not reach node " << owner;
    }
    EXPECT_EQ(owners.size(), 3U) << "the keys should exercise every node";
    EXPECT_EQ(peer.row_count("ks", "kv"), 60U);
}

TEST(cql_session, spreads_unkeyed_requests_over_every_node) {
    cql_peer peer(three_nodes());
    auto s = cql::session::connect(options_for({peer.contact_points().at(0)}));
    make_schema(*s);
    std::vector<std::size_t> before{peer.requests(0), peer.requests(1), peer.requests(2)};
    for (int i = 0; i < 30; ++i) {
        run(*s, text("SELECT v FROM ks.kv WHERE k = 'x'"));
    }
    for (std::size_t n = 0; n < 3; ++n) {
        EXPECT_EQ(peer.requests(n) - before[n], 10U) << "node " << n;
    }
}

TEST(cql_session, retries_on_another_node_than_the_one_that_failed) {
    cql_peer peer(three_nodes());
    auto s = cql::session::connect(options_for({peer.contact_points().at(0)}));
    make_schema(*s);
    const std::string key = "player-7";
    const auto owner = peer.owner_of(cql::murmur3_token(key));
    std::vector<std::size_t> before{peer.requests(0), peer.requests(1), peer.requests(2)};
    peer.fail_next(1, {.code = cql::error_code::unavailable, .message = "not enough replicas"}, "INSERT");

    auto st = text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value(key), cql::int_value(1)});
    st.routing_key = key;
    run(*s, st);
    EXPECT_EQ(s->stats().retries, 1U);
    std::size_t others = 0;
    for (std::size_t n = 0; n < 3; ++n) {
        const auto served = peer.requests(n) - before[n];
        if (n == owner) {
            EXPECT_EQ(served, 1U) << "the owner is tried first, once";
        } else {
            others += served;
        }
    }
    EXPECT_EQ(others, 1U) << "the retry goes to another node";
}

// --- threads ------------------------------------------------------------------------------

TEST(cql_session, accepts_requests_from_callbacks_but_refuses_blocking_calls_there) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    countdown done(1);
    std::optional<rtcrm::failure> blocking;
    bool chained_ok = false;
    s->execute(text("INSERT INTO ks.kv (k, v) VALUES ('a', 1)"), [&](rtcrm::result<cql::result_body> first) {
        EXPECT_TRUE(first.ok());
        auto r = s->execute_sync(text("SELECT v FROM ks.kv WHERE k = 'a'"));
        if (!r.ok()) {
            blocking = r.error();
        }
        s->execute(text("SELECT v FROM ks.kv WHERE k = 'a'"), [&](rtcrm::result<cql::result_body> second) {
            chained_ok = second.ok();
            done.done();
        });
    });
    ASSERT_TRUE(done.wait());
    ASSERT_TRUE(blocking.has_value()) << "execute_sync on the I/O thread must not block";
    EXPECT_TRUE(has_code(*blocking, rtcrm::errc::invalid_config));
    EXPECT_TRUE(chained_ok);
}

// --- shutdown -----------------------------------------------------------------------------

TEST(cql_session, close_fails_requests_in_flight_with_stopped) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    peer.set_delay(5000ms);

    constexpr int n = 20;
    std::atomic<int> stopped{0};
    std::atomic<int> other{0};
    for (int i = 0; i < n; ++i) {
        s->execute(text("SELECT v FROM ks.kv WHERE k = 'a'"), [&](rtcrm::result<cql::result_body> r) {
            if (!r.ok() && has_code(r.error(), rtcrm::errc::stopped)) {
                stopped.fetch_add(1);
            } else {
                other.fetch_add(1);
            }
        });
    }
    ASSERT_TRUE(eventually([&] { return s->stats().in_flight == static_cast<std::size_t>(n); }));
    s->close();  // joins the I/O thread: every callback has run when it returns
    EXPECT_EQ(stopped.load(), n);
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(s->stats().in_flight, 0U);
    EXPECT_EQ(s->stats().hosts_up, 0U);

    auto after = s->execute_sync(text("SELECT v FROM ks.kv WHERE k = 'a'"));
    ASSERT_FALSE(after.ok());
    EXPECT_TRUE(has_code(after.error(), rtcrm::errc::stopped));
    s->close();  // idempotent
}

}  // namespace
