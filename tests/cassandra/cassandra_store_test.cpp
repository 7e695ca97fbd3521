// cassandra_store over the CQL test peer: the schema, the event history, source positions,
// and what the store does when the cluster misbehaves. (The behaviour every store shares is
// in tests/core/profile_store_conformance_test.cpp, which runs against this store too.)
#include <rtcrm/cassandra/cassandra_store.hpp>
#include <rtcrm/core/error.hpp>

#include "cql/cql_session.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_peer.hpp"
#include "support/result_assertions.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

namespace {

namespace cql = rtcrm::detail::cql;
using namespace std::chrono_literals;
using rtcrm::testing::succeeded;

constexpr std::int64_t day = 86'400'000;
constexpr std::int64_t t0 = 1'763'800'000'000;  // 2025-11-22, day 20414

rtcrm::profile player_with_events(std::int64_t id, std::int64_t first_ts, int events) {
    rtcrm::profile p{rtcrm::player_key{id}};
    for (int i = 0; i < events; ++i) {
        const auto ts = first_ts + i * 1000;
        p.record_event("fight", ts, "e" + std::to_string(id) + "-" + std::to_string(ts));
        p.touch(ts);
    }
    p.set("level", id);
    return p;
}

class cassandra_store_test : public ::testing::Test {
protected:
    rtcrm::cassandra_options options(std::string keyspace = "crm") {
        return {.hosts = peer_.contact_points(), .keyspace = std::move(keyspace), .request_timeout = 2000ms, .max_retries = 3};
    }

    // Rows of one event partition, in clustering (timeuuid) order, read with a session of
    // our own: what a reader of the history sees.
    std::vector<std::vector<cql::value>> event_rows(std::int64_t player, std::int32_t day_number) {
        if (!reader_) {
            reader_ = cql::session::connect({.contact_points = peer_.contact_points()});
        }
        cql::statement s;
        s.query = "SELECT timeid, type, event FROM crm.event WHERE player_id = ? AND day = ?";
        s.values = {cql::text_value(std::to_string(player)), cql::int_value(day_number)};
        auto r = reader_->execute_sync(std::move(s));
        EXPECT_TRUE(r) << (r ? "" : r.error().reason);
        if (!r) {
            return {};
        }
        return std::get<cql::rows_result>(r.value()).rows;
    }

    std::optional<rtcrm::profile> get_one(rtcrm::cassandra_store& store, std::int64_t id) {
        std::vector<rtcrm::player_key> keys{rtcrm::player_key{id}};
        std::vector<std::optional<rtcrm::profile>> out(1);
        EXPECT_TRUE(succeeded(store.get(keys, out)));
        return out[0];
    }

