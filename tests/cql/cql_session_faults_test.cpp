// The CQL session when things go wrong or spread out, against the CQL test peer: server
// errors and retries, timeouts, dropped connections and lost answers; a peer posing as a
// cluster of three nodes (discovery, token-aware routing, retries on another node); then
// callbacks on the I/O thread and shutdown.
#include "cql/cql_session_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace rtcrm::test;

// --- errors and retries ---------------------------------------------------------------------

TEST(cql_session, retries_retriable_errors_until_success) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    const auto served = peer.requests(0);
    peer.fail_next(2, {.code = cql::error_code::overloaded, .message = "too busy"}, "INSERT");

    run(*s, text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("a"), cql::int_value(1)}));
    EXPECT_EQ(s->stats().retries, 2U);
    EXPECT_EQ(peer.requests(0) - served, 3U);
    EXPECT_EQ(peer.row_count("ks", "kv"), 1U);
}

TEST(cql_session, gives_up_after_max_retries_with_the_last_error) {
    cql_peer peer;
    auto o = options_for(peer.contact_points());
    o.max_retries = 2;
    auto s = cql::session::connect(o);
    make_schema(*s);
    peer.fail_next(5, {.code = cql::error_code::write_timeout, .message = "replicas slow"}, "INSERT");

    auto r = s->execute_sync(text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("a"), cql::int_value(1)}));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(has_code(r.error(), rtcrm::errc::timeout)) << r.error().reason;
    EXPECT_NE(r.error().reason.find("replicas slow"), std::string::npos) << r.error().reason;
    EXPECT_EQ(s->stats().retries, 2U);
    EXPECT_EQ(s->stats().failures, 1U);
}

TEST(cql_session, fails_non_retriable_errors_at_once) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    const auto served = peer.requests(0);
    peer.fail_next(1, {.code = cql::error_code::syntax_error, .message = "line 1: no viable alternative"}, "INSERT");

    auto r = s->execute_sync(text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("a"), cql::int_value(1)}));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(has_code(r.error(), rtcrm::errc::store_error)) << r.error().reason;
    EXPECT_NE(r.error().reason.find("no viable alternative"), std::string::npos) << r.error().reason;
    EXPECT_NE(r.error().reason.find(cql::error_code_name(cql::error_code::syntax_error)), std::string::npos);
    EXPECT_EQ(s->stats().retries, 0U);
    EXPECT_EQ(peer.requests(0) - served, 1U);

    // A real invalid query from the server: not retried either.
    auto bad = s->execute_sync(text("SELECT nope FROM ks.missing"));
    ASSERT_FALSE(bad.ok());
    EXPECT_TRUE(has_code(bad.error(), rtcrm::errc::store_error)) << bad.error().reason;
    EXPECT_EQ(s->stats().retries, 0U);
}

TEST(cql_session, does_not_retry_non_idempotent_statements) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    peer.fail_next(1, {.code = cql::error_code::overloaded, .message = "too busy"}, "INSERT");

    auto st = text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("a"), cql::int_value(1)});
    st.idempotent = false;
    auto r = s->execute_sync(st);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(has_code(r.error(), rtcrm::errc::unavailable)) << r.error().reason;
    EXPECT_TRUE(rtcrm::is_retriable(r.error().code)) << "the caller may still choose to retry";
    EXPECT_EQ(s->stats().retries, 0U);
    EXPECT_EQ(peer.row_count("ks", "kv"), 0U);

    run(*s, st);  // the fault was one-shot
    EXPECT_EQ(peer.row_count("ks", "kv"), 1U);
}

TEST(cql_session, times_out_a_slow_request_and_keeps_its_stream_until_the_late_answer) {
    cql_peer peer;
    auto o = options_for(peer.contact_points());
    // The late answer comes 3 s after the request, 1 s after it timed out; the next request,
    // queued behind it at the server, is answered right after it, well within its own 2 s.
    o.request_timeout = 2000ms;
    o.max_retries = 0;
    auto s = cql::session::connect(o);
    make_schema(*s);
    run(*s, text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("one"), cql::int_value(1)}));
    run(*s, text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("two"), cql::int_value(2)}));

    peer.set_delay(3000ms);
    auto slow = s->execute_sync(text("SELECT v FROM ks.kv WHERE k = ?", {cql::text_value("one")}));
    ASSERT_FALSE(slow.ok());
    EXPECT_TRUE(has_code(slow.error(), rtcrm::errc::timeout)) << slow.error().reason;
    EXPECT_EQ(s->stats().timeouts, 1U);
    peer.set_delay(0ms);

    // Same connection: were the timed-out stream reused now, the late answer (v = 1) would
    // be taken for this request's.
    EXPECT_EQ(read_v(*s, "two"), 2);
    EXPECT_EQ(read_v(*s, "one"), 1);
    EXPECT_EQ(peer.connections_accepted(), 1U);
}

// --- connection loss ----------------------------------------------------------------------

TEST(cql_session, reconnects_after_the_server_drops_its_connections) {
    cql_peer peer;
    auto o = options_for(peer.contact_points());
    o.connections_per_host = 2;
    auto s = cql::session::connect(o);
    make_schema(*s);
    const auto accepted = peer.connections_accepted();

    peer.drop_connections();
    // Idempotent requests started right away wait for a connection or are retried.
    run(*s, text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("a"), cql::int_value(1)}));
    ASSERT_TRUE(eventually([&] { return s->stats().reconnects >= 2 && s->stats().hosts_up == 1; }))
        << s->stats().reconnects << " reconnects";
    EXPECT_GE(peer.connections_accepted(), accepted + 2);
    for (int i = 0; i < 10; ++i) {
        run(*s,
            text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value(std::to_string(i)), cql::int_value(i)}));
    }
    EXPECT_EQ(peer.row_count("ks", "kv"), 11U);
}

TEST(cql_session, retries_an_idempotent_write_whose_answer_was_lost_and_applies_it_once) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    peer.drop_next(1, true);  // applied, then the connection closes before the answer

    run(*s, text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("a"), cql::int_value(5)}));
    EXPECT_GE(s->stats().retries, 1U);
    EXPECT_EQ(peer.row_count("ks", "kv"), 1U);  // an upsert: twice is once in effect
    EXPECT_EQ(read_v(*s, "a"), 5);
}

TEST(cql_session, fails_a_non_idempotent_write_whose_answer_was_lost) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    peer.drop_next(1, false);

    auto st = text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("a"), cql::int_value(5)});
    st.idempotent = false;
    auto r = s->execute_sync(st);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(has_code(r.error(), rtcrm::errc::unavailable)) << r.error().reason;
    EXPECT_EQ(s->stats().retries, 0U);
    EXPECT_EQ(peer.row_count("ks", "kv"), 0U);
}

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
