// cassandra_store's due-time index over the CQL test peer: `due_timers` answers from the
// `profile_timers` table as the full scan would (the base class's answer is the reference),
// and writes keep the index right when they re-arm, cancel, fail half-way or conflict.
#include <rtcrm/cassandra/cassandra_store.hpp>

#include "cql/cql_protocol.hpp"
#include "support/cql_peer.hpp"
#include "support/result_assertions.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace cql = rtcrm::detail::cql;
using namespace std::chrono_literals;
using rtcrm::testing::succeeded;

constexpr std::int64_t hour = 3'600'000;
constexpr std::int64_t t0 = 1'763'800'000'000;  // 2025-11-22T08:26:40Z

using entries = std::vector<std::pair<std::int64_t, std::string>>;

entries of(const rtcrm::due_page& page) {
    entries out;
    for (const auto& e : page.entries) {
        out.emplace_back(e.due, std::string(e.key.text()));
    }
    return out;
}

class cassandra_timers_test : public ::testing::Test {
protected:
    rtcrm::cassandra_options options() {
        return {.hosts = peer_.contact_points(), .keyspace = "crm", .request_timeout = 2000ms, .max_retries = 3};
    }

    static rtcrm::profile armed(const std::string& player, std::int64_t due) {
        rtcrm::profile p{rtcrm::player_key{player}};
        p.touch(t0);
        p.set_timer("t", due);
        return p;
    }

    // Writes `p` and advances its version as a shard does after its write-back.
    static void write(rtcrm::cassandra_store& store, rtcrm::profile& p) {
        rtcrm::write_batch batch;
        batch.profiles = {p};
        ASSERT_TRUE(succeeded(store.write(batch)));
        p.set_stored_version(p.stored_version() + 1);
    }

    static std::optional<rtcrm::profile> get_one(rtcrm::cassandra_store& store, const std::string& player) {
        std::vector<rtcrm::player_key> keys{rtcrm::player_key{player}};
        std::vector<std::optional<rtcrm::profile>> out(1);
        EXPECT_TRUE(succeeded(store.get(keys, out)));
        return out[0];
    }

    static rtcrm::due_page due(rtcrm::profile_store& store, std::int64_t until,
                               const std::optional<rtcrm::due_entry>& after = std::nullopt, std::size_t limit = 1000,
                               const rtcrm::player_filter& accept = {}) {
        auto page = store.due_timers(until, after, limit, accept);
        EXPECT_TRUE(succeeded(page));
        return page ? std::move(page).value() : rtcrm::due_page{};
    }

    // The full scan's answer (profile_store's own due_timers), which reads the profiles.
    static rtcrm::due_page scanned(rtcrm::cassandra_store& store, std::int64_t until,
                                   const std::optional<rtcrm::due_entry>& after = std::nullopt,
                                   std::size_t limit = 1000, const rtcrm::player_filter& accept = {}) {
        auto page = store.profile_store::due_timers(until, after, limit, accept);
        EXPECT_TRUE(succeeded(page));
        return page ? std::move(page).value() : rtcrm::due_page{};
    }

    std::size_t index_rows() const { return peer_.row_count("crm", "profile_timers"); }
    std::size_t listed_hours() const { return peer_.row_count("crm", "profile_timer_buckets"); }

    rtcrm::test::cql_peer peer_;
};

