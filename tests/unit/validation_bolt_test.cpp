#include <rtcrm/bolt/validation_bolt.hpp>
#include <rtcrm/source/generator_source.hpp>
#include <rtcrm/test_driver.hpp>

#include <rapidjson/document.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace {

namespace fs = std::filesystem;

rtcrm::topology_test_driver validated(const rtcrm::validation_options& options) {
    rtcrm::topology t;
    t.add_ingest_bolt(rtcrm::validation_bolt::factory(options)).with_options({.shards = 2});
    return rtcrm::topology_test_driver{std::move(t)};
}

TEST(validation_bolt, valid_events_of_every_type_pass) {
    auto driver = validated({.schema_dir = "examples/schemas"});
    const char* events[] = {
        R"({"id":"e1","player_id":1,"type":"login","ts":1,"data":{"platform":"ios"}})",
        R"({"id":"e2","player_id":2,"type":"fight","ts":1,"game":"foe","market":"de","data":{"result":"loss","opponent":3}})",
        R"({"id":"e3","player_id":3,"type":"build","ts":1,"data":{"building":"farm","level":4}})",
        R"({"id":"e4","player_id":4,"type":"purchase","ts":1,"data":{"item":"gems","amount":4.99,"currency":"EUR"}})",
        R"({"id":"e5","player_id":"five","type":"level_up","ts":1,"data":{"level":12}})",
    };
    for (const char* e : events) {
        driver.pipe(e);
    }
    EXPECT_TRUE(driver.read(rtcrm::stream::dead_letter).empty());
    EXPECT_EQ(driver.stats().processed, 5U);
    EXPECT_TRUE(driver.profile_of(rtcrm::player_key{std::string{"five"}}));
}

TEST(validation_bolt, generated_traffic_passes) {
    auto driver = validated({.schema_dir = "examples/schemas"});
    rtcrm::generator_source gen{{.events = 2000, .players = 100, .scenario = "bob"}};
    std::vector<rtcrm::record> records;
    while (gen.poll(records, 512, std::chrono::milliseconds(0)) == rtcrm::poll_status::more) {
    }
    for (auto& rec : records) {
        driver.pipe(std::move(rec.bytes));
    }
    EXPECT_TRUE(driver.read(rtcrm::stream::dead_letter).empty());
    EXPECT_EQ(driver.stats().processed, 2000U);
}

TEST(validation_bolt, a_violation_is_dead_lettered_naming_the_path_and_keyword) {
    auto driver = validated({.schema_dir = "examples/schemas"});
    const std::string draw = R"({"id":"d","player_id":1,"type":"fight","ts":1,"data":{"result":"draw"}})";
    driver.pipe(draw);
    const auto dead = driver.read(rtcrm::stream::dead_letter);
    ASSERT_EQ(dead.size(), 1U);
    rapidjson::Document d;
    d.Parse(dead[0].c_str());
    EXPECT_STREQ(d["reason"].GetString(), "schema_violation");
    const std::string detail = d["detail"].GetString();
    EXPECT_NE(detail.find("#/data/result"), std::string::npos) << detail;
    EXPECT_NE(detail.find("enum"), std::string::npos) << detail;
    EXPECT_EQ(d["raw"].GetString(), draw);
}

TEST(validation_bolt, refuses_bad_amounts_currencies_and_missing_data) {
    auto driver = validated({.schema_dir = "examples/schemas"});
    driver.pipe(R"({"player_id":1,"type":"purchase","ts":1,"data":{"item":"x","amount":-1,"currency":"EUR"}})");
    driver.pipe(R"({"player_id":1,"type":"purchase","ts":1,"data":{"item":"x","amount":1,"currency":"eur"}})");
    driver.pipe(R"({"player_id":1,"type":"fight","ts":1})");
    // A valid event right after invalid ones of the same type: the validator was reset.
    driver.pipe(R"({"player_id":1,"type":"purchase","ts":1,"data":{"item":"x","amount":1,"currency":"EUR"}})");
    EXPECT_EQ(driver.read(rtcrm::stream::dead_letter).size(), 3U);
    const auto stats = driver.stats();
    EXPECT_EQ(stats.processed, 1U);
    EXPECT_EQ(stats.events_in, stats.processed + stats.dead_lettered);
    ASSERT_EQ(stats.dead_lettered_by_reason.size(), 1U);
    EXPECT_EQ(stats.dead_lettered_by_reason[0].first, rtcrm::errc::schema_violation);
    EXPECT_EQ(stats.dead_lettered_by_reason[0].second, 3U);
}

class schema_dir_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("rtcrm_schemas_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        write("known.json", R"({"type":"object","required":["n"]})");
    }
    void TearDown() override { fs::remove_all(dir_); }
    void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
    fs::path dir_;
};

TEST_F(schema_dir_test, unknown_types_pass_by_default_and_are_refused_on_request) {
    {
        auto driver = validated({.schema_dir = dir_.string()});
        driver.pipe(R"({"player_id":1,"type":"other","ts":1})");
        EXPECT_TRUE(driver.read(rtcrm::stream::dead_letter).empty());
    }
    auto strict = validated({.schema_dir = dir_.string(), .reject_unknown_types = true});
    strict.pipe(R"({"player_id":1,"type":"other","ts":1})");
    const auto dead = strict.read(rtcrm::stream::dead_letter);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_NE(dead[0].find("unknown_type"), std::string::npos);
    EXPECT_NE(dead[0].find("other"), std::string::npos);
}

TEST_F(schema_dir_test, the_default_schema_covers_unknown_types) {
    write("_default.json", R"({"type":"object","required":["must"]})");
    auto driver = validated({.schema_dir = dir_.string(), .reject_unknown_types = true});
    driver.pipe(R"({"player_id":1,"type":"other","ts":1,"must":true})");
    driver.pipe(R"({"player_id":1,"type":"other","ts":1})");
    const auto dead = driver.read(rtcrm::stream::dead_letter);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_NE(dead[0].find("required"), std::string::npos);
}

TEST_F(schema_dir_test, a_malformed_schema_file_is_named) {
    write("broken.json", "{\"type\":");
    try {
        rtcrm::validation_bolt::load({.schema_dir = dir_.string()});
        FAIL() << "expected a throw";
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string{e.what()}.find("broken.json"), std::string::npos);
    }
}

TEST(validation_bolt, a_missing_directory_is_refused) {
    EXPECT_THROW(rtcrm::validation_bolt::load({.schema_dir = "/nonexistent/schemas"}), rtcrm::error);
}

}  // namespace
