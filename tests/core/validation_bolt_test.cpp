#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/test_driver.hpp>
#include <rtcrm/core/validation_bolt.hpp>

#include <rapidjson/document.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;

rtcrm::topology_test_driver validated(const rtcrm::validation_options& options) {
    rtcrm::topology t;
    t.add_ingest_bolt(rtcrm::validation_bolt::factory(options)).with_options({.shards = 2});
    return rtcrm::topology_test_driver{std::move(t)};
}

rtcrm::topology_test_driver validated_by_examples() { return validated({.schema_dir = "examples/schemas"}); }

// A dead-letter record, as its JSON says.
struct dead_letter {
    std::string reason;
    std::string detail;
    std::string raw;
};

std::vector<dead_letter> dead_letters(rtcrm::topology_test_driver& driver) {
    std::vector<dead_letter> out;
    for (const auto& body : driver.read(rtcrm::stream::dead_letter)) {
        rapidjson::Document d;
        d.Parse(body.c_str(), body.size());
        if (d.HasParseError() || !d.IsObject() || !d.HasMember("reason") || !d.HasMember("detail") ||
            !d.HasMember("raw")) {
            ADD_FAILURE() << "not a dead-letter record: " << body;
            continue;
        }
        out.push_back({d["reason"].GetString(), d["detail"].GetString(),
                       std::string{d["raw"].GetString(), d["raw"].GetStringLength()}});
    }
    return out;
}

