// The CQL session against the in-process CQL test peer: handshake and authentication,
// prepared statements, paging, stream multiplexing, retries, timeouts, reconnection,
// discovery, token-aware routing and shutdown.
#include "cql/cql_session.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_peer.hpp"

#include <rtcrm/error.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace cql = rtcrm::detail::cql;
using namespace std::chrono_literals;
using rtcrm::test::cql_peer;
using rtcrm::test::cql_peer_options;

// Waits for `n` callbacks; the deadline is a generous upper bound, not a timing check.
class countdown {
public:
    explicit countdown(std::size_t n) : left_(n) {}
    void done() {
        std::lock_guard lock(mutex_);
        if (left_ > 0 && --left_ == 0) {
            cv_.notify_all();
        }
    }
    bool wait(std::chrono::seconds limit = 60s) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, limit, [&] { return left_ == 0; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::size_t left_;
};

// Polls a condition; the deadline is a generous upper bound.
template <typename F>
bool eventually(F&& condition, std::chrono::seconds limit = 20s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

cql::session_options options_for(const std::vector<std::string>& points) {
    cql::session_options o;
    o.contact_points = points;
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
}

cql::statement text(std::string query, std::vector<cql::value> values = {}) {
    cql::statement s;
    s.query = std::move(query);
    s.values = std::move(values);
    return s;
}

cql::statement bound(const cql::prepared_ptr& p, std::vector<cql::value> values) {
    cql::statement s;
    s.prepared = p;
    s.values = std::move(values);
    return s;
}

// Runs a statement that must succeed.
cql::result_body run(cql::session& s, cql::statement st) {
    auto r = s.execute_sync(std::move(st));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().reason);
    if (!r.ok()) {
        return cql::void_result{};
    }
    return std::move(r).value();
}

const cql::rows_result& rows_of(const cql::result_body& body) {
    static const cql::rows_result none;
    const auto* rows = std::get_if<cql::rows_result>(&body);
    EXPECT_NE(rows, nullptr) << "not a Rows result";
    return rows != nullptr ? *rows : none;
}

void make_schema(cql::session& s) {
    run(s, text("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"));
    run(s, text("CREATE TABLE ks.kv (k text PRIMARY KEY, v int)"));
}

std::optional<std::int32_t> read_v(cql::session& s, const std::string& key) {
    auto body = run(s, text("SELECT v FROM ks.kv WHERE k = ?", {cql::text_value(key)}));
    const auto& rows = rows_of(body);
    if (rows.rows.size() != 1) {
        return std::nullopt;
    }
    return cql::as_int(rows.rows[0][0]);
}

bool has_code(const rtcrm::failure& f, rtcrm::errc code) { return f.code == rtcrm::make_error_code(code); }

// --- connecting ---------------------------------------------------------------------------

TEST(cql_session, connects_and_runs_a_query) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    run(*s, text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("a"), cql::int_value(7)}));

    EXPECT_EQ(read_v(*s, "a"), 7);
    EXPECT_EQ(peer.row_count("ks", "kv"), 1U);
    EXPECT_EQ(s->stats().hosts_up, 1U);
    EXPECT_EQ(s->stats().failures, 0U);
}

TEST(cql_session, uses_the_keyspace_of_the_options_on_every_connection) {
    cql_peer peer;
    {
        auto setup = cql::session::connect(options_for(peer.contact_points()));
        make_schema(*setup);
    }
    auto o = options_for(peer.contact_points());
    o.keyspace = "ks";
    o.connections_per_host = 2;
    auto s = cql::session::connect(o);
    for (int i = 0; i < 4; ++i) {  // both connections, unqualified table name
        run(*s, text("INSERT INTO kv (k, v) VALUES (?, ?)", {cql::text_value(std::to_string(i)), cql::int_value(i)}));
    }
    EXPECT_EQ(peer.row_count("ks", "kv"), 4U);
}

TEST(cql_session, refuses_a_missing_keyspace_as_a_configuration_error) {
    cql_peer peer;
    auto o = options_for(peer.contact_points());
    o.keyspace = "nope";
    try {
        cql::session::connect(o);
        FAIL() << "connect succeeded";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::make_error_code(rtcrm::errc::invalid_config));
        EXPECT_NE(std::string(e.what()).find("keyspace 'nope'"), std::string::npos) << e.what();
    }
}

