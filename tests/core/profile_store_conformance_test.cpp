// One value-parameterised suite for every profile_store backend. A backend joins by
// adding a factory to `backends()` (profile_store_backends.hpp). Cassandra runs over the
// CQL test peer (tests/support/cql_peer.hpp) and, with RTCRM_CASSANDRA_HOSTS set, against
// a real cluster (instantiation `cluster`, ctest label integration-cassandra).
#include "profile_store_backends.hpp"

#include "support/result_assertions.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <thread>
#include <unistd.h>

namespace {

using rtcrm::testing::succeeded;

using namespace rtcrm::test::store_backends;

class profile_store_conformance : public ::testing::TestWithParam<backend> {
protected:
    void SetUp() override { store_ = GetParam().make(); }

    // For the expiry tests: a backend without `expire` is checked to refuse it instead.
    bool skip_unless_expires() {
        if (GetParam().expires) {
            return false;
        }
        const auto refused = store_->expire({.profile_ttl = std::chrono::milliseconds(1)}, 0);
        EXPECT_FALSE(refused);
        if (!refused) {
            EXPECT_EQ(refused.error().code, rtcrm::errc::store_error) << refused.error().reason;
            EXPECT_NE(refused.error().reason.find(store_->name()), std::string::npos) << refused.error().reason;
        }
        return true;
    }

    static rtcrm::profile make_profile(std::int64_t id, std::int64_t level) {
        rtcrm::profile p{rtcrm::player_key{id}};
        p.set("level", level);
        p.incr_windowed("fights_lost", 2, 1'763'800'000'000, 86'400'000);
        p.record_event("fight", 1'763'800'000'000, "e-" + std::to_string(id));
        p.record_trigger("3", 1'763'800'000'000);
        return p;
    }

    std::optional<rtcrm::profile> get_one(const rtcrm::player_key& key) {
        std::vector<rtcrm::player_key> keys{key};
        std::vector<std::optional<rtcrm::profile>> out(1);
        EXPECT_TRUE(succeeded(store_->get(keys, out)));
        return out[0];
    }

    // `next_due` as profile_store.hpp allows it: the earliest accepted due time past the
    // bound, or, from a backend that looks only a bounded way past it, an earlier time
    // still past the bound; nullopt only when no accepted player is due later.
    void expect_next_due(const rtcrm::due_page& page, std::int64_t until, std::optional<std::int64_t> earliest) {
        if (GetParam().exact_next_due || (!page.next_due && !earliest)) {
            EXPECT_EQ(page.next_due, earliest);
            return;
        }
        ASSERT_TRUE(page.next_due) << "told that no accepted player is due after " << until;
        EXPECT_GT(*page.next_due, until);
        if (earliest) {
            EXPECT_LE(*page.next_due, *earliest);
        }
    }

    std::shared_ptr<rtcrm::profile_store> store_;
};

TEST_P(profile_store_conformance, an_unknown_player_has_no_profile) {
    EXPECT_EQ(get_one(rtcrm::player_key{1}), std::nullopt);
}

TEST_P(profile_store_conformance, written_profiles_read_back_equal) {
    rtcrm::write_batch batch;
    batch.profiles = {make_profile(1, 10), make_profile(2, 20)};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    EXPECT_EQ(get_one(rtcrm::player_key{1}), make_profile(1, 10));
    EXPECT_EQ(get_one(rtcrm::player_key{2}), make_profile(2, 20));
}

TEST_P(profile_store_conformance, get_fills_each_slot_in_key_order) {
    rtcrm::write_batch batch;
    batch.profiles = {make_profile(2, 20)};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    std::vector<rtcrm::player_key> keys{rtcrm::player_key{1}, rtcrm::player_key{2}};
    std::vector<std::optional<rtcrm::profile>> out(2, rtcrm::profile{});
    ASSERT_TRUE(succeeded(store_->get(keys, out)));
    EXPECT_EQ(out[0], std::nullopt);
    EXPECT_EQ(out[1], make_profile(2, 20));
}

TEST_P(profile_store_conformance, a_later_write_replaces_the_profile) {
    rtcrm::write_batch batch;
    batch.profiles = {make_profile(1, 10)};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    // The writer's copy after its first write: a store that writes conditionally holds
    // version 1 now (profile_store.hpp), the others ignore the version.
    batch.profiles = {make_profile(1, 11)};
    batch.profiles[0].set_stored_version(1);
    ASSERT_TRUE(succeeded(store_->write(batch)));
    EXPECT_EQ(get_one(rtcrm::player_key{1}), make_profile(1, 11));
}

TEST_P(profile_store_conformance, erased_profiles_are_gone) {
    rtcrm::write_batch batch;
    batch.profiles = {make_profile(1, 10), make_profile(2, 20)};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    rtcrm::write_batch erase;
    erase.erased = {rtcrm::player_key{1}};
    ASSERT_TRUE(succeeded(store_->write(erase)));
    EXPECT_EQ(get_one(rtcrm::player_key{1}), std::nullopt);
    EXPECT_NE(get_one(rtcrm::player_key{2}), std::nullopt);
}

TEST_P(profile_store_conformance, scan_visits_every_profile_once_and_can_stop) {
    rtcrm::write_batch batch;
    for (int i = 1; i <= 100; ++i) {
        batch.profiles.push_back(make_profile(i, i));
    }
    ASSERT_TRUE(succeeded(store_->write(batch)));
    std::multiset<std::string> seen;
    ASSERT_TRUE(succeeded(store_->scan([&](const rtcrm::profile& p) {
        seen.insert(std::string{p.key().text()});
        return true;
    })));
    EXPECT_EQ(seen.size(), 100U);
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 100U);
    int visited = 0;
    ASSERT_TRUE(succeeded(store_->scan([&](const rtcrm::profile&) { return ++visited < 10; })));
    EXPECT_EQ(visited, 10);
}