// The one dead letter `bytes` makes, or an empty record (and a failure) if it makes none.
dead_letter the_dead_letter_of(const std::string& bytes) {
    auto driver = validated_by_examples();
    driver.pipe(bytes);
    auto dead = dead_letters(driver);
    if (dead.size() != 1) {
        ADD_FAILURE() << "expected one dead letter for " << bytes << ", got " << dead.size();
        return {};
    }
    return dead[0];
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::uint64_t count_of(const rtcrm::runtime_stats& stats, rtcrm::errc reason) {
    for (const auto& [code, n] : stats.dead_lettered_by_reason) {
        if (code == reason) {
            return n;
        }
    }
    return 0;
}

TEST(validation_bolt, passes_a_valid_event_of_every_type) {
    auto driver = validated_by_examples();
    const char* events[] = {
        R"({"id":"e1","player_id":1,"type":"login","ts":1,"data":{"platform":"ios"}})",
        R"({"id":"g-7","player_id":2,"type":"fight","ts":1763800000070,"game":"foe","market":"de","data":{"result":"loss","opponent":17}})",
        R"({"id":"e3","player_id":3,"type":"build","ts":1,"data":{"building":"farm","level":4}})",
        R"({"id":"e4","player_id":4,"type":"purchase","ts":1,"data":{"item":"gems","amount":4.99,"currency":"EUR"}})",
        R"({"id":"e5","player_id":"five","type":"level_up","ts":1,"data":{"level":12}})",
    };
    for (const char* e : events) {
        driver.pipe(e);
    }
    EXPECT_TRUE(driver.read(rtcrm::stream::dead_letter).empty());
    EXPECT_EQ(driver.stats().processed, 5U);
    for (std::int64_t player = 1; player <= 4; ++player) {
        EXPECT_TRUE(driver.profile_of(rtcrm::player_key{player})) << "player " << player;
    }
    EXPECT_TRUE(driver.profile_of(rtcrm::player_key{std::string{"five"}}));
}

TEST(validation_bolt, passes_a_login_without_data_and_members_the_schema_does_not_name) {
    auto driver = validated_by_examples();
    driver.pipe(R"({"player_id":1,"type":"login","ts":1})");
    driver.pipe(R"({"player_id":1,"type":"fight","ts":1,"season":3,"data":{"result":"win","weapon":"axe"}})");
    EXPECT_TRUE(driver.read(rtcrm::stream::dead_letter).empty());
    EXPECT_EQ(driver.stats().processed, 2U);
}

TEST(validation_bolt, passes_generated_traffic) {
    auto driver = validated_by_examples();
    rtcrm::generator_source gen{{.events = 2000, .players = 100, .scenario = "bob"}};
    std::vector<rtcrm::record> records;
    while (gen.poll(records, 512, std::chrono::milliseconds(0)) == rtcrm::poll_status::more) {
    }
    ASSERT_EQ(records.size(), 2000U);
    for (auto& rec : records) {
        driver.pipe(std::move(rec.bytes));
    }
    EXPECT_TRUE(driver.read(rtcrm::stream::dead_letter).empty());
    EXPECT_EQ(driver.stats().processed, 2000U);
}

TEST(validation_bolt, dead_letters_a_fight_ending_in_a_draw_naming_the_keyword_and_both_pointers) {
    // Spaces and member order as sent: the record must carry these bytes, not a re-serialisation.
    const std::string draw = R"({ "id":"d", "player_id":1,"type":"fight","ts":1, "data":{"result":"draw"} })";
    auto driver = validated_by_examples();
    driver.pipe(draw);
    const auto dead = dead_letters(driver);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_EQ(dead[0].reason, "schema_violation");
    EXPECT_EQ(dead[0].detail, R"(#/data/result violates "enum" (schema #/properties/data/properties/result))");
    EXPECT_EQ(dead[0].raw, draw);
    EXPECT_EQ(driver.stats().processed, 0U);
    EXPECT_FALSE(driver.profile_of(rtcrm::player_key{std::int64_t{1}}));
}

TEST(validation_bolt, a_dead_letter_names_the_partition_and_offset_of_its_event) {
    auto driver = validated_by_examples();
    driver.pipe(R"({"player_id":1,"type":"login","ts":1})");
    driver.pipe(R"({"player_id":1,"type":"fight","ts":2,"data":{"result":"win"}})");
    driver.pipe(R"({"player_id":1,"type":"fight","ts":3,"data":{"result":"draw"}})");
    const auto bodies = driver.read(rtcrm::stream::dead_letter);
    ASSERT_EQ(bodies.size(), 1U);
    rapidjson::Document d;
    d.Parse(bodies[0].c_str(), bodies[0].size());
    ASSERT_FALSE(d.HasParseError()) << bodies[0];
    ASSERT_TRUE(d.IsObject() && d.HasMember("partition") && d.HasMember("offset") && d.HasMember("source")) << bodies[0];
    EXPECT_TRUE(d["source"].IsString());
    EXPECT_EQ(d["partition"].GetInt(), 0);
    EXPECT_EQ(d["offset"].GetInt64(), 2);
    EXPECT_TRUE(contains(d["detail"].GetString(), "#/data/result")) << d["detail"].GetString();
    EXPECT_TRUE(contains(d["detail"].GetString(), "enum")) << d["detail"].GetString();
}

TEST(validation_bolt, dead_letters_a_purchase_of_a_negative_or_zero_amount) {
    for (const char* amount : {"-1", "0", "-0.01"}) {
        const auto dead = the_dead_letter_of(fmt::format(
            R"({{"player_id":1,"type":"purchase","ts":1,"data":{{"item":"x","amount":{},"currency":"EUR"}}}})",
            amount));
        EXPECT_EQ(dead.reason, "schema_violation") << amount;
        EXPECT_TRUE(contains(dead.detail, "#/data/amount violates \"minimum\"")) << dead.detail;
    }
}

TEST(validation_bolt, dead_letters_a_purchase_whose_currency_is_not_three_capital_letters) {
    for (const char* currency : {"eur", "EURO", "EU", "E1R"}) {
        const auto dead = the_dead_letter_of(fmt::format(
            R"({{"player_id":1,"type":"purchase","ts":1,"data":{{"item":"x","amount":1,"currency":"{}"}}}})",
            currency));
        EXPECT_EQ(dead.reason, "schema_violation") << currency;
        EXPECT_EQ(dead.detail, R"(#/data/currency violates "pattern" (schema #/properties/data/properties/currency))");
    }
}

TEST(validation_bolt, dead_letters_a_fight_without_data_naming_the_missing_member) {
    const auto dead = the_dead_letter_of(R"({"player_id":1,"type":"fight","ts":1})");
    EXPECT_EQ(dead.reason, "schema_violation");
    EXPECT_EQ(dead.detail, R"(# violates "required" (schema #): missing "data")");
}

TEST(validation_bolt, dead_letters_an_event_without_ts) {
    const auto dead = the_dead_letter_of(R"({"player_id":1,"type":"login","data":{"platform":"web"}})");
    EXPECT_TRUE(contains(dead.detail, R"(missing "ts")")) << dead.detail;
}

TEST(validation_bolt, dead_letters_a_purchase_missing_a_member_of_its_data) {
    const auto dead = the_dead_letter_of(R"({"player_id":1,"type":"purchase","ts":1,"data":{"item":"x","amount":1}})");
    EXPECT_EQ(dead.detail, R"(#/data violates "required" (schema #/properties/data): missing "currency")");
}

TEST(validation_bolt, dead_letters_levels_out_of_range_and_members_of_the_wrong_type) {
    auto driver = validated_by_examples();
    driver.pipe(R"({"player_id":1,"type":"build","ts":1,"data":{"building":"farm","level":0}})");
    driver.pipe(R"({"player_id":1,"type":"build","ts":1,"data":{"building":"farm","level":101}})");
    driver.pipe(R"({"player_id":1,"type":"build","ts":1,"data":{"building":"farm","level":2.5}})");
    driver.pipe(R"({"player_id":1,"type":"level_up","ts":1,"data":{"level":1001}})");
    driver.pipe(R"({"player_id":1,"type":"login","ts":1,"game":7})");
    driver.pipe(R"({"player_id":1,"type":"build","ts":1,"data":{"building":"farm","level":100}})");
    driver.pipe(R"({"player_id":1,"type":"level_up","ts":1,"data":{"level":1000}})");
    const auto dead = dead_letters(driver);
    ASSERT_EQ(dead.size(), 5U);
    EXPECT_TRUE(contains(dead[0].detail, "#/data/level violates \"minimum\"")) << dead[0].detail;
    EXPECT_TRUE(contains(dead[1].detail, "#/data/level violates \"maximum\"")) << dead[1].detail;
    EXPECT_TRUE(contains(dead[2].detail, "#/data/level violates \"type\"")) << dead[2].detail;
    EXPECT_TRUE(contains(dead[3].detail, "#/data/level violates \"maximum\"")) << dead[3].detail;
    EXPECT_TRUE(contains(dead[4].detail, "#/game violates \"type\"")) << dead[4].detail;
    EXPECT_EQ(driver.stats().processed, 2U);
}

TEST(validation_bolt, counts_violations_by_reason_and_loses_no_event) {
    auto driver = validated_by_examples();
    driver.pipe(R"({"player_id":1,"type":"purchase","ts":1,"data":{"item":"x","amount":-1,"currency":"EUR"}})");
    driver.pipe(R"({"player_id":1,"type":"purchase","ts":1,"data":{"item":"x","amount":1,"currency":"eur"}})");
    driver.pipe(R"({"player_id":1,"type":"fight","ts":1})");
    driver.pipe(R"({"player_id":1,"type":"purchase","ts":1,"data":{"item":"x","amount":1,"currency":"EUR"}})");
    driver.pipe(R"({"player_id":2,"type":"something_new","ts":1})");
    EXPECT_EQ(driver.read(rtcrm::stream::dead_letter).size(), 3U);
    const auto stats = driver.stats();
    EXPECT_EQ(stats.events_in, 5U);
    EXPECT_EQ(stats.processed, 2U);
    EXPECT_EQ(stats.dead_lettered, 3U);
    EXPECT_EQ(stats.events_in, stats.processed + stats.dead_lettered);
    ASSERT_EQ(stats.dead_lettered_by_reason.size(), 1U);
    EXPECT_EQ(count_of(stats, rtcrm::errc::schema_violation), 3U);
}

// The validator of a type is reused: an event that failed must not make the next one fail.
TEST(validation_bolt, a_valid_event_right_after_an_invalid_one_of_the_same_type_passes) {
    auto driver = validated_by_examples();
    const std::pair<std::string, std::string> pairs[] = {
        {R"({"player_id":3,"type":"login","ts":1,"data":{"platform":"pc"}})",
         R"({"player_id":3,"type":"login","ts":2,"data":{"platform":"web"}})"},
        {R"({"player_id":3,"type":"fight","ts":3,"data":{"result":"draw"}})",
         R"({"player_id":3,"type":"fight","ts":4,"data":{"result":"win"}})"},
        {R"({"player_id":3,"type":"build","ts":5,"data":{"building":"farm","level":0}})",
         R"({"player_id":3,"type":"build","ts":6,"data":{"building":"farm","level":1}})"},
        {R"({"player_id":3,"type":"purchase","ts":7,"data":{"item":"x","amount":1,"currency":"eur"}})",
         R"({"player_id":3,"type":"purchase","ts":8,"data":{"item":"x","amount":1,"currency":"EUR"}})"},
        {R"({"player_id":3,"type":"level_up","ts":9})", R"({"player_id":3,"type":"level_up","ts":10,"data":{"level":2}})"},
    };
    for (const auto& [invalid, valid] : pairs) {
        driver.pipe(invalid);
        driver.pipe(valid);
    }
    const auto dead = dead_letters(driver);
    ASSERT_EQ(dead.size(), 5U);
    for (std::size_t i = 0; i < dead.size(); ++i) {
        EXPECT_EQ(dead[i].raw, pairs[i].first);
        EXPECT_EQ(dead[i].reason, "schema_violation");
    }
    EXPECT_EQ(driver.stats().processed, 5U);
    const auto profile = driver.profile_of(rtcrm::player_key{std::int64_t{3}});
    ASSERT_TRUE(profile);
    EXPECT_EQ(profile->recent().size(), 5U);  // the valid five reached the shard
}

// Each validator is made once and reset before each event: a failure half-way through an
// event must leave nothing behind for the next one.
TEST(validation_bolt, keeps_judging_correctly_over_ten_thousand_events_half_of_them_invalid) {
    auto driver = validated_by_examples();
    const std::string valid[] = {
        R"({"id":"v","player_id":7,"type":"fight","ts":1,"data":{"result":"win","opponent":3}})",
        R"({"id":"v","player_id":7,"type":"purchase","ts":1,"data":{"item":"x","amount":2,"currency":"USD"}})",
        R"({"id":"v","player_id":7,"type":"build","ts":1,"data":{"building":"farm","level":7}})",
        R"({"id":"v","player_id":7,"type":"login","ts":1,"data":{"platform":"android"}})",
    };
    // Each fails at a different depth: mid-object, in a nested member, at the end.
    const std::string invalid[] = {
        R"({"id":"x","player_id":8,"type":"fight","ts":1,"data":{"result":"draw","opponent":3}})",
        R"({"id":"x","player_id":8,"type":"purchase","ts":1,"data":{"item":"x","amount":2,"currency":"usd"}})",
        R"({"id":"x","player_id":8,"type":"build","ts":1,"data":{"building":"farm"}})",
        R"({"id":"x","player_id":8,"type":"login","ts":1,"game":"foe","data":{"platform":"pc"}})",
    };
    constexpr int rounds = 1250;  // 8 events a round
    for (int i = 0; i < rounds; ++i) {
        for (std::size_t k = 0; k < 4; ++k) {
            driver.pipe(invalid[k]);
            driver.pipe(valid[(k + static_cast<std::size_t>(i)) % 4]);
        }
    }
    const auto dead = dead_letters(driver);
    EXPECT_EQ(dead.size(), 5000U);
    const bool only_invalid = std::all_of(dead.begin(), dead.end(), [&](const dead_letter& d) {
        return std::find(std::begin(invalid), std::end(invalid), d.raw) != std::end(invalid);
    });
    EXPECT_TRUE(only_invalid);
    const auto stats = driver.stats();
    EXPECT_EQ(stats.events_in, 10000U);
    EXPECT_EQ(stats.processed, 5000U);
    EXPECT_EQ(count_of(stats, rtcrm::errc::schema_violation), 5000U);
    EXPECT_TRUE(driver.profile_of(rtcrm::player_key{std::int64_t{7}}));
    EXPECT_FALSE(driver.profile_of(rtcrm::player_key{std::int64_t{8}}));
}

// A bolt_context that counts rejections, for calling bolts directly.
class counting_context final : public rtcrm::bolt_context {
public:
    void emit(rtcrm::event&, rtcrm::stream, std::string) override {}
    void reject(rtcrm::event&, rtcrm::errc code, std::string_view) override {
        if (code == rtcrm::errc::schema_violation) {
            ++rejected_;
        }
    }
    void drop(rtcrm::event&) override {}
    rtcrm::profile* profile_of(const rtcrm::event&) override { return nullptr; }
    [[nodiscard]] std::uint32_t worker() const noexcept override { return 0; }
    [[nodiscard]] const rtcrm::profile_limits& limits() const noexcept override { return limits_; }
    [[nodiscard]] std::size_t rejected() const noexcept { return rejected_; }

private:
    rtcrm::profile_limits limits_;
    std::size_t rejected_ = 0;
};

// RapidJSON 1.1.0 keeps regex match state in the compiled schema; bolts of one factory
// must not share compiled schemas (when they did, this crashed within a few thousand events).
TEST(validation_bolt, bolts_of_one_factory_validate_patterns_on_two_threads_at_once) {
    const auto factory = rtcrm::validation_bolt::factory({.schema_dir = "examples/schemas"});
    auto run = [&](std::uint32_t worker, std::size_t& rejected) {
        auto bolt = factory({.worker = worker, .workers = 2});
        std::vector<rtcrm::event> batch;
        for (int i = 0; i < 64; ++i) {
            const auto json = fmt::format(
                R"({{"player_id":1,"type":"purchase","ts":1,"data":{{"item":"x","amount":1,"currency":"{}"}}}})",
                i % 2 == 0 ? "EUR" : "Eur");
            batch.push_back(rtcrm::parse_event(json, {}).value());
        }
        counting_context ctx;
        for (int round = 0; round < 1000; ++round) {
            bolt->process(batch, ctx);
        }
        rejected = ctx.rejected();
    };
    std::size_t rejected_a = 0;
    std::size_t rejected_b = 0;
    std::thread a{run, 0U, std::ref(rejected_a)};
    std::thread b{run, 1U, std::ref(rejected_b)};
    a.join();
    b.join();
    EXPECT_EQ(rejected_a, 1000U * 32U);
    EXPECT_EQ(rejected_b, 1000U * 32U);
}

TEST(validation_bolt, refuses_a_missing_directory_naming_it) {
    try {
        rtcrm::validation_bolt::load({.schema_dir = "/nonexistent/schemas"});
        FAIL() << "expected a throw";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
        EXPECT_TRUE(contains(e.what(), "/nonexistent/schemas")) << e.what();
    }
    EXPECT_THROW(rtcrm::validation_bolt::factory({.schema_dir = ""}), rtcrm::error);
}

// Schemas written for one test, in a directory of its own.
class schema_dir_test : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               fmt::format("rtcrm_validation_{}_{}", ::getpid(), info != nullptr ? info->name() : "test");
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        write("known.json", R"({"type":"object","required":["n"]})");
    }
    void TearDown() override { fs::remove_all(dir_); }
    void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
    [[nodiscard]] rtcrm::validation_options options(bool reject_unknown = false) const {
        return {.schema_dir = dir_.string(), .reject_unknown_types = reject_unknown};
    }
    // The message `load` throws, or "" if it does not throw.
    [[nodiscard]] std::string load_error() const {
        try {
            rtcrm::validation_bolt::load(options());
        } catch (const rtcrm::error& e) {
            EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
            return e.what();
        }
        return {};
    }
    fs::path dir_;
};

