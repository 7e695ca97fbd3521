// The runtime and the tallies of a store that keeps them: what the shard bolts count
// (bolt::take_tallies) goes to the store with the write-backs of the profiles it came
// from, and the next runtime's bolts get the stored sums (bolt_placement::stored_tallies).
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>

#include "support/result_assertions.hpp"
#include "support/test_components.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>

namespace {

using namespace std::chrono_literals;
using namespace rtcrm::testing;

// What the factories of one runtime saw.
struct placements {
    std::mutex mutex;
    std::vector<std::shared_ptr<const std::vector<rtcrm::tally>>> shard;  // per shard bolt made
    std::vector<std::shared_ptr<const std::vector<rtcrm::tally>>> ingest;
    std::atomic<std::int64_t> ticks{0};  // ticks_bolt: every tick of every instance
};

// Counts the events it sees into the tally "seen" (and touches their profiles), and its
// ticks into "ticks"; hands the changes over in take_tallies.
class counting_bolt final : public rtcrm::bolt {
public:
    explicit counting_bolt(placements* seen) : seen_(seen) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "counting"; }
    void process(std::span<rtcrm::event> batch, rtcrm::bolt_context& ctx) override {
        for (auto& ev : batch) {
            if (auto* p = ctx.profile_of(ev)) {
                p->incr("seen", 1);
            }
            ++events_;
        }
    }
    void tick() override {
        ++ticks_;
        seen_->ticks.fetch_add(1);
    }
    void take_tallies(std::vector<std::pair<std::string, std::int64_t>>& out) override {
        if (events_ > 0) {
            out.emplace_back("seen", std::exchange(events_, 0));
        }
        if (ticks_ > 0) {
            out.emplace_back("ticks", std::exchange(ticks_, 0));
        }
    }

    static rtcrm::bolt_factory factory(placements& seen) {
        return [&seen](const rtcrm::bolt_placement& where) {
            std::lock_guard lock(seen.mutex);
            seen.shard.push_back(where.stored_tallies);
            return std::make_unique<counting_bolt>(&seen);
        };
    }

private:
    placements* seen_;
    std::int64_t events_ = 0;
    std::int64_t ticks_ = 0;
};

// An ingest bolt that only notes its placement.
rtcrm::bolt_factory noting_ingest(placements& seen) {
    return [&seen](const rtcrm::bolt_placement& where) {
        std::lock_guard lock(seen.mutex);
        seen.ingest.push_back(where.stored_tallies);
        return std::make_unique<echo_bolt>();
    };
}

std::map<std::string, std::int64_t> sums(rtcrm::profile_store& store) {
    auto read = store.tallies();
    EXPECT_TRUE(succeeded(read));
    std::map<std::string, std::int64_t> out;
    if (read) {
        for (const auto& [name, value] : read.value()) {
            out[name] += value;
        }
    }
    return out;
}

std::vector<std::string> fights(int n, int first_seq = 0) {
    std::vector<std::string> lines;
    for (int i = 0; i < n; ++i) {
        lines.push_back(fight_json(i % 37 + 1, first_seq + i));
    }
    return lines;
}

// Runs `lines` through a runtime of `shards` shards over `store`, with counting bolts.
void run_counting(std::shared_ptr<rtcrm::profile_store> store, std::vector<std::string> lines, std::uint32_t shards,
                  placements& seen) {
    rtcrm::topology t;
    t.add_source(std::make_unique<vector_source>(std::move(lines), 3))
        .with_store(std::move(store))
        .add_ingest_bolt(noting_ingest(seen))
        .add_shard_bolt(counting_bolt::factory(seen))
        .with_options({.shards = shards,
                       .store_interval = std::chrono::milliseconds(2),
                       .durable_store_interval = std::chrono::milliseconds(2),
                       .cache_max_profiles = 10});
    rtcrm::runtime rt{std::move(t)};
    rt.run();
    EXPECT_EQ(rt.stats().store_errors, 0U);
}

class scoped_dir {
public:
    explicit scoped_dir(std::string_view name)
        : path_(std::filesystem::temp_directory_path() / fmt::format("rtcrm_{}_{}", name, ::getpid())) {
        std::filesystem::remove_all(path_);
    }
    ~scoped_dir() { std::filesystem::remove_all(path_); }
    [[nodiscard]] std::string str() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

TEST(runtime_tallies, a_memory_store_sums_what_every_shard_counted) {
    constexpr int events = 3000;
    auto store = std::make_shared<rtcrm::memory_store>();
    placements seen;
    run_counting(store, fights(events), 3, seen);
    const auto stored = sums(*store);
    ASSERT_EQ(stored.count("seen"), 1U);
    EXPECT_EQ(stored.at("seen"), events);
    EXPECT_EQ(stored.at("ticks"), seen.ticks.load());
}

TEST(runtime_tallies, an_lmdb_store_sums_them_and_the_next_runtime_starts_from_the_sums) {
    constexpr int first = 2000;
    constexpr int second = 700;
    const scoped_dir dir{"tallies_lmdb"};
    placements before;
    {
        auto store = std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = dir.str(), .sync = false});
        run_counting(store, fights(first), 2, before);
    }
    // A fresh store: every shard bolt got the same, empty, list; ingest bolts none.
    ASSERT_EQ(before.shard.size(), 2U);
    ASSERT_NE(before.shard[0], nullptr);
    EXPECT_TRUE(before.shard[0]->empty());
    EXPECT_EQ(before.shard[1], before.shard[0]);
    for (const auto& p : before.ingest) {
        EXPECT_EQ(p, nullptr);
    }
    std::int64_t ticks_first = before.ticks.load();
    {
        rtcrm::lmdb_store reader{{.path = dir.str(), .read_only = true}};
        const auto stored = sums(reader);
        EXPECT_EQ(stored, (std::map<std::string, std::int64_t>{{"seen", first}, {"ticks", ticks_first}}));
    }
    placements after;
    {
        auto store = std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = dir.str(), .sync = false});
        run_counting(store, fights(second, first), 4, after);
        EXPECT_EQ(sums(*store),
                  (std::map<std::string, std::int64_t>{{"seen", first + second}, {"ticks", ticks_first + after.ticks.load()}}));
    }
    ASSERT_EQ(after.shard.size(), 4U);
    ASSERT_NE(after.shard[0], nullptr);
    auto given = *after.shard[0];
    std::sort(given.begin(), given.end());
    EXPECT_EQ(given, (std::vector<rtcrm::tally>{{"seen", first}, {"ticks", ticks_first}}));
    for (const auto& p : after.shard) {
        EXPECT_EQ(p, after.shard[0]) << "every shard gets the same object";
    }
}