TEST_P(profile_store_conformance, positions_keep_the_highest_offset_per_partition) {
    rtcrm::write_batch batch;
    batch.positions = {{"kafka:raw", 0, 10}, {"kafka:raw", 1, 5}};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    batch.positions = {{"kafka:raw", 0, 20}};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    auto positions = store_->positions();
    std::sort(positions.begin(), positions.end(), [](const auto& a, const auto& b) { return a.partition < b.partition; });
    ASSERT_EQ(positions.size(), 2U);
    EXPECT_EQ(positions[0].offset, 20);
    EXPECT_EQ(positions[1].offset, 5);
    EXPECT_TRUE(succeeded(store_->flush()));
}

TEST_P(profile_store_conformance, many_large_profiles_fit_the_store) {
    // 4,000 profiles of ~1 KiB: more than the LMDB test store's initial 1 MiB map.
    rtcrm::write_batch batch;
    for (int i = 0; i < 4000; ++i) {
        auto p = make_profile(i, i);
        p.set("blob", std::string(1000, 'x'));
        batch.profiles.push_back(std::move(p));
    }
    ASSERT_TRUE(succeeded(store_->write(batch)));
    auto back = get_one(rtcrm::player_key{3999});
    ASSERT_TRUE(back);
    EXPECT_EQ(std::get<std::string>(*back->get("blob")).size(), 1000U);
}

TEST_P(profile_store_conformance, concurrent_writers_of_disjoint_players_lose_nothing) {
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
        writers.emplace_back([this, t] {
            for (int i = 0; i < 250; ++i) {
                rtcrm::write_batch batch;
                batch.profiles = {make_profile(t * 1000 + i, i)};
                EXPECT_TRUE(succeeded(store_->write(batch)));
            }
        });
    }
    for (auto& w : writers) {
        w.join();
    }
    int n = 0;
    ASSERT_TRUE(succeeded(store_->scan([&](const rtcrm::profile&) { return ++n, true; })));
    EXPECT_EQ(n, 1000);
}