TEST_F(schema_dir_test, passes_unknown_types_by_default) {
    auto driver = validated(options());
    driver.pipe(R"({"player_id":1,"type":"other","ts":1})");
    driver.pipe(R"({"player_id":1,"type":"known","ts":1})");  // its schema still applies
    const auto dead = dead_letters(driver);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_TRUE(contains(dead[0].raw, "known"));
    EXPECT_EQ(driver.stats().processed, 1U);
}

TEST_F(schema_dir_test, dead_letters_unknown_types_as_unknown_type_when_asked) {
    auto driver = validated(options(true));
    driver.pipe(R"({"player_id":1,"type":"other","ts":1})");
    driver.pipe(R"({"player_id":1,"type":"known","ts":1,"n":1})");
    const auto dead = dead_letters(driver);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_EQ(dead[0].reason, "unknown_type");
    EXPECT_TRUE(contains(dead[0].detail, "\"other\"")) << dead[0].detail;
    const auto stats = driver.stats();
    EXPECT_EQ(count_of(stats, rtcrm::errc::unknown_type), 1U);
    EXPECT_EQ(stats.processed, 1U);
}

TEST_F(schema_dir_test, applies_the_default_schema_to_types_without_their_own) {
    write("_default.json", R"({"type":"object","required":["must"]})");
    auto driver = validated(options(true));  // _default wins over refusing unknown types
    driver.pipe(R"({"player_id":1,"type":"other","ts":1,"must":true})");
    driver.pipe(R"({"player_id":1,"type":"other","ts":1})");
    driver.pipe(R"({"player_id":1,"type":"known","ts":1,"n":1})");  // its own schema, not _default
    const auto dead = dead_letters(driver);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_EQ(dead[0].reason, "schema_violation");
    EXPECT_EQ(dead[0].detail, R"(# violates "required" (schema #): missing "must")");
    EXPECT_EQ(driver.stats().processed, 2U);
}