TEST(cql_session, authenticates_with_the_password_authenticator) {
    cql_peer peer({.username = "crm", .password = "s3cret"});
    auto o = options_for(peer.contact_points());
    o.username = "crm";
    o.password = "s3cret";
    auto s = cql::session::connect(o);
    make_schema(*s);
    EXPECT_EQ(s->stats().hosts_up, 1U);
}

TEST(cql_session, refuses_a_bad_password_with_a_clear_message) {
    cql_peer peer({.username = "crm", .password = "s3cret"});
    auto o = options_for(peer.contact_points());
    o.username = "crm";
    o.password = "wrong";
    try {
        cql::session::connect(o);
        FAIL() << "connect succeeded";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::make_error_code(rtcrm::errc::invalid_config));
        const std::string what = e.what();
        EXPECT_NE(what.find("authentication as 'crm' failed"), std::string::npos) << what;
        EXPECT_NE(what.find(cql::error_code_name(cql::error_code::bad_credentials)), std::string::npos) << what;
        EXPECT_EQ(what.find("wrong"), std::string::npos) << "the password leaked: " << what;
    }
}

TEST(cql_session, refuses_to_connect_without_credentials_when_the_server_asks_for_them) {
    cql_peer peer({.username = "crm", .password = "s3cret"});
    try {
        cql::session::connect(options_for(peer.contact_points()));
        FAIL() << "connect succeeded";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::make_error_code(rtcrm::errc::invalid_config));
        EXPECT_NE(std::string(e.what()).find("requires authentication"), std::string::npos) << e.what();
    }
}

TEST(cql_session, names_every_contact_point_when_none_can_be_reached) {
    std::string dead;
    {
        cql_peer gone;
        dead = gone.contact_points().at(0);
    }  // its port is closed now
    cql_peer peer;
    auto o = options_for({dead, "no-such-host.invalid"});
    o.connect_timeout = 2000ms;
    try {
        cql::session::connect(o);
        FAIL() << "connect succeeded";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::make_error_code(rtcrm::errc::unavailable));
        const std::string what = e.what();
        EXPECT_NE(what.find(dead), std::string::npos) << what;
        EXPECT_NE(what.find("no-such-host.invalid"), std::string::npos) << what;
    }
    // The first contact point that answers is used.
    o.contact_points = {dead, peer.contact_points().at(0)};
    auto s = cql::session::connect(o);
    EXPECT_EQ(s->stats().hosts_up, 1U);
}

TEST(cql_session, refuses_options_without_contact_points) {
    EXPECT_THROW(cql::session::connect({}), rtcrm::error);
    cql::session_options o;
    o.contact_points = {"127.0.0.1:99999"};
    EXPECT_THROW(o.validate(), rtcrm::error);
}

// --- statements ---------------------------------------------------------------------------

TEST(cql_session, runs_prepared_statements_and_reprepares_after_the_server_forgets_them) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    auto prepared = s->prepare_sync("INSERT INTO ks.kv (k, v) VALUES (?, ?)");
    ASSERT_TRUE(prepared.ok()) << prepared.error().reason;
    ASSERT_EQ(prepared.value()->metadata.pk_indexes, std::vector<std::uint16_t>{0});

    run(*s, bound(prepared.value(), {cql::text_value("a"), cql::int_value(1)}));
    EXPECT_EQ(s->stats().reprepares, 0U);

    peer.forget_prepared();
    run(*s, bound(prepared.value(), {cql::text_value("b"), cql::int_value(2)}));
    EXPECT_EQ(s->stats().reprepares, 1U);
    EXPECT_EQ(s->stats().retries, 0U) << "re-preparing is not a retry";
    EXPECT_EQ(read_v(*s, "b"), 2);
    EXPECT_EQ(peer.row_count("ks", "kv"), 2U);
}