TEST_P(profile_store_conformance, a_parallel_scan_visits_every_profile_exactly_once) {
    rtcrm::write_batch batch;
    for (int i = 1; i <= 10'000; ++i) {
        batch.profiles.push_back(make_profile(i, i));
    }
    ASSERT_TRUE(succeeded(store_->write(batch)));
    for (std::size_t workers : {1U, 3U, 4U, 64U}) {
        std::vector<std::vector<std::int64_t>> seen(workers);  // each worker writes only its own
        std::atomic<std::size_t> made{0};
        ASSERT_TRUE(succeeded(store_->scan_parallel(workers, [&](std::size_t w) -> rtcrm::profile_visitor {
            made.fetch_add(1);
            return [&seen, w](const rtcrm::profile& p) {
                seen[w].push_back(std::get<std::int64_t>(*p.get("level")));
                return true;
            };
        })));
        EXPECT_LE(made.load(), workers);
        std::vector<std::int64_t> all;
        std::size_t busy = 0;
        for (const auto& part : seen) {
            all.insert(all.end(), part.begin(), part.end());
            busy += part.empty() ? 0 : 1;
        }
        std::sort(all.begin(), all.end());
        ASSERT_EQ(all.size(), 10'000U) << workers << " workers";
        for (int i = 0; i < 10'000; ++i) {
            ASSERT_EQ(all[static_cast<std::size_t>(i)], i + 1);
        }
        if (workers > 1 && workers <= 4) {
            EXPECT_GT(busy, 1U) << "the scan did not spread over the workers";
        }
    }
}

// --- TTL --------------------------------------------------------------------------------

constexpr std::int64_t day = 86'400'000;
constexpr std::int64_t t0 = 1'763'800'000'000;

// A profile whose last event was at `last` (event time), with one older event too.
rtcrm::profile active_at(std::int64_t id, std::int64_t last) {
    rtcrm::profile p{rtcrm::player_key{id}};
    p.record_event("login", last - 3 * day, "old");
    p.incr_windowed("logins", 1, last - 3 * day, day);
    p.record_trigger("3", last - 3 * day);
    p.record_event("login", last, "new");
    p.incr_windowed("logins", 1, last, day);
    p.record_trigger("3", last);
    return p;
}

TEST_P(profile_store_conformance, expire_deletes_only_inactive_profiles) {
    if (skip_unless_expires()) {
        GTEST_SKIP() << GetParam().name << " leaves expiry to the database (expire refuses)";
    }
    rtcrm::write_batch batch;
    for (int i = 1; i <= 2500; ++i) {  // more than one LMDB chunk
        batch.profiles.push_back(active_at(i, i % 2 == 0 ? t0 : t0 - 10 * day));
    }
    ASSERT_TRUE(succeeded(store_->write(batch)));
    const auto result = store_->expire({.profile_ttl = std::chrono::milliseconds(7 * day)}, t0);
    ASSERT_TRUE(succeeded(result));
    EXPECT_EQ(result->expired, 1250U);
    EXPECT_EQ(result->trimmed, 0U);
    std::size_t left = 0;
    ASSERT_TRUE(succeeded(store_->scan([&](const rtcrm::profile& p) {
        EXPECT_EQ(p.last_event_ts(), t0) << p.key().text();
        ++left;
        return true;
    })));
    EXPECT_EQ(left, 1250U);
    EXPECT_TRUE(get_one(rtcrm::player_key{2}).has_value());
    EXPECT_FALSE(get_one(rtcrm::player_key{1}).has_value());
}

TEST_P(profile_store_conformance, expire_trims_old_history_and_keeps_totals) {
    if (skip_unless_expires()) {
        GTEST_SKIP() << GetParam().name << " leaves expiry to the database (expire refuses)";
    }
    rtcrm::write_batch batch;
    batch.profiles = {active_at(1, t0)};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    const auto result = store_->expire({.history_ttl = std::chrono::milliseconds(day)}, t0);
    ASSERT_TRUE(succeeded(result));
    EXPECT_EQ(result->trimmed, 1U);
    const auto p = get_one(rtcrm::player_key{1});
    ASSERT_TRUE(p);
    ASSERT_EQ(p->recent().size(), 1U);
    EXPECT_EQ(p->recent()[0].id, "new");
    EXPECT_EQ(p->triggers("3")->recent, std::vector<std::int64_t>{t0});
    EXPECT_EQ(p->triggers("3")->total, 2);
    EXPECT_EQ(p->count("logins", 0, t0), 2);       // the total stays
    EXPECT_EQ(p->count("logins", 7 * day, t0), 1);  // the old bucket is gone
    // Trimming again changes nothing.
    const auto again = store_->expire({.history_ttl = std::chrono::milliseconds(day)}, t0);
    ASSERT_TRUE(succeeded(again));
    EXPECT_EQ(again->trimmed, 0U);
}

TEST_P(profile_store_conformance, a_profile_written_during_a_sweep_is_never_lost) {
    if (skip_unless_expires()) {
        GTEST_SKIP() << GetParam().name << " leaves expiry to the database (expire refuses)";
    }
    // Stale profiles; a writer keeps refreshing some of them while sweeps run.
    rtcrm::write_batch batch;
    for (int i = 1; i <= 3000; ++i) {
        batch.profiles.push_back(active_at(i, t0 - 10 * day));
    }
    ASSERT_TRUE(succeeded(store_->write(batch)));
    std::thread writer([this] {
        for (int i = 1; i <= 3000; i += 3) {
            rtcrm::write_batch fresh;
            fresh.profiles = {active_at(i, t0)};
            ASSERT_TRUE(succeeded(store_->write(fresh)));
        }
    });
    for (int k = 0; k < 5; ++k) {
        ASSERT_TRUE(succeeded(store_->expire({.profile_ttl = std::chrono::milliseconds(7 * day)}, t0)));
    }
    writer.join();
    ASSERT_TRUE(succeeded(store_->expire({.profile_ttl = std::chrono::milliseconds(7 * day)}, t0)));
    for (int i = 1; i <= 3000; ++i) {
        const auto p = get_one(rtcrm::player_key{i});
        if (i % 3 == 1) {
            ASSERT_TRUE(p) << "refreshed profile " << i << " was expired";
            EXPECT_EQ(p->last_event_ts(), t0);
        } else {
            EXPECT_FALSE(p) << "stale profile " << i << " survived";
        }
    }
}


// --- pending timers: the due-time index ---------------------------------------------------
// Every backend answers these, with its own index or through profile_store's scan fallback
// (which the scan_fallback backend checks alone).

// A profile with the timers (name, due) given.
rtcrm::profile with_timers(const rtcrm::player_key& key, std::initializer_list<std::pair<const char*, std::int64_t>> timers) {
    rtcrm::profile p{key};
    p.record_event("login", t0, "e");
    for (const auto& [name, due] : timers) {
        p.set_timer(name, due);
    }
    return p;
}

rtcrm::player_key key_of(std::int64_t id) { return rtcrm::player_key{id}; }

// "(due,key) (due,key) ..." of a page, for readable failures.
std::string listed(const rtcrm::due_page& page) {
    std::string out;
    for (const auto& e : page.entries) {
        out += fmt::format("({},{}) ", e.due, e.key.text());
    }
    return out;
}

TEST_P(profile_store_conformance, due_timers_lists_players_by_due_then_key_text) {
    rtcrm::write_batch batch;
    batch.profiles = {with_timers(key_of(9), {{"a", t0 + 5}}),
                      with_timers(key_of(10), {{"a", t0 + 5}}),  // "10" sorts before "9"
                      with_timers(rtcrm::player_key{std::string{"bob"}}, {{"a", -3}}),
                      with_timers(key_of(7), {{"late", t0 + 9}, {"early", t0 + 1}}),  // the earliest counts
                      with_timers(key_of(8), {{"a", t0 + 100}}),
                      make_profile(6, 1)};  // no timers: never listed
    ASSERT_TRUE(succeeded(store_->write(batch)));
    const auto page = store_->due_timers(t0 + 9, std::nullopt, 100, nullptr);
    ASSERT_TRUE(succeeded(page));
    EXPECT_EQ(listed(page.value()), fmt::format("(-3,bob) ({},7) ({},10) ({},9) ", t0 + 1, t0 + 5, t0 + 5));
    EXPECT_FALSE(page->more);
    expect_next_due(page.value(), t0 + 9, t0 + 100);
    // The bound is inclusive; nothing after every timer.
    const auto first = store_->due_timers(-3, std::nullopt, 100, nullptr);
    ASSERT_TRUE(succeeded(first));
    EXPECT_EQ(listed(first.value()), "(-3,bob) ");
    expect_next_due(first.value(), -3, t0 + 1);
    const auto all = store_->due_timers(t0 + 100, std::nullopt, 100, nullptr);
    ASSERT_TRUE(succeeded(all));
    EXPECT_EQ(all->entries.size(), 5U);
    expect_next_due(all.value(), t0 + 100, std::nullopt);
}

TEST_P(profile_store_conformance, due_timers_pages_with_limit_more_and_after) {
    rtcrm::write_batch batch;
    std::vector<rtcrm::due_entry> expected;
    for (int i = 1; i <= 12; ++i) {
        const std::int64_t due = t0 + (i % 3);  // four players at each of three due times
        batch.profiles.push_back(with_timers(key_of(i), {{"t", due}}));
        expected.push_back({due, key_of(i)});
    }
    batch.profiles.push_back(with_timers(key_of(99), {{"t", t0 + 50}}));
    ASSERT_TRUE(succeeded(store_->write(batch)));
    std::sort(expected.begin(), expected.end(), rtcrm::due_before);

    std::vector<rtcrm::due_entry> seen;
    std::optional<rtcrm::due_entry> after;
    for (int round = 0;; ++round) {
        ASSERT_LT(round, 10) << "paging does not end";
        const auto page = store_->due_timers(t0 + 10, after, 5, nullptr);
        ASSERT_TRUE(succeeded(page));
        seen.insert(seen.end(), page->entries.begin(), page->entries.end());
        if (!page->more) {
            expect_next_due(page.value(), t0 + 10, t0 + 50);
            break;
        }
        ASSERT_EQ(page->entries.size(), 5U);
        after = page->entries.back();
    }
    EXPECT_EQ(seen, expected);

    // A limit the due entries exactly fill: no more, and the next due time is told.
    const auto exact = store_->due_timers(t0 + 10, std::nullopt, 12, nullptr);
    ASSERT_TRUE(succeeded(exact));
    EXPECT_EQ(exact->entries.size(), 12U);
    EXPECT_FALSE(exact->more);
    expect_next_due(exact.value(), t0 + 10, t0 + 50);

    // `after` need not be an entry of the index: the page starts past its place.
    const auto from_gone = store_->due_timers(t0 + 10, rtcrm::due_entry{t0 + 1, key_of(5)}, 100, nullptr);
    ASSERT_TRUE(succeeded(from_gone));
    EXPECT_EQ(listed(from_gone.value()), fmt::format("({0},7) ({1},11) ({1},2) ({1},5) ({1},8) ", t0 + 1, t0 + 2));
    const auto past_a_due_time = store_->due_timers(t0 + 10, rtcrm::due_entry{t0 + 1, key_of(999)}, 100, nullptr);
    ASSERT_TRUE(succeeded(past_a_due_time));
    EXPECT_EQ(listed(past_a_due_time.value()), fmt::format("({0},11) ({0},2) ({0},5) ({0},8) ", t0 + 2));
    const auto before_all = store_->due_timers(t0 + 10, rtcrm::due_entry{t0 - 1, key_of(1)}, 100, nullptr);
    ASSERT_TRUE(succeeded(before_all));
    EXPECT_EQ(before_all->entries, expected);
}

TEST_P(profile_store_conformance, due_timers_skips_refused_players_without_counting_them) {
    rtcrm::write_batch batch;
    for (int i = 1; i <= 10; ++i) {
        batch.profiles.push_back(with_timers(key_of(i), {{"t", t0 + i}}));
    }
    batch.profiles.push_back(with_timers(key_of(21), {{"t", t0 + 20}}));  // refused, due first after the bound
    batch.profiles.push_back(with_timers(key_of(30), {{"t", t0 + 30}}));
    ASSERT_TRUE(succeeded(store_->write(batch)));
    const rtcrm::player_filter even = [](const rtcrm::player_key& k) { return *k.integer() % 2 == 0; };
    const auto page = store_->due_timers(t0 + 10, std::nullopt, 3, even);
    ASSERT_TRUE(succeeded(page));
    EXPECT_EQ(listed(page.value()), fmt::format("({},2) ({},4) ({},6) ", t0 + 2, t0 + 4, t0 + 6));
    EXPECT_TRUE(page->more);
    const auto rest = store_->due_timers(t0 + 10, page->entries.back(), 3, even);
    ASSERT_TRUE(succeeded(rest));
    EXPECT_EQ(listed(rest.value()), fmt::format("({},8) ({},10) ", t0 + 8, t0 + 10));
    EXPECT_FALSE(rest->more);
    expect_next_due(rest.value(), t0 + 10, t0 + 30);  // not player 21's: the filter refuses it
    const auto none = store_->due_timers(t0 + 100, std::nullopt, 3, [](const rtcrm::player_key&) { return false; });
    ASSERT_TRUE(succeeded(none));
    EXPECT_TRUE(none->entries.empty());
    EXPECT_FALSE(none->more);
    expect_next_due(none.value(), t0 + 100, std::nullopt);
}

TEST_P(profile_store_conformance, rearming_moves_a_player_and_cancelling_removes_it) {
    auto p = with_timers(key_of(1), {{"a", t0 + 10}});
    rtcrm::write_batch batch;
    batch.profiles = {p};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    // The shards advance their copy's version at each write-back (profile_store.hpp).
    const auto write_back = [&](rtcrm::profile& copy) {
        copy.set_stored_version(copy.stored_version() + 1);
        rtcrm::write_batch again;
        again.profiles = {copy};
        return store_->write(again);
    };
    const auto due_now = [&] {
        const auto page = store_->due_timers(t0 + 1000, std::nullopt, 10, nullptr);
        EXPECT_TRUE(succeeded(page));
        return page ? listed(page.value()) : std::string{};
    };
    p.set_timer("a", t0 + 20);
    ASSERT_TRUE(succeeded(write_back(p)));
    EXPECT_EQ(due_now(), fmt::format("({},1) ", t0 + 20));
    p.set_timer("b", t0 + 15);
    ASSERT_TRUE(succeeded(write_back(p)));
    EXPECT_EQ(due_now(), fmt::format("({},1) ", t0 + 15));
    p.cancel_timer("b");
    ASSERT_TRUE(succeeded(write_back(p)));
    EXPECT_EQ(due_now(), fmt::format("({},1) ", t0 + 20));
    p.cancel_timer("a");
    ASSERT_TRUE(succeeded(write_back(p)));
    EXPECT_EQ(due_now(), "");
    const auto page = store_->due_timers(t0 + 1000, std::nullopt, 10, nullptr);
    ASSERT_TRUE(succeeded(page));
    expect_next_due(page.value(), t0 + 1000, std::nullopt);
    EXPECT_TRUE(get_one(key_of(1)).has_value());  // the profile stays, without timers
}

TEST_P(profile_store_conformance, the_last_copy_of_a_player_in_a_batch_sets_its_due_time) {
    rtcrm::write_batch batch;
    batch.profiles = {with_timers(key_of(1), {{"a", t0 + 10}}), with_timers(key_of(1), {{"a", t0 + 30}})};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    const auto page = store_->due_timers(t0 + 1000, std::nullopt, 10, nullptr);
    ASSERT_TRUE(succeeded(page));
    EXPECT_EQ(listed(page.value()), fmt::format("({},1) ", t0 + 30));
}

TEST_P(profile_store_conformance, erasing_a_player_removes_its_due_time) {
    rtcrm::write_batch batch;
    batch.profiles = {with_timers(key_of(1), {{"a", t0 + 10}}), with_timers(key_of(2), {{"a", t0 + 20}})};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    rtcrm::write_batch erase;
    erase.erased = {key_of(1)};
    ASSERT_TRUE(succeeded(store_->write(erase)));
    const auto page = store_->due_timers(t0 + 1000, std::nullopt, 10, nullptr);
    ASSERT_TRUE(succeeded(page));
    EXPECT_EQ(listed(page.value()), fmt::format("({},2) ", t0 + 20));
}

TEST_P(profile_store_conformance, expiry_keeps_players_with_timers_and_their_due_times) {
    if (skip_unless_expires()) {
        GTEST_SKIP() << GetParam().name << " leaves expiry to the database (expire refuses)";
    }
    rtcrm::write_batch batch;
    auto waiting = active_at(1, t0 - 10 * day);
    waiting.set_timer("winback", t0 + day);
    batch.profiles = {waiting, active_at(2, t0 - 10 * day)};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    const auto swept = store_->expire({.profile_ttl = std::chrono::milliseconds(7 * day)}, t0);
    ASSERT_TRUE(succeeded(swept));
    EXPECT_EQ(swept->expired, 1U);
    EXPECT_TRUE(get_one(key_of(1)).has_value());
    const auto page = store_->due_timers(t0 + day, std::nullopt, 10, nullptr);
    ASSERT_TRUE(succeeded(page));
    EXPECT_EQ(listed(page.value()), fmt::format("({},1) ", t0 + day));
}

INSTANTIATE_TEST_SUITE_P(backends, profile_store_conformance, ::testing::ValuesIn(backends()),
                         [](const auto& param_info) { return param_info.param.name; });
// Empty unless RTCRM_CASSANDRA_HOSTS is set (run through ctest's cassandra_cluster_conformance).
INSTANTIATE_TEST_SUITE_P(cluster, profile_store_conformance, ::testing::ValuesIn(cluster_backends()),
                         [](const auto& param_info) { return param_info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(profile_store_conformance);

// The cluster run's guard: without RTCRM_CASSANDRA_HOSTS it is skipped, not passed.
TEST(cassandra_cluster, is_named_by_rtcrm_cassandra_hosts) {
    if (std::getenv("RTCRM_CASSANDRA_HOSTS") == nullptr) {
        GTEST_SKIP() << "RTCRM_CASSANDRA_HOSTS is not set: no cluster to run the conformance suite against";
    }
    EXPECT_FALSE(cluster_backends().empty());
}

}  // namespace
