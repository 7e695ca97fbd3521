// The experiment options of crm.campaign (holdout, variants, goal, priority,
// transactional) and crm.fatigue: every bad value is a load error "file:line: message"
// that names the option.
#include <rtcrm/lua/lua_engine.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

// Why `script` does not load ("file:line: message"); "" if it loads.
std::string load_error(std::string script) {
    rtcrm::lua_engine engine{rtcrm::lua_options{}};
    const auto r = engine.load({{"x.lua", std::move(script)}});
    return r ? std::string{} : r.error().reason;
}

// A campaign on line 2 with `options` added.
std::string campaign(const std::string& options) {
    return "-- experiments\ncrm.campaign{ id = 33, on = 'fight', " + options + " }";
}

void expect_error(const std::string& script, const std::string& message) {
    const auto error = load_error(script);
    EXPECT_NE(error.find(message), std::string::npos) << "script: " << script << "\nerror: " << error;
}

TEST(campaign_options, good_experiment_options_load) {
    EXPECT_EQ(load_error(campaign(
                  "holdout = 0.2, variants = { { name = 'a', weight = 2, content = { offer = 'x' } }, { name = 'b' } }, "
                  "goal = { on = 'purchase', within = '1d', when = function(e, p) return true end }, priority = -3, "
                  "transactional = false")),
              "");
    EXPECT_EQ(load_error(campaign("holdout = 0")), "");
    EXPECT_EQ(load_error("crm.fatigue{ per_player = 2, every = '1d' }\n" + campaign("transactional = true")), "");
}

TEST(campaign_options, a_bad_holdout_is_a_load_error_with_its_position) {
    for (const char* bad : {"1", "1.5", "-0.1", "'0.2'", "0/0", "true"}) {
        expect_error(campaign(std::string{"holdout = "} + bad),
                     "x.lua:2: campaign '33': holdout must be a number from 0 up to (not including) 1");
    }
}

TEST(campaign_options, bad_variants_are_load_errors_that_name_the_variant) {
    expect_error(campaign("variants = 'a'"), "x.lua:2: campaign '33': `variants` must be a list");
    expect_error(campaign("variants = {}"), "x.lua:2: campaign '33': variants must be a non-empty list");
    expect_error(campaign("variants = { 'a' }"), "x.lua:2: campaign '33': variants[1] must be a table");
    expect_error(campaign("variants = { { weight = 1 } }"), "x.lua:2: campaign '33': variants[1].name must be a non-empty string");
    expect_error(campaign("variants = { { name = '' } }"), "variants[1].name must be a non-empty string");
    expect_error(campaign("variants = { { name = 'a' }, { name = 'a' } }"),
                 "x.lua:2: campaign '33': variants[2].name: \"a\" names two variants; names must be unique");
    expect_error(campaign("variants = { { name = 'control' } }"), "variants[1].name: \"control\" is the holdout's arm");
    for (const char* bad : {"0", "-1", "1.5", "'2'", "2000000"}) {
        expect_error(campaign(std::string{"variants = { { name = 'a' }, { name = 'b', weight = "} + bad + " } }"),
                     "x.lua:2: campaign '33': variants[2].weight must be a positive integer");
    }
    expect_error(campaign("variants = { { name = 'a', content = 'x' } }"), "variants[1].content must be a table");
}

TEST(campaign_options, a_bad_goal_is_a_load_error_that_names_the_field) {
    expect_error(campaign("goal = 'purchase'"), "x.lua:2: campaign '33': goal must be a table");
    expect_error(campaign("goal = { within = '1d' }"), "x.lua:2: campaign '33': goal.on must be an event type");
    expect_error(campaign("goal = { on = '*', within = '1d' }"), "goal.on must be a concrete event type, not \"*\"");
    expect_error(campaign("goal = { on = 'timer:x', within = '1d' }"), "goal.on must be a concrete event type, not \"timer:x\"");
    for (const char* bad : {"", ", within = '0s'", ", within = 'soon'", ", within = 5"}) {
        expect_error(campaign(std::string{"goal = { on = 'purchase'"} + bad + " }"),
                     "x.lua:2: campaign '33': goal.within must be a duration greater than 0");
    }
    expect_error(campaign("goal = { on = 'purchase', within = '1d', when = 1 }"), "goal.when must be a function");
}

TEST(campaign_options, bad_priority_and_transactional_are_load_errors) {
    for (const char* bad : {"1.5", "'high'", "true"}) {
        expect_error(campaign(std::string{"priority = "} + bad), "x.lua:2: campaign '33': priority must be an integer");
    }
    expect_error(campaign("transactional = 'yes'"), "x.lua:2: campaign '33': transactional must be true");
}

TEST(campaign_options, crm_fatigue_is_checked_and_set_at_most_once) {
    expect_error("\ncrm.fatigue{ per_player = 0, every = '1d' }", "x.lua:2: crm.fatigue: per_player must be a positive integer");
    expect_error("\ncrm.fatigue{ per_player = 1.5, every = '1d' }", "x.lua:2: crm.fatigue: per_player must be a positive integer");
    expect_error("\ncrm.fatigue{ every = '1d' }", "x.lua:2: crm.fatigue: per_player must be a positive integer");
    expect_error("\ncrm.fatigue{ per_player = 2 }", "x.lua:2: crm.fatigue: every must be a duration greater than 0");
    expect_error("\ncrm.fatigue{ per_player = 2, every = '0m' }", "x.lua:2: crm.fatigue: every must be a duration");
    expect_error("\ncrm.fatigue(2)", "x.lua:2: crm.fatigue expects a table");
    expect_error("crm.fatigue{ per_player = 2, every = '1d' }\ncrm.fatigue{ per_player = 3, every = '1d' }",
                 "x.lua:2: crm.fatigue is called twice (first at x.lua:1)");
}

TEST(campaign_options, crm_fatigue_twice_across_scripts_is_a_load_error) {
    rtcrm::lua_engine engine{rtcrm::lua_options{}};
    const auto r = engine.load({{"a.lua", "crm.fatigue{ per_player = 2, every = '1d' }"},
                                {"b.lua", "\ncrm.fatigue{ per_player = 2, every = '1d' }"}});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().reason.find("b.lua:2: crm.fatigue is called twice (first at a.lua:1)"), std::string::npos)
        << r.error().reason;
}

}  // namespace