TEST_F(cassandra_timers_test, due_players_come_in_due_then_key_order_across_hours_as_the_full_scan_gives_them) {
    rtcrm::cassandra_store store(options());
    // Ties on a due are ordered by key text ("10" before "9"); dues span four hours.
    const std::vector<std::pair<std::string, std::int64_t>> timers{
        {"9", t0 + 5},        {"10", t0 + 5}, {"3", t0 - 2 * hour}, {"44", t0 + hour + 1},
        {"5", t0 + 3 * hour}, {"6", t0 + 5},  {"7", t0 - 1},        {"8", t0 + 3 * hour + 7}};
    for (const auto& [player, at] : timers) {
        auto p = armed(player, at);
        write(store, p);
    }
    auto plain = rtcrm::profile{rtcrm::player_key{std::string("no-timer")}};
    write(store, plain);

    const auto all = due(store, t0 + 4 * hour);
    EXPECT_EQ(of(all), (entries{{t0 - 2 * hour, "3"},
                                {t0 - 1, "7"},
                                {t0 + 5, "10"},
                                {t0 + 5, "6"},
                                {t0 + 5, "9"},
                                {t0 + hour + 1, "44"},
                                {t0 + 3 * hour, "5"},
                                {t0 + 3 * hour + 7, "8"}}));
    EXPECT_FALSE(all.more);
    EXPECT_FALSE(all.next_due);
    EXPECT_EQ(of(all), of(scanned(store, t0 + 4 * hour)));

    // The bound cuts inside an hour: next_due is the first due after it.
    const auto early = due(store, t0 + 5);
    EXPECT_EQ(of(early), of(scanned(store, t0 + 5)));
    EXPECT_EQ(early.entries.size(), 5U);
    EXPECT_EQ(early.next_due, t0 + hour + 1);

    // Pages of two, each asked after the last entry of the one before.
    entries paged;
    std::optional<rtcrm::due_entry> after;
    for (int round = 0; round < 10; ++round) {
        const auto page = due(store, t0 + 3 * hour, after, 2);
        const auto reference = scanned(store, t0 + 3 * hour, after, 2);
        EXPECT_EQ(of(page), of(reference));
        EXPECT_EQ(page.more, reference.more);
        EXPECT_EQ(page.next_due, reference.next_due);
        const auto got = of(page);
        paged.insert(paged.end(), got.begin(), got.end());
        if (!page.more) {
            EXPECT_EQ(page.next_due, t0 + 3 * hour + 7);
            break;
        }
        after = page.entries.back();
    }
    EXPECT_EQ(paged.size(), 7U);
    // A limit reached exactly at the bound: no more, and the next due after it.
    const auto exact = due(store, t0 - 1, std::nullopt, 2);
    EXPECT_FALSE(exact.more);
    EXPECT_EQ(exact.next_due, t0 + 5);
}

TEST_F(cassandra_timers_test, players_the_filter_refuses_are_skipped_without_counting_against_the_limit) {
    rtcrm::cassandra_store store(options());
    for (int i = 0; i < 12; ++i) {
        auto p = armed("p" + std::to_string(i), t0 + i * 1000);
        write(store, p);
    }
    const rtcrm::player_filter odd = [](const rtcrm::player_key& k) { return (k.text().back() - '0') % 2 == 1; };
    const auto page = due(store, t0 + 6000, std::nullopt, 2, odd);
    EXPECT_EQ(of(page), (entries{{t0 + 1000, "p1"}, {t0 + 3000, "p3"}}));
    EXPECT_TRUE(page.more);
    const auto rest = due(store, t0 + 6000, page.entries.back(), 2, odd);
    EXPECT_EQ(of(rest), (entries{{t0 + 5000, "p5"}}));
    EXPECT_FALSE(rest.more);
    EXPECT_EQ(rest.next_due, t0 + 7000);  // p6 is refused: the first accepted after the bound
    EXPECT_EQ(rest.next_due, scanned(store, t0 + 6000, page.entries.back(), 2, odd).next_due);
}

TEST_F(cassandra_timers_test, past_the_bound_a_bounded_look_gives_a_next_due_no_later_than_the_first_accepted) {
    auto small = options();
    small.scan_page_size = 3;  // also the look past the bound, and the page size
    rtcrm::cassandra_store store(small);
    auto now = armed("a0", t0);
    write(store, now);
    for (int i = 0; i < 7; ++i) {
        auto refused = armed("r" + std::to_string(i), t0 + 10 + i);
        write(store, refused);
    }
    auto later = armed("a1", t0 + 100);
    write(store, later);
    const rtcrm::player_filter mine = [](const rtcrm::player_key& k) { return k.text().front() == 'a'; };

    const auto bounded = due(store, t0, std::nullopt, 10, mine);
    EXPECT_EQ(of(bounded), (entries{{t0, "a0"}}));
    EXPECT_FALSE(bounded.more);
    EXPECT_EQ(bounded.next_due, t0 + 12);  // the third entry past the bound: no accepted player is due earlier

    rtcrm::cassandra_store wide(options());
    const auto exact = due(wide, t0, std::nullopt, 10, mine);
    EXPECT_EQ(of(exact), (entries{{t0, "a0"}}));
    EXPECT_EQ(exact.next_due, t0 + 100);
}