TEST_F(schema_dir_test, ignores_files_not_named_json) {
    write("README.md", "# not a schema {");
    write("other.json.bak", "{");
    auto driver = validated(options(true));
    driver.pipe(R"({"player_id":1,"type":"README","ts":1})");
    EXPECT_EQ(dead_letters(driver).size(), 1U);  // no schema came from README.md
}

TEST_F(schema_dir_test, refuses_a_malformed_schema_naming_the_file_and_offset) {
    write("broken.json", "{\"type\":");
    const auto message = load_error();
    EXPECT_TRUE(contains(message, "broken.json")) << message;
    EXPECT_TRUE(contains(message, "at offset 8")) << message;
    EXPECT_THROW(rtcrm::validation_bolt::factory(options()), rtcrm::error);
}

// A recursive parser would overflow the stack on this file.
TEST_F(schema_dir_test, refuses_a_schema_nested_past_the_limit) {
    std::string deep = R"({"type":"object","properties":{"a":)";
    for (int i = 0; i < 200000; ++i) {
        deep += R"({"items":)";
    }
    write("deep.json", deep);
    const auto message = load_error();
    EXPECT_TRUE(contains(message, "deep.json")) << message;
    EXPECT_TRUE(contains(message, "nested deeper than 128 levels")) << message;
}

