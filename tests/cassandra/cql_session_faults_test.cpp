// The CQL session against faults of the CQL test peer: server errors and retries,
// timeouts, dropped connections and lost answers.
#include "cassandra/cql_session_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
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

}  // namespace
