#include <rtcrm/core/error.hpp>
#include <rtcrm/lua/segment.hpp>

#include <gtest/gtest.h>

namespace {

rtcrm::profile player(std::int64_t id, std::int64_t level, int losses) {
    rtcrm::profile p{rtcrm::player_key{id}};
    p.set("level", level);
    for (int i = 0; i < losses; ++i) {
        p.incr_windowed("fights_lost", 1, 1'763'800'000'000 + i, 86'400'000);
    }
    return p;
}

}  // namespace

TEST(segment, an_expression_over_p_selects_profiles) {
    rtcrm::segment high{R"(p:get("level") > 10)"};
    EXPECT_TRUE(high.matches(player(1, 12, 0)).value());
    EXPECT_FALSE(high.matches(player(2, 3, 0)).value());
}

TEST(segment, a_chunk_returning_a_function_works_too) {
    rtcrm::segment lost{R"(return function(profile)
        return (profile:get("level") or 0) < 10 and profile:get("fights_lost") >= 3
    end)"};
    EXPECT_TRUE(lost.matches(player(1, 5, 3)).value());
    EXPECT_FALSE(lost.matches(player(2, 5, 2)).value());
    EXPECT_FALSE(lost.matches(player(3, 50, 3)).value());
}

TEST(segment, a_predicate_changes_nothing_of_the_profile_it_sees) {
    rtcrm::segment writer{R"(return function(p) p:set("level", 99); return true end)"};
    const auto p = player(1, 5, 0);
    EXPECT_TRUE(writer.matches(p).value());
    EXPECT_EQ(std::get<std::int64_t>(*p.get("level")), 5);
}

TEST(segment, text_that_does_not_load_is_refused_with_its_line) {
    try {
        rtcrm::segment bad{"p:get(\"level\") >"};
        FAIL() << "accepted";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
        EXPECT_EQ(std::string{e.what()}.rfind("where:1:", 0), 0U) << e.what();
    }
    EXPECT_THROW(rtcrm::segment{"return 42"}, rtcrm::error);  // not a function
}

TEST(segment, errors_and_endless_loops_fail_the_profile_not_the_scan) {
    rtcrm::segment broken{R"(p:get("level") + nil)"};
    const auto r = broken.matches(player(1, 5, 0));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, rtcrm::errc::handler_failed);
    EXPECT_NE(r.error().reason.find("where:1:"), std::string::npos) << r.error().reason;

    rtcrm::segment endless{"return function(p) while true do end end", {.instruction_budget = 10'000}};
    const auto e = endless.matches(player(1, 5, 0));
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().reason.find("instruction budget"), std::string::npos) << e.error().reason;
    // The state is still usable afterwards.
    rtcrm::segment ok{"p:get('level') == 5"};
    EXPECT_TRUE(ok.matches(player(1, 5, 0)).value());
}

TEST(segment, windows_end_at_the_profiles_latest_event_or_at_a_given_now) {
    auto p = player(1, 5, 3);                              // three losses at ts0 (+0..2 ms)
    p.record_event("fight", 1'763'800'000'002, "e-3");     // the latest event
    rtcrm::segment today{R"(p:count("fights_lost", "1d") >= 3)"};
    EXPECT_TRUE(today.matches(p).value());
    rtcrm::segment week_later{R"(p:count("fights_lost", "1d") >= 3)", {.now_ms = 1'763'800'000'000 + 7 * 86'400'000LL}};
    EXPECT_FALSE(week_later.matches(p).value());
}