TEST_F(schema_dir_test, refuses_a_schema_that_is_not_an_object) {
    write("list.json", "[1, 2]");
    const auto message = load_error();
    EXPECT_TRUE(contains(message, "list.json")) << message;
}

TEST_F(schema_dir_test, refuses_a_regex_that_rapidjson_cannot_compile) {
    // RapidJSON 1.1.0 would drop these and accept anything at "code".
    for (const char* pattern : {R"(^\\d+$)", R"((?:ab)+)", R"(a(|b)c)", R"(a(b)", R"(*a)", R"(a())", R"(a|)"}) {
        write("coded.json", fmt::format(R"({{"properties":{{"code":{{"type":"string","pattern":"{}"}}}}}})", pattern));
        const auto message = load_error();
        EXPECT_TRUE(contains(message, "coded.json")) << pattern << ": " << message;
        EXPECT_TRUE(contains(message, "#/properties/code/pattern")) << pattern << ": " << message;
    }
    fs::remove(dir_ / "coded.json");
    write("keyed.json", R"({"patternProperties":{"^x_\\w+$":{"type":"string"}}})");
    EXPECT_TRUE(contains(load_error(), "keyed.json"));
}

TEST_F(schema_dir_test, refuses_a_quantified_quantifier_that_rapidjson_would_recurse_on) {
    // Found by the validation fuzz target: RapidJSON 1.1.0 overflows the stack on these.
    for (const char* pattern : {R"(^a[b-d]**)", R"(a+*)", R"(a{1,3}*)", R"(a?+)", R"(a*$*)"}) {
        write("looped.json", fmt::format(R"({{"patternProperties":{{"{}":{{"maximum":3}}}}}})", pattern));
        const auto message = load_error();
        EXPECT_TRUE(contains(message, "repeats a quantifier")) << pattern << ": " << message;
    }
    write("looped.json", R"({"properties":{"code":{"type":"string","pattern":"^a{1,3}[b-d]*$"}}})");
    EXPECT_EQ(load_error(), "");
}