// No event at all: the final write-back carries the ticks' tallies without a dirty profile.
TEST(runtime_tallies, tallies_without_changed_profiles_are_written_too) {
    const scoped_dir dir{"tallies_alone"};
    placements seen;
    auto store = std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = dir.str(), .sync = false});
    run_counting(store, {}, 2, seen);
    ASSERT_GT(seen.ticks.load(), 0);
    EXPECT_EQ(sums(*store), (std::map<std::string, std::int64_t>{{"ticks", seen.ticks.load()}}));
    std::size_t profiles = 0;
    ASSERT_TRUE(succeeded(store->scan([&](const rtcrm::profile&) {
        ++profiles;
        return true;
    })));
    EXPECT_EQ(profiles, 0U);
}

// A durable store that refuses its first `refusals` writes: the committer retries each
// failed write whole, its tallies with it, so every event is counted exactly once.
class flaky_store final : public rtcrm::profile_store {
public:
    explicit flaky_store(int refusals) : refusals_(refusals) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "flaky"; }
    rtcrm::result<void> get(std::span<const rtcrm::player_key> keys,
                            std::span<std::optional<rtcrm::profile>> out) override {
        return inner_.get(keys, out);
    }
    rtcrm::result<void> write(const rtcrm::write_batch& batch) override {
        if (refusals_.fetch_sub(1) > 0) {
            return rtcrm::failure{std::error_code(EIO, std::generic_category()), "flaky: write: refused on purpose"};
        }
        return inner_.write(batch);
    }
    rtcrm::result<void> scan(const rtcrm::profile_visitor& visit) override { return inner_.scan(visit); }
    rtcrm::result<void> flush() override { return {}; }
    [[nodiscard]] std::vector<rtcrm::source_position> positions() override { return inner_.positions(); }
    [[nodiscard]] bool durable() const noexcept override { return true; }
    [[nodiscard]] bool keeps_tallies() const noexcept override { return true; }
    rtcrm::result<std::vector<rtcrm::tally>> tallies() override { return inner_.tallies(); }

private:
    std::atomic<int> refusals_;
    rtcrm::memory_store inner_;
};

TEST(runtime_tallies, writes_retried_after_failures_count_each_event_once) {
    constexpr int events = 2000;
    auto store = std::make_shared<flaky_store>(5);
    placements seen;
    rtcrm::topology t;
    t.add_source(std::make_unique<vector_source>(fights(events), 3))
        .with_store(store)
        .add_shard_bolt(counting_bolt::factory(seen))
        .with_options({.shards = 2, .durable_store_interval = std::chrono::milliseconds(1)});
    rtcrm::runtime rt{std::move(t)};
    rt.run();
    EXPECT_EQ(rt.stats().unstored, 0U);
    EXPECT_EQ(sums(*store)["seen"], events);
}

// A store that keeps tallies and cannot read them is a startup error naming it.
class unreadable_tallies_store final : public rtcrm::profile_store {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "unreadable"; }
    rtcrm::result<void> get(std::span<const rtcrm::player_key> keys,
                            std::span<std::optional<rtcrm::profile>> out) override {
        return inner_.get(keys, out);
    }
    rtcrm::result<void> write(const rtcrm::write_batch& batch) override { return inner_.write(batch); }
    rtcrm::result<void> scan(const rtcrm::profile_visitor& visit) override { return inner_.scan(visit); }
    rtcrm::result<void> flush() override { return {}; }
    [[nodiscard]] std::vector<rtcrm::source_position> positions() override { return inner_.positions(); }
    [[nodiscard]] bool keeps_tallies() const noexcept override { return true; }
    rtcrm::result<std::vector<rtcrm::tally>> tallies() override {
        return rtcrm::failure{std::error_code(EIO, std::generic_category()), "unreadable: tallies: Input/output error"};
    }

private:
    rtcrm::memory_store inner_;
};

TEST(runtime_tallies, tallies_that_cannot_be_read_are_a_startup_error) {
    placements seen;
    rtcrm::topology t;
    t.add_source(std::make_unique<vector_source>(fights(10)))
        .with_store(std::make_shared<unreadable_tallies_store>())
        .add_shard_bolt(counting_bolt::factory(seen));
    try {
        rtcrm::runtime rt{std::move(t)};
        FAIL() << "the runtime started";
    } catch (const rtcrm::error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("tallies"), std::string::npos) << what;
        EXPECT_NE(what.find("unreadable"), std::string::npos) << what;
        EXPECT_NE(what.find("Input/output error"), std::string::npos) << what;
    }
    EXPECT_TRUE(seen.shard.empty()) << "no bolt is made before the tallies are read";
}

}  // namespace