    rtcrm::test::cql_peer peer_;
    std::shared_ptr<cql::session> reader_;
};

TEST_F(cassandra_store_test, creates_the_keyspace_and_its_tables_once) {
    rtcrm::cassandra_store first(options());
    rtcrm::cassandra_store second(options());  // IF NOT EXISTS: a second instance starts too
    EXPECT_EQ(peer_.row_count("crm", "profile"), 0U);
    EXPECT_EQ(peer_.row_count("crm", "event"), 0U);
    EXPECT_EQ(peer_.row_count("crm", "source_position"), 0U);
}

TEST_F(cassandra_store_test, a_profile_written_by_one_instance_is_read_by_another) {
    rtcrm::cassandra_store writer(options());
    rtcrm::write_batch batch;
    batch.profiles = {player_with_events(7, t0, 3)};
    ASSERT_TRUE(succeeded(writer.write(batch)));
    rtcrm::cassandra_store reader(options());
    EXPECT_EQ(get_one(reader, 7), batch.profiles[0]);
}

TEST_F(cassandra_store_test, each_recorded_event_is_appended_once_in_its_day_partition) {
    rtcrm::cassandra_store store(options());
    auto p = player_with_events(1, t0, 3);
    rtcrm::write_batch batch;
    batch.profiles = {p};
    ASSERT_TRUE(succeeded(store.write(batch)));
    ASSERT_TRUE(succeeded(store.write(batch)));  // the same profile again: no new rows
    EXPECT_EQ(peer_.row_count("crm", "event"), 3U);

    // Two more events, the second on the next day, to the copy the store now holds.
    p.record_event("purchase", t0 + 5000, "buy-1");
    p.record_event("login", t0 + day, "login-2");
    p.set_stored_version(1);
    batch.profiles = {p};
    ASSERT_TRUE(succeeded(store.write(batch)));
    EXPECT_EQ(peer_.row_count("crm", "event"), 5U);

    const auto today = event_rows(1, static_cast<std::int32_t>(t0 / day));
    ASSERT_EQ(today.size(), 4U);
    std::int64_t previous = 0;
    for (const auto& row : today) {  // clustered by time: oldest first
        const auto uuid = cql::as_uuid(row[0]);
        ASSERT_TRUE(uuid);
        const auto ms = cql::timeuuid_generator::unix_ms_of(*uuid);
        EXPECT_GE(ms, previous);
        previous = ms;
    }
    EXPECT_EQ(*today[3][1], "purchase");
    EXPECT_EQ(*today[3][2], R"({"type":"purchase","ts":1763800005000,"id":"buy-1"})");
    const auto tomorrow = event_rows(1, static_cast<std::int32_t>(t0 / day) + 1);
    ASSERT_EQ(tomorrow.size(), 1U);
    EXPECT_EQ(*tomorrow[0][1], "login");
}

TEST_F(cassandra_store_test, a_new_store_appends_only_events_after_those_of_the_profile_it_loaded) {
    {
        rtcrm::cassandra_store store(options());
        rtcrm::write_batch batch;
        batch.profiles = {player_with_events(2, t0, 4)};
        ASSERT_TRUE(succeeded(store.write(batch)));
    }
    rtcrm::cassandra_store restarted(options());
    auto p = get_one(restarted, 2);
    ASSERT_TRUE(p);
    p->record_event("fight", t0 + 60'000, "later");
    rtcrm::write_batch batch;
    batch.profiles = {*p};
    ASSERT_TRUE(succeeded(restarted.write(batch)));
    EXPECT_EQ(peer_.row_count("crm", "event"), 5U);
    EXPECT_GE(restarted.stats().events_appended, 1U);
    EXPECT_LE(restarted.stats().events_appended, 2U);  // the new one, plus the newest known one again
}

TEST_F(cassandra_store_test, a_copy_older_than_another_writers_write_is_a_conflict_and_not_written) {
    rtcrm::cassandra_store first(options());
    rtcrm::cassandra_store second(options());  // the partition's next owner
    rtcrm::write_batch batch;
    batch.profiles = {player_with_events(3, t0, 1)};
    ASSERT_TRUE(succeeded(first.write(batch)));
    auto stale = get_one(first, 3);
    auto fresh = get_one(second, 3);
    ASSERT_TRUE(stale && fresh);
    EXPECT_EQ(stale->stored_version(), 1U);

    fresh->set("level", 99);
    batch.profiles = {*fresh};
    ASSERT_TRUE(succeeded(second.write(batch)));
    stale->set("level", 50);
    batch.profiles = {*stale};
    batch.positions = {{"kafka:raw", 0, 7}};
    const auto lost = first.write(batch);
    ASSERT_FALSE(lost);
    EXPECT_EQ(lost.error().code, rtcrm::errc::conflict);
    EXPECT_FALSE(rtcrm::is_retriable(lost.error().code));
    EXPECT_NE(lost.error().reason.find(R"("3": version 1 expected, 2 stored)"), std::string::npos) << lost.error().reason;
    EXPECT_EQ(first.stats().conflicts, 1U);
    EXPECT_TRUE(first.positions().empty());  // they would claim the update that was not written
    auto stored = get_one(first, 3);
    ASSERT_TRUE(stored);
    EXPECT_EQ(*stored, *fresh);
    EXPECT_EQ(stored->stored_version(), 2U);

    // Read again, the copy is current; two copies of it in one batch (two write-backs
    // merged) are one write: the first copy's version is the condition, the last is written.
    stored->set("level", 51);
    auto later = *stored;
    later.set_stored_version(stored->stored_version() + 1);
    later.set("level", 52);
    batch.profiles = {*stored, later};
    batch.positions.clear();
    ASSERT_TRUE(succeeded(first.write(batch)));
    auto last = get_one(second, 3);
    ASSERT_TRUE(last);
    EXPECT_EQ(*last, later);
    EXPECT_EQ(last->stored_version(), 4U);
}

TEST_F(cassandra_store_test, with_record_events_off_no_history_is_written) {
    auto o = options();
    o.record_events = false;
    rtcrm::cassandra_store store(o);
    rtcrm::write_batch batch;
    batch.profiles = {player_with_events(3, t0, 3)};
    ASSERT_TRUE(succeeded(store.write(batch)));
    EXPECT_EQ(peer_.row_count("crm", "event"), 0U);
    EXPECT_EQ(peer_.row_count("crm", "profile"), 1U);
}

TEST_F(cassandra_store_test, source_positions_survive_a_restart_per_instance) {
    {
        rtcrm::cassandra_store store(options());
        rtcrm::write_batch batch;
        batch.positions = {{"kafka:raw", 0, 41}, {"kafka:raw", 3, 7}};
        ASSERT_TRUE(succeeded(store.write(batch)));
    }
    auto other = options();
    other.instance = "other";
    rtcrm::cassandra_store stranger(other);
    EXPECT_TRUE(stranger.positions().empty());

    rtcrm::cassandra_store restarted(options());
    auto positions = restarted.positions();
    std::sort(positions.begin(), positions.end(), [](const auto& a, const auto& b) { return a.partition < b.partition; });
    ASSERT_EQ(positions.size(), 2U);
    EXPECT_EQ(positions[0], (rtcrm::source_position{"kafka:raw", 0, 41}));
    EXPECT_EQ(positions[1], (rtcrm::source_position{"kafka:raw", 3, 7}));
    // An older offset never overwrites a stored one, even in a new process.
    rtcrm::write_batch older;
    older.positions = {{"kafka:raw", 0, 40}};
    ASSERT_TRUE(succeeded(restarted.write(older)));
    rtcrm::cassandra_store again(options());
    for (const auto& pos : again.positions()) {
        if (pos.partition == 0) {
            EXPECT_EQ(pos.offset, 41);
        }
    }
}

TEST_F(cassandra_store_test, overloaded_and_write_timeouts_are_retried_and_nothing_is_lost) {
    rtcrm::cassandra_store store(options());
    peer_.fail_next(1, {.code = cql::error_code::overloaded, .message = "peer overloaded"}, "profile");
    peer_.fail_next(1, {.code = cql::error_code::write_timeout, .message = "peer write timeout",
                        .consistency = cql::consistency::local_quorum, .required = 2, .write_type = "SIMPLE"}, "profile");
    rtcrm::write_batch batch;
    for (int i = 0; i < 20; ++i) {
        batch.profiles.push_back(player_with_events(100 + i, t0, 1));
    }
    ASSERT_TRUE(succeeded(store.write(batch)));
    EXPECT_GE(store.stats().retries, 2U);
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(get_one(store, 100 + i), batch.profiles[static_cast<std::size_t>(i)]);
    }
}

TEST_F(cassandra_store_test, a_lost_answer_to_an_applied_write_is_retried_without_duplicating_history) {
    rtcrm::cassandra_store store(options());
    peer_.drop_next(1, true);
    rtcrm::write_batch batch;
    batch.profiles = {player_with_events(5, t0, 3)};
    ASSERT_TRUE(succeeded(store.write(batch)));
    EXPECT_EQ(get_one(store, 5), batch.profiles[0]);
    EXPECT_EQ(peer_.row_count("crm", "event"), 3U);
    EXPECT_GE(store.stats().reconnects, 1U);
}

TEST_F(cassandra_store_test, a_write_that_keeps_failing_reports_a_retriable_error_and_stores_no_position) {
    rtcrm::cassandra_store store(options());
    // Every attempt of the profile write fails: the first and its 3 retries.
    peer_.fail_next(4, {.code = cql::error_code::unavailable, .message = "not enough replicas",
                          .consistency = cql::consistency::local_quorum, .required = 2, .alive = 1}, "profile");
    rtcrm::write_batch batch;
    batch.profiles = {player_with_events(9, t0, 1)};
    batch.positions = {{"kafka:raw", 0, 99}};
    const auto written = store.write(batch);
    ASSERT_FALSE(written);
    EXPECT_TRUE(rtcrm::is_retriable(written.error().code)) << written.error().reason;
    EXPECT_NE(written.error().reason.find("not enough replicas"), std::string::npos) << written.error().reason;
    EXPECT_TRUE(store.positions().empty());  // the position would claim a profile not stored
    EXPECT_EQ(store.stats().failed_writes, 1U);

    // The cluster recovers: the runtime writes the still-dirty profile again (more than once
    // if a retry policy left some of the injected failures unused).
    auto again = store.write(batch);
    for (int attempt = 0; !again && attempt < 4; ++attempt) {
        again = store.write(batch);
    }
    ASSERT_TRUE(succeeded(again));
    EXPECT_EQ(get_one(store, 9), batch.profiles[0]);
    ASSERT_EQ(store.positions().size(), 1U);
}

TEST_F(cassandra_store_test, a_syntax_or_invalid_error_is_not_retried) {
    rtcrm::cassandra_store store(options());
    peer_.fail_next(1, {.code = cql::error_code::invalid, .message = "bad request"}, "profile");
    rtcrm::write_batch batch;
    batch.profiles = {player_with_events(11, t0, 1)};
    const auto written = store.write(batch);
    ASSERT_FALSE(written);
    EXPECT_FALSE(rtcrm::is_retriable(written.error().code)) << written.error().reason;
    EXPECT_EQ(store.stats().retries, 0U);
}

TEST_F(cassandra_store_test, a_slow_cluster_times_out_with_a_retriable_error) {
    auto o = options();
    o.request_timeout = 200ms;
    o.max_retries = 0;
    rtcrm::cassandra_store store(o);
    peer_.set_delay(1500ms);
    rtcrm::write_batch batch;
    batch.profiles = {player_with_events(12, t0, 1)};
    const auto written = store.write(batch);
    peer_.set_delay(0ms);
    ASSERT_FALSE(written);
    EXPECT_EQ(written.error().code, rtcrm::errc::timeout) << written.error().reason;
}

TEST_F(cassandra_store_test, no_reachable_host_is_a_clear_unavailable_error) {
    try {
        rtcrm::cassandra_store store({.hosts = {"127.0.0.1:1"}, .request_timeout = 500ms});
        FAIL() << "connected to nothing";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::unavailable);
        EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
    }
}

