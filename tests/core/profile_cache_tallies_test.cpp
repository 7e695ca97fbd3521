// profile_cache and the tallies of a volatile store whose writes fail: the tallies of a
// failed write-back go with the next one, once, one entry per name.
#include <rtcrm/core/memory_store.hpp>

#include "core/profile_cache.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <map>

namespace {

// A volatile store that keeps tallies, refuses its writes while `refusing`, and records
// the tallies of each write it takes.
class refusing_store final : public rtcrm::profile_store {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "refusing"; }
    rtcrm::result<void> get(std::span<const rtcrm::player_key> keys,
                            std::span<std::optional<rtcrm::profile>> out) override {
        return inner_.get(keys, out);
    }
    rtcrm::result<void> write(const rtcrm::write_batch& batch) override {
        if (refusing) {
            return rtcrm::failure{std::error_code(EIO, std::generic_category()), "refusing: write: refused on purpose"};
        }
        written.push_back(batch.tallies);
        return inner_.write(batch);
    }
    rtcrm::result<void> scan(const rtcrm::profile_visitor& visit) override { return inner_.scan(visit); }
    rtcrm::result<void> flush() override { return {}; }
    [[nodiscard]] std::vector<rtcrm::source_position> positions() override { return inner_.positions(); }
    [[nodiscard]] bool keeps_tallies() const noexcept override { return true; }
    rtcrm::result<std::vector<rtcrm::tally>> tallies() override { return inner_.tallies(); }

    bool refusing = true;
    std::vector<std::vector<rtcrm::tally>> written;  // the tallies of each write taken

private:
    rtcrm::memory_store inner_;
};

TEST(profile_cache_tallies, a_failed_write_back_keeps_its_tallies_for_the_next_one) {
    auto store = std::make_shared<refusing_store>();
    rtcrm::runtime_options options;
    rtcrm::detail::stage_counters counters;
    rtcrm::detail::shard_activity activity;
    rtcrm::detail::profile_cache cache{options, store, nullptr, counters, activity};
    std::int64_t seen = 0;  // what a bolt counted since it was last asked
    cache.take_tallies_from([&](std::vector<rtcrm::tally>& out) {
        if (seen != 0) {
            out.emplace_back("seen", std::exchange(seen, 0));
            out.emplace_back("asked", 1);
        }
    });
    const std::vector<rtcrm::player_key> keys{rtcrm::player_key{1}};
    ASSERT_TRUE(cache.load_keys(keys));
    auto& e = cache.at(keys[0]);
    e.p.set("level", std::int64_t{1});
    cache.mark_dirty(e);
    seen = 3;
    cache.write_back();  // refused
    EXPECT_EQ(counters.store_errors.load(), 1U);
    seen = 4;
    cache.write_back();  // refused again: "seen" 3 and 4 kept as one entry, "asked" too
    EXPECT_EQ(counters.store_errors.load(), 2U);
    store->refusing = false;
    seen = 5;
    cache.write_back();
    ASSERT_EQ(store->written.size(), 1U);
    EXPECT_EQ(store->written[0], (std::vector<rtcrm::tally>{{"asked", 3}, {"seen", 12}}));
    cache.write_back();  // nothing dirty, nothing counted: nothing written
    EXPECT_EQ(store->written.size(), 1U);
    auto sums = store->tallies();
    ASSERT_TRUE(sums);
    std::map<std::string, std::int64_t> by_name(sums.value().begin(), sums.value().end());
    EXPECT_EQ(by_name, (std::map<std::string, std::int64_t>{{"asked", 3}, {"seen", 12}}));
}

TEST(profile_cache_tallies, tallies_alone_are_written_to_a_volatile_store) {
    auto store = std::make_shared<refusing_store>();
    store->refusing = false;
    rtcrm::runtime_options options;
    rtcrm::detail::stage_counters counters;
    rtcrm::detail::shard_activity activity;
    rtcrm::detail::profile_cache cache{options, store, nullptr, counters, activity};
    cache.take_tallies_from([](std::vector<rtcrm::tally>& out) { out.emplace_back("ticks", 1); });
    cache.write_back();
    ASSERT_EQ(store->written.size(), 1U);
    EXPECT_EQ(store->written[0], (std::vector<rtcrm::tally>{{"ticks", 1}}));
}

}  // namespace