TEST_F(cassandra_timers_test, re_arming_moves_the_entry_cancelling_removes_it_and_an_emptied_hour_leaves_the_list) {
    rtcrm::cassandra_store store(options());
    auto p = armed("42", t0);
    write(store, p);
    EXPECT_EQ(index_rows(), 1U);

    p.set_timer("t", t0 + 2 * hour);  // re-armed in another hour
    write(store, p);
    EXPECT_EQ(index_rows(), 1U);
    EXPECT_EQ(listed_hours(), 2U);
    EXPECT_EQ(of(due(store, t0 + hour)), entries{});
    EXPECT_EQ(listed_hours(), 1U);  // the hour found empty is taken off the list
    EXPECT_EQ(of(due(store, t0 + 2 * hour)), (entries{{t0 + 2 * hour, "42"}}));

    p.set_timer("u", t0 + 3 * hour);  // a later second timer: the earliest due is unchanged
    write(store, p);
    EXPECT_EQ(index_rows(), 1U);
    p.cancel_timer("t");
    write(store, p);
    EXPECT_EQ(of(due(store, t0 + 4 * hour)), (entries{{t0 + 3 * hour, "42"}}));

    p.cancel_timer("u");
    write(store, p);
    EXPECT_EQ(index_rows(), 0U);
    const auto none = due(store, t0 + 10 * hour);
    EXPECT_TRUE(none.entries.empty());
    EXPECT_FALSE(none.next_due);
    EXPECT_EQ(listed_hours(), 0U);

    // Erasing a player takes its entry with it.
    p.set_timer("t", t0);
    write(store, p);
    rtcrm::write_batch erase;
    erase.erased = {p.key()};
    ASSERT_TRUE(succeeded(store.write(erase)));
    EXPECT_EQ(index_rows(), 0U);
}

TEST_F(cassandra_timers_test, a_write_that_keeps_the_earliest_due_touches_no_index_table) {
    rtcrm::cassandra_store store(options());
    auto p = armed("7", t0);
    write(store, p);
    // Armed for the next index insert: a write that does not need one leaves it armed.
    peer_.fail_next(1, {.code = cql::error_code::invalid, .message = "index insert refused"},
                    "INSERT INTO crm.profile_timers");
    p.set("level", 3);
    write(store, p);
    p.set_timer("t", t0 + 1);
    rtcrm::write_batch batch;
    batch.profiles = {p};
    const auto refused = store.write(batch);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().reason.find("index insert refused"), std::string::npos) << refused.error().reason;
    // The profile was not written: the index and the row still agree on the old due.
    EXPECT_EQ(of(due(store, t0 + 10)), (entries{{t0, "7"}}));
    ASSERT_TRUE(succeeded(store.write(batch)));
    EXPECT_EQ(of(due(store, t0 + 10)), (entries{{t0 + 1, "7"}}));
}

TEST_F(cassandra_timers_test, a_conditional_write_that_fails_leaves_the_index_as_the_winning_write_made_it) {
    rtcrm::cassandra_store first(options());
    rtcrm::cassandra_store second(options());  // the partition's next owner
    auto p = armed("3", t0);
    write(first, p);
    auto old_copy = get_one(first, "3");
    auto new_copy = get_one(second, "3");
    ASSERT_TRUE(old_copy && new_copy);

    new_copy->set_timer("t", t0 + hour);
    write(second, *new_copy);
    old_copy->set_timer("t", t0 + 2 * hour);
    rtcrm::write_batch batch;
    batch.profiles = {*old_copy};
    const auto lost = first.write(batch);
    ASSERT_FALSE(lost);
    EXPECT_EQ(lost.error().code, rtcrm::errc::conflict);

    EXPECT_EQ(of(due(first, t0 + 3 * hour)), (entries{{t0 + hour, "3"}}));
    EXPECT_EQ(index_rows(), 1U);  // the loser's entry is deleted, the replaced one too
    EXPECT_EQ(first.stats().stale_timer_entries, 0U);

    // The same due armed by both, the copies otherwise different: the winner's entry,
    // which is the loser's too, stays.
    auto again_old = get_one(first, "3");
    auto again_new = get_one(second, "3");
    ASSERT_TRUE(again_old && again_new);
    again_new->set_timer("t", t0 + 4 * hour);
    write(second, *again_new);
    again_old->set_timer("t", t0 + 4 * hour);
    again_old->set("level", 1);
    batch.profiles = {*again_old};
    ASSERT_FALSE(first.write(batch));
    EXPECT_EQ(of(due(first, t0 + 5 * hour)), (entries{{t0 + 4 * hour, "3"}}));
}

