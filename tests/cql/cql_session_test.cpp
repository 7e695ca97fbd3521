// The CQL session against the in-process CQL test peer: connecting (handshake,
// authentication, keyspace, contact points) and statements (prepared, batches, paging,
// many requests on one connection). Faults and the cluster: cql_session_faults_test.cpp.
#include "cql/cql_session_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace rtcrm::test;

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

}  // namespace