TEST_F(schema_dir_test, tells_properties_named_like_keywords_from_keywords) {
    write("named.json", R"({"properties":{"pattern":{"type":"string"},"$ref":{"type":"integer"},
                                          "enum":{"properties":{"default":{"pattern":"^[a-z]+$"}}}}})");
    EXPECT_EQ(load_error(), "");
    write("named.json", R"({"properties":{"enum":{"properties":{"default":{"pattern":"^\\w+$"}}}}})");
    EXPECT_TRUE(contains(load_error(), "#/properties/enum/properties/default/pattern"));
}

TEST_F(schema_dir_test, enforces_the_regexes_rapidjson_can_compile) {
    write("coded.json", R"({"properties":{"code":{"type":"string","pattern":"^(ab|c[0-9]{2,3})+\\.x?$"}}})");
    auto driver = validated(options());
    driver.pipe(R"({"player_id":1,"type":"coded","ts":1,"code":"abc12.x"})");
    driver.pipe(R"({"player_id":1,"type":"coded","ts":1,"code":"abc1.x"})");
    const auto dead = dead_letters(driver);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_TRUE(contains(dead[0].raw, "abc1.x"));
}

TEST_F(schema_dir_test, refuses_a_ref_that_does_not_resolve_within_the_file) {
    write("referring.json", R"({"properties":{"a":{"$ref":"#/definitions/nowhere"}}})");
    EXPECT_TRUE(contains(load_error(), "referring.json"));
    write("referring.json", R"({"properties":{"a":{"$ref":"common.json#/definitions/a"}}})");
    EXPECT_TRUE(contains(load_error(), "common.json#/definitions/a"));
}

TEST_F(schema_dir_test, follows_refs_within_the_file) {
    write("referring.json", R"({"definitions":{"level":{"type":"integer","minimum":1}},
                                "properties":{"data":{"properties":{"level":{"$ref":"#/definitions/level"}}}}})");
    auto driver = validated(options());
    driver.pipe(R"({"player_id":1,"type":"referring","ts":1,"data":{"level":3}})");
    driver.pipe(R"({"player_id":1,"type":"referring","ts":1,"data":{"level":0}})");
    const auto dead = dead_letters(driver);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_EQ(dead[0].detail, R"(#/data/level violates "minimum" (schema #/definitions/level))");
}

}  // namespace