TEST_F(cassandra_store_test, bad_options_are_refused_before_connecting) {
    EXPECT_THROW(rtcrm::cassandra_store({.hosts = {}}), rtcrm::error);
    EXPECT_THROW(rtcrm::cassandra_store({.hosts = {"127.0.0.1"}, .keyspace = "crm; DROP"}), rtcrm::error);
    EXPECT_THROW(rtcrm::cassandra_store({.hosts = {"127.0.0.1"}, .max_in_flight = 0}), rtcrm::error);
    const auto text = rtcrm::cassandra_options{.hosts = {"h"}, .username = "u", .password = "secret"}.to_string();
    EXPECT_EQ(text.find("secret"), std::string::npos) << text;
}

TEST(cassandra_hosts, a_comma_separated_list_splits_into_contact_points_skipping_empty_items) {
    EXPECT_EQ(rtcrm::parse_cassandra_hosts("10.0.0.1,10.0.0.2:9043,,[::1]:9044,"),
              (std::vector<std::string>{"10.0.0.1", "10.0.0.2:9043", "[::1]:9044"}));
    EXPECT_EQ(rtcrm::parse_cassandra_hosts("h"), (std::vector<std::string>{"h"}));
    EXPECT_TRUE(rtcrm::parse_cassandra_hosts("").empty());
    EXPECT_TRUE(rtcrm::parse_cassandra_hosts(",,").empty());
}

