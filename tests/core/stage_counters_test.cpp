#include "core/pipeline.hpp"
#include "core/stage_counters.hpp"

#include <rtcrm/core/error.hpp>

#include <gtest/gtest.h>

#include <set>

namespace {

using rtcrm::detail::stage_counters;

// A code sharing a slot with another would be reported under the other's name.
TEST(stage_counters, every_errc_has_its_own_dead_letter_slot) {
    std::set<std::size_t> slots;
    for (const auto code : rtcrm::all_errc) {
        if (code == rtcrm::errc::ok) {
            continue;
        }
        const auto slot = stage_counters::reason_slot(code);
        ASSERT_LT(slot, stage_counters::reasons);
        EXPECT_EQ(stage_counters::slot_codes[slot], code) << rtcrm::errc_name(code);
        EXPECT_TRUE(slots.insert(slot).second) << rtcrm::errc_name(code);
    }
    EXPECT_EQ(slots.size(), rtcrm::all_errc.size() - 1);
}

TEST(stage_counters, reports_each_reason_under_its_own_code) {
    stage_counters counters;
    std::uint64_t n = 1;
    for (const auto code : rtcrm::all_errc) {
        if (code != rtcrm::errc::ok) {
            stage_counters::bump(counters.by_reason[stage_counters::reason_slot(code)], n++);
        }
    }
    rtcrm::runtime_stats stats;
    std::array<std::uint64_t, stage_counters::reasons> reasons{};
    counters.add_to(stats, reasons);
    rtcrm::detail::pipeline_parts::finish_reasons(stats, reasons);
    ASSERT_EQ(stats.dead_lettered_by_reason.size(), rtcrm::all_errc.size() - 1);
    n = 1;
    for (const auto& [code, count] : stats.dead_lettered_by_reason) {
        EXPECT_EQ(count, n++) << rtcrm::errc_name(code);
    }
    for (const auto code : {rtcrm::errc::unavailable, rtcrm::errc::ambiguous_key, rtcrm::errc::bad_time}) {
        EXPECT_NE(stats.summary().find(std::string{rtcrm::errc_name(code)} + "="), std::string::npos) << stats.summary();
    }
}

}  // namespace
