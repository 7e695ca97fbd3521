// The tallies of every profile_store backend that keeps them (`keeps_tallies`): sums that
// `write` adds to in the same batch as the profiles. Backends that keep none are checked
// to say so and to ignore the tallies they are given.
#include "profile_store_backends.hpp"

#include "support/result_assertions.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <thread>

namespace {

using rtcrm::testing::succeeded;

using namespace rtcrm::test::store_backends;

class profile_store_tallies : public ::testing::TestWithParam<backend> {
protected:
    void SetUp() override { store_ = GetParam().make(); }

    // For a backend without tallies: checks that it says so and still writes the profiles
    // of a batch that carries some. True: the test has nothing more to check.
    bool skip_unless_kept() {
        if (store_->keeps_tallies()) {
            return false;
        }
        rtcrm::write_batch batch;
        batch.profiles.push_back(rtcrm::profile{rtcrm::player_key{7}});
        batch.tallies = {{"seen", 1}};
        EXPECT_TRUE(succeeded(store_->write(batch)));
        EXPECT_EQ(sums(), (std::map<std::string, std::int64_t>{}));
        EXPECT_TRUE(has_profile(rtcrm::player_key{7}));
        return true;
    }

    // The store's tallies by name (a name listed twice fails the test).
    std::map<std::string, std::int64_t> sums() {
        auto read = store_->tallies();
        EXPECT_TRUE(succeeded(read));
        std::map<std::string, std::int64_t> out;
        if (read) {
            for (const auto& [name, value] : read.value()) {
                EXPECT_TRUE(out.emplace(name, value).second) << name << " listed twice";
            }
        }
        return out;
    }

    bool has_profile(const rtcrm::player_key& key) {
        std::vector<rtcrm::player_key> keys{key};
        std::vector<std::optional<rtcrm::profile>> out(1);
        EXPECT_TRUE(succeeded(store_->get(keys, out)));
        return out[0].has_value();
    }

    rtcrm::result<void> write_tallies(std::vector<rtcrm::tally> tallies) {
        rtcrm::write_batch batch;
        batch.tallies = std::move(tallies);
        return store_->write(batch);
    }

    std::shared_ptr<rtcrm::profile_store> store_;
};

TEST_P(profile_store_tallies, a_fresh_store_holds_none) {
    if (skip_unless_kept()) {
        return;
    }
    EXPECT_EQ(sums(), (std::map<std::string, std::int64_t>{}));
}

TEST_P(profile_store_tallies, writes_add_to_the_sums) {
    if (skip_unless_kept()) {
        return;
    }
    ASSERT_TRUE(succeeded(write_tallies({{"seen", 3}})));
    ASSERT_TRUE(succeeded(write_tallies({{"seen", 4}})));
    EXPECT_EQ(sums(), (std::map<std::string, std::int64_t>{{"seen", 7}}));
}

TEST_P(profile_store_tallies, several_names_are_kept_apart_and_repeats_in_a_batch_add_up) {
    if (skip_unless_kept()) {
        return;
    }
    const std::string binary_name{"campaign:\x1f" "33\x1f" "2025-11-22\x1f" "exposures"};
    ASSERT_TRUE(succeeded(write_tallies({{"a", 1}, {"b", 10}, {"a", 2}, {binary_name, 5}})));
    ASSERT_TRUE(succeeded(write_tallies({{"b", 20}, {"c", 100}})));
    EXPECT_EQ(sums(), (std::map<std::string, std::int64_t>{{"a", 3}, {"b", 30}, {"c", 100}, {binary_name, 5}}));
}

TEST_P(profile_store_tallies, negative_values_subtract_and_a_sum_may_go_below_zero) {
    if (skip_unless_kept()) {
        return;
    }
    ASSERT_TRUE(succeeded(write_tallies({{"balance", 5}})));
    ASSERT_TRUE(succeeded(write_tallies({{"balance", -8}, {"debt", -2}})));
    EXPECT_EQ(sums(), (std::map<std::string, std::int64_t>{{"balance", -3}, {"debt", -2}}));
}

TEST_P(profile_store_tallies, a_zero_value_still_names_its_tally) {
    if (skip_unless_kept()) {
        return;
    }
    ASSERT_TRUE(succeeded(write_tallies({{"quiet", 0}})));
    EXPECT_EQ(sums(), (std::map<std::string, std::int64_t>{{"quiet", 0}}));
}

TEST_P(profile_store_tallies, a_batch_writes_its_profiles_positions_and_tallies_together) {
    if (skip_unless_kept()) {
        return;
    }
    rtcrm::write_batch batch;
    rtcrm::profile p{rtcrm::player_key{42}};
    p.set("level", std::int64_t{3});
    batch.profiles.push_back(p);
    batch.positions.push_back({"events", 0, 17});
    batch.tallies = {{"seen", 2}};
    ASSERT_TRUE(succeeded(store_->write(batch)));
    EXPECT_TRUE(has_profile(rtcrm::player_key{42}));
    EXPECT_EQ(store_->positions().size(), 1U);
    EXPECT_EQ(sums(), (std::map<std::string, std::int64_t>{{"seen", 2}}));
}

TEST_P(profile_store_tallies, concurrent_writers_lose_no_addition) {
    if (skip_unless_kept()) {
        return;
    }
    constexpr int writers = 4;
    constexpr int writes = 50;
    {
        std::vector<std::jthread> threads;
        for (int w = 0; w < writers; ++w) {
            threads.emplace_back([&, w] {
                for (int i = 0; i < writes; ++i) {
                    rtcrm::write_batch batch;
                    batch.profiles.push_back(rtcrm::profile{rtcrm::player_key{w * 1000 + i}});
                    batch.tallies = {{"seen", 1}, {"writer" + std::to_string(w), 2}};
                    EXPECT_TRUE(succeeded(store_->write(batch)));
                }
            });
        }
    }
    auto expected = std::map<std::string, std::int64_t>{{"seen", writers * writes}};
    for (int w = 0; w < writers; ++w) {
        expected["writer" + std::to_string(w)] = 2 * writes;
    }
    EXPECT_EQ(sums(), expected);
}

INSTANTIATE_TEST_SUITE_P(backends, profile_store_tallies, ::testing::ValuesIn(backends()),
                         [](const auto& param_info) { return param_info.param.name; });
INSTANTIATE_TEST_SUITE_P(cluster, profile_store_tallies, ::testing::ValuesIn(cluster_backends()),
                         [](const auto& param_info) { return param_info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(profile_store_tallies);

}  // namespace