TEST(cassandra_keyspace, only_unquoted_cql_identifiers_are_keyspace_names) {
    EXPECT_TRUE(rtcrm::is_cql_identifier("crm"));
    EXPECT_TRUE(rtcrm::is_cql_identifier("crm_2026"));
    EXPECT_TRUE(rtcrm::is_cql_identifier(std::string(48, 'k')));
    EXPECT_FALSE(rtcrm::is_cql_identifier(std::string(49, 'k')));
    EXPECT_FALSE(rtcrm::is_cql_identifier(""));
    EXPECT_FALSE(rtcrm::is_cql_identifier("2crm"));
    EXPECT_FALSE(rtcrm::is_cql_identifier("_crm"));
    EXPECT_FALSE(rtcrm::is_cql_identifier("crm-1"));
    EXPECT_FALSE(rtcrm::is_cql_identifier("crm; DROP"));
}

TEST(cassandra_store_auth, connects_with_credentials_and_refuses_a_wrong_password) {
    rtcrm::test::cql_peer peer({.username = "crm", .password = "s3cret"});
    rtcrm::cassandra_store store({.hosts = peer.contact_points(), .username = "crm", .password = "s3cret"});
    rtcrm::write_batch batch;
    batch.profiles = {player_with_events(1, t0, 1)};
    EXPECT_TRUE(succeeded(store.write(batch)));
    EXPECT_THROW(rtcrm::cassandra_store({.hosts = peer.contact_points(), .username = "crm", .password = "wrong"}), rtcrm::error);
}

TEST(cassandra_store_cluster, a_parallel_scan_over_three_nodes_visits_every_profile_once) {
    rtcrm::test::cql_peer peer({.addresses = {"127.0.0.1", "127.0.0.2", "127.0.0.3"}});
    rtcrm::cassandra_store store({.hosts = {peer.contact_points()[0]}, .scan_page_size = 100});
    rtcrm::write_batch batch;
    for (int i = 0; i < 3000; ++i) {
        batch.profiles.push_back(player_with_events(i, t0, 0));
    }
    ASSERT_TRUE(succeeded(store.write(batch)));
    EXPECT_EQ(store.stats().hosts_up, 3U);
    // Token-aware: every node received some of the writes.
    for (std::size_t node = 0; node < 3; ++node) {
        EXPECT_GT(peer.requests(node), 0U) << "node " << node;
    }
    std::vector<std::atomic<int>> seen(3000);
    ASSERT_TRUE(succeeded(store.scan_parallel(4, [&](std::size_t) {
        return [&](const rtcrm::profile& p) {
            seen[static_cast<std::size_t>(*p.key().integer())].fetch_add(1);
            return true;
        };
    })));
    for (int i = 0; i < 3000; ++i) {
        ASSERT_EQ(seen[static_cast<std::size_t>(i)].load(), 1) << "player " << i;
    }
}

}  // namespace