TEST_F(cassandra_timers_test, a_write_failing_between_its_steps_leaves_only_extra_entries_which_due_timers_skips) {
    rtcrm::cassandra_store store(options());
    auto p = armed("5", t0);
    write(store, p);

    // The new entry is in, the profile write fails: the row still points to the old entry.
    peer_.fail_next(1, {.code = cql::error_code::invalid, .message = "update refused"}, "UPDATE crm.profile");
    p.set_timer("t", t0 + 100);
    rtcrm::write_batch batch;
    batch.profiles = {p};
    ASSERT_FALSE(store.write(batch));
    EXPECT_EQ(index_rows(), 2U);
    EXPECT_EQ(of(due(store, t0 + 1000)), (entries{{t0, "5"}}));
    EXPECT_EQ(index_rows(), 2U);  // a write under way may still land: kept
    ASSERT_TRUE(succeeded(store.write(batch)));
    p.set_stored_version(p.stored_version() + 1);
    EXPECT_EQ(of(due(store, t0 + 1000)), (entries{{t0 + 100, "5"}}));
    EXPECT_EQ(index_rows(), 1U);

    // The profile is written, deleting the old entry fails: that entry is stale, skipped
    // and deleted by the next due_timers.
    peer_.fail_next(1, {.code = cql::error_code::invalid, .message = "delete refused"},
                    "DELETE FROM crm.profile_timers");
    p.set_timer("t", t0 + 200);
    write(store, p);
    EXPECT_EQ(index_rows(), 2U);
    EXPECT_EQ(of(due(store, t0 + 1000)), (entries{{t0 + 200, "5"}}));
    EXPECT_EQ(store.stats().stale_timer_entries, 1U);
    EXPECT_EQ(index_rows(), 1U);

    // A new player whose first write fails after its entry: no row, nothing due, kept.
    peer_.fail_next(1, {.code = cql::error_code::invalid, .message = "update refused"}, "UPDATE crm.profile");
    auto fresh = armed("6", t0 + 50);
    batch.profiles = {fresh};
    ASSERT_FALSE(store.write(batch));
    EXPECT_EQ(of(due(store, t0 + 1000)), (entries{{t0 + 200, "5"}}));
    ASSERT_TRUE(succeeded(store.write(batch)));
    EXPECT_EQ(of(due(store, t0 + 1000)), (entries{{t0 + 50, "6"}, {t0 + 200, "5"}}));
}

TEST_F(cassandra_timers_test, another_instance_reopening_the_keyspace_finds_the_index_and_keeps_it_right) {
    auto p = armed("8", t0);
    {
        rtcrm::cassandra_store store(options());
        write(store, p);
        auto q = armed("9", t0 + hour);
        write(store, q);
    }
    rtcrm::cassandra_store reopened(options());
    EXPECT_EQ(of(due(reopened, t0 + 2 * hour)), (entries{{t0, "8"}, {t0 + hour, "9"}}));
    // A copy this instance never read: it reads which entry the row points to before
    // replacing it.
    p.set_timer("t", t0 + 2 * hour);
    write(reopened, p);
    EXPECT_EQ(index_rows(), 2U);
    EXPECT_EQ(of(due(reopened, t0 + 2 * hour)), (entries{{t0 + hour, "9"}, {t0 + 2 * hour, "8"}}));
    EXPECT_EQ(reopened.stats().stale_timer_entries, 0U);
}