TEST(cql_session, runs_a_batch_of_prepared_and_text_statements) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    auto prepared = s->prepare_sync("INSERT INTO ks.kv (k, v) VALUES (?, ?)");
    ASSERT_TRUE(prepared.ok());
    peer.forget_prepared();  // the batch re-prepares its statement too

    cql::batch b;
    b.statements.push_back(bound(prepared.value(), {cql::text_value("x"), cql::int_value(1)}));
    b.statements.push_back(text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value("y"), cql::int_value(2)}));
    auto r = s->execute_sync(std::move(b));
    ASSERT_TRUE(r.ok()) << r.error().reason;
    EXPECT_EQ(peer.row_count("ks", "kv"), 2U);
    EXPECT_EQ(s->stats().reprepares, 1U);
}

TEST(cql_session, pages_through_many_rows_with_page_size) {
    cql_peer peer;
    auto s = cql::session::connect(options_for(peer.contact_points()));
    make_schema(*s);
    run(*s, text("CREATE TABLE ks.events (k text, c int, v int, PRIMARY KEY (k, c))"));
    auto insert = s->prepare_sync("INSERT INTO ks.events (k, c, v) VALUES (?, ?, ?)");
    ASSERT_TRUE(insert.ok());
    constexpr int total = 250;
    for (int i = 0; i < total; ++i) {
        run(*s, bound(insert.value(), {cql::text_value("p"), cql::int_value(i), cql::int_value(i * 10)}));
    }

    std::optional<std::string> paging_state;
    int pages = 0;
    std::vector<std::int32_t> seen;
    do {
        auto st = text("SELECT c, v FROM ks.events WHERE k = ?", {cql::text_value("p")});
        st.page_size = 40;
        st.paging_state = paging_state;
        auto body = run(*s, std::move(st));
        const auto& rows = rows_of(body);
        EXPECT_LE(rows.rows.size(), 40U);
        for (const auto& row : rows.rows) {
            seen.push_back(cql::as_int(row[0]).value_or(-1));
            EXPECT_EQ(cql::as_int(row[1]), cql::as_int(row[0]).value_or(-1) * 10);
        }
        paging_state = rows.metadata.paging_state;
        ++pages;
    } while (paging_state && pages < 100);

    EXPECT_EQ(pages, 7);  // 6 full pages of 40 and one of 10
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(total));
    for (int i = 0; i < total; ++i) {
        EXPECT_EQ(seen[static_cast<std::size_t>(i)], i);
    }
}

TEST(cql_session, answers_tens_of_thousands_of_concurrent_requests_on_one_connection) {
    cql_peer peer;
    auto o = options_for(peer.contact_points());
    o.max_in_flight_per_connection = 4096;
    o.request_timeout = 60'000ms;  // only an upper bound: the point is that nothing is lost
    auto s = cql::session::connect(o);
    make_schema(*s);
    constexpr int keys = 100;
    for (int i = 0; i < keys; ++i) {
        run(*s,
            text("INSERT INTO ks.kv (k, v) VALUES (?, ?)", {cql::text_value(std::to_string(i)), cql::int_value(i)}));
    }
    auto select = s->prepare_sync("SELECT v FROM ks.kv WHERE k = ?");
    ASSERT_TRUE(select.ok());

    // More requests than a connection has stream ids: they must be reused, and each answer
    // must reach its own request (checked by the value read back).
    constexpr int total = 40'000;
    countdown all(total);
    std::atomic<int> right{0};
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = t; i < total; i += 4) {
                const int key = i % keys;
                s->execute(bound(select.value(), {cql::text_value(std::to_string(key))}),
                           [&, key](rtcrm::result<cql::result_body> r) {
                               const auto* rows = r.ok() ? std::get_if<cql::rows_result>(&r.value()) : nullptr;
                               if (rows != nullptr && rows->rows.size() == 1 && cql::as_int(rows->rows[0][0]) == key) {
                                   right.fetch_add(1);
                               } else {
                                   wrong.fetch_add(1);
                               }
                               all.done();
                           });
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    ASSERT_TRUE(all.wait(120s)) << right.load() << " right, " << wrong.load() << " wrong so far";
    EXPECT_EQ(right.load(), total);
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(peer.connections_accepted(), 1U) << "everything went over the one connection";
    EXPECT_EQ(s->stats().retries, 0U);
}

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