namespace {

TEST_F(schema_dir_test, refuses_a_ref_that_leads_only_to_refs_back_to_itself) {
    // Found by the validation fuzz target: RapidJSON 1.1.0 follows such a loop until the
    // stack overflows, even when nothing refers to the looping definition.
    write("looped.json", R"({"definitions":{"n":{"$ref":"#/definitions/n"}},"allOf":[{"required":["ts"]}]})");
    auto message = load_error();
    EXPECT_TRUE(contains(message, "looped.json")) << message;
    EXPECT_TRUE(contains(message, "#/definitions/n")) << message;
    EXPECT_TRUE(contains(message, "refers back to itself")) << message;
    write("looped.json", R"({"definitions":{"a":{"$ref":"#/definitions/b"},"b":{"$ref":"#/definitions/c"},
                                            "c":{"$ref":"#/definitions/a"}}})");
    EXPECT_TRUE(contains(load_error(), "refers back to itself"));
    write("looped.json", R"({"$ref":"#"})");
    EXPECT_TRUE(contains(load_error(), "refers back to itself"));
}

TEST_F(schema_dir_test, refuses_regex_counts_that_would_build_a_huge_automaton) {
    // Found by the validation fuzz target: a{1,366666666} made RapidJSON 1.1.0 allocate
    // gigabytes while compiling the pattern.
    write("counted.json", R"({"patternProperties":{"^a{1,366666666}$":{"maximum":2}}})");
    EXPECT_TRUE(contains(load_error(), "a count above 1000")) << load_error();
    write("counted.json", R"({"properties":{"c":{"type":"string","pattern":"^(a{100}){100}b{20}$"}}})");
    EXPECT_TRUE(contains(load_error(), "multiply past 100000")) << load_error();
    write("counted.json", R"({"properties":{"c":{"type":"string","pattern":"^[0-9]{3}-[0-9]{4,1000}$"}}})");
    EXPECT_EQ(load_error(), "");
}

TEST_F(schema_dir_test, follows_a_recursive_ref_that_descends_into_the_instance) {
    // A tree: each level refers to the root through "properties", which consumes a level
    // of the instance, so validation ends.
    write("tree.json", R"({"type":"object","required":["ts"],
                           "properties":{"child":{"$ref":"#"},"ts":{"type":"integer"}}})");
    auto driver = validated(options());
    driver.pipe(R"({"player_id":1,"type":"tree","ts":1,"child":{"ts":2,"child":{"ts":3}}})");
    driver.pipe(R"({"player_id":1,"type":"tree","ts":1,"child":{"ts":2,"child":{"ts":"x"}}})");
    const auto dead = dead_letters(driver);
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_TRUE(contains(dead[0].detail, "#/child/child/ts")) << dead[0].detail;
}

}  // namespace