TEST_F(cassandra_timers_test, a_write_that_cannot_learn_what_the_row_points_to_fails_and_writes_nothing) {
    auto p = armed("4", t0);
    {
        rtcrm::cassandra_store store(options());
        write(store, p);
    }
    rtcrm::cassandra_store other(options());  // has not read the row
    peer_.fail_next(1, {.code = cql::error_code::invalid, .message = "read refused"}, "SELECT version, timer_due");
    p.set_timer("t", t0 + hour);
    rtcrm::write_batch batch;
    batch.profiles = {p};
    const auto refused = other.write(batch);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().reason.find("write: reading the timers of the rows it replaces"), std::string::npos)
        << refused.error().reason;
    EXPECT_EQ(index_rows(), 1U);
    EXPECT_EQ(of(due(other, t0 + 2 * hour)), (entries{{t0, "4"}}));
    ASSERT_TRUE(succeeded(other.write(batch)));
    EXPECT_EQ(of(due(other, t0 + 2 * hour)), (entries{{t0 + hour, "4"}}));
    EXPECT_EQ(index_rows(), 1U);
}

TEST_F(cassandra_timers_test, a_read_that_fails_fails_the_call_with_the_servers_reason) {
    rtcrm::cassandra_store store(options());
    for (int i = 0; i < 4; ++i) {
        auto p = armed("p" + std::to_string(i), t0 + i);
        write(store, p);
    }
    // Checking the rows (a chunk of two with a limit of one), reading an hour, the hour list.
    const std::vector<std::string> steps{"SELECT version, timer_due", "FROM crm.profile_timers WHERE",
                                         "FROM crm.profile_timer_buckets"};
    for (const auto& step : steps) {
        peer_.fail_next(1, {.code = cql::error_code::invalid, .message = "read refused"}, step);
        const auto page = store.due_timers(t0 + 10, std::nullopt, 1, {});
        ASSERT_FALSE(page) << step;
        EXPECT_EQ(page.error().reason.rfind("cassandra_store: due_timers: ", 0), 0U) << page.error().reason;
        EXPECT_NE(page.error().reason.find("read refused"), std::string::npos) << page.error().reason;
    }
    EXPECT_EQ(of(due(store, t0 + 10, std::nullopt, 1)), (entries{{t0, "p0"}}));
}

TEST_F(cassandra_timers_test, an_hour_not_known_to_be_empty_after_its_delisting_is_listed_again) {
    rtcrm::cassandra_store store(options());
    auto p = armed("1", t0);
    write(store, p);
    p.cancel_timer("t");
    write(store, p);
    EXPECT_EQ(listed_hours(), 1U);
    // The second look at the emptied hour fails: it may have an entry, so it is listed again.
    peer_.fail_next(1, {.code = cql::error_code::invalid, .message = "probe refused"}, "LIMIT 1");
    EXPECT_TRUE(due(store, t0 + hour).entries.empty());
    EXPECT_EQ(listed_hours(), 1U);
    EXPECT_TRUE(due(store, t0 + hour).entries.empty());
    EXPECT_EQ(listed_hours(), 0U);
}

TEST_F(cassandra_timers_test, writers_re_arming_while_due_timers_cleans_up_leave_no_player_unlisted) {
    rtcrm::cassandra_store store(options());
    constexpr int writers = 3;
    constexpr int players = 8;  // per writer
    constexpr int rounds = 15;
    std::atomic<bool> stop{false};
    // Reads (and so deletes stale entries and takes emptied hours off the list) meanwhile.
    std::thread reader([&] {
        while (!stop.load()) {
            (void)store.due_timers(t0 + 100 * hour, std::nullopt, 1000, {});
        }
    });
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&store, w] {
            std::vector<rtcrm::profile> mine;
            for (int i = 0; i < players; ++i) {
                mine.push_back(armed("w" + std::to_string(w) + "-" + std::to_string(i), t0));
            }
            for (int r = 0; r < rounds; ++r) {
                for (int i = 0; i < players; ++i) {
                    // Hours come and go: each round moves every player to another hour.
                    mine[static_cast<std::size_t>(i)].set_timer("t", t0 + ((r * 7 + i) % 5) * hour + i);
                }
                rtcrm::write_batch batch;
                batch.profiles = mine;
                ASSERT_TRUE(succeeded(store.write(batch)));
                for (auto& p : mine) {
                    p.set_stored_version(p.stored_version() + 1);
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    stop = true;
    reader.join();
    const auto listed = due(store, t0 + 100 * hour);
    EXPECT_EQ(listed.entries.size(), static_cast<std::size_t>(writers * players));
    EXPECT_EQ(of(listed), of(scanned(store, t0 + 100 * hour)));
}

}  // namespace
