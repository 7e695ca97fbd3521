// Kafka's topic-name rule, and the components that refuse a bad name at construction.
#include <rtcrm/core/error.hpp>
#include <rtcrm/kafka/handler_feed.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>
#include <rtcrm/kafka/kafka_source.hpp>
#include <rtcrm/kafka/kafka_topic.hpp>
#include <rtcrm/kafka/maintenance_reporter.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

bool mentions(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(kafka_topic_name, names_of_1_to_249_legal_characters_are_valid) {
    const std::vector<std::string> valid{"raw", "crm_trigger", "crm.dead-letter", "A", "...", "a..b", "_", "-",
                                         std::string(249, 'z')};
    for (const auto& name : valid) {
        EXPECT_EQ(rtcrm::kafka_topic_problem(name), "") << name;
    }
}

TEST(kafka_topic_name, a_name_over_249_characters_is_refused_with_its_length_and_the_rule) {
    const auto problem = rtcrm::kafka_topic_problem(std::string(300, 'a'));
    EXPECT_TRUE(mentions(problem, "300 characters")) << problem;
    EXPECT_TRUE(mentions(problem, "limit of 249")) << problem;
    EXPECT_TRUE(mentions(problem, "a-z A-Z 0-9 . _ -")) << problem;
    EXPECT_TRUE(mentions(problem, "topic \"aaaa")) << problem;  // named, shortened
    EXPECT_LT(problem.size(), 300U) << problem;
    EXPECT_NE(rtcrm::kafka_topic_problem(std::string(250, 'a')), "");
}

TEST(kafka_topic_name, empty_dot_and_dot_dot_are_refused) {
    EXPECT_TRUE(mentions(rtcrm::kafka_topic_problem(""), "empty"));
    EXPECT_TRUE(mentions(rtcrm::kafka_topic_problem("."), "topic \".\": not allowed"));
    EXPECT_TRUE(mentions(rtcrm::kafka_topic_problem(".."), "topic \"..\": not allowed"));
}

TEST(kafka_topic_name, an_illegal_character_is_named_with_its_position) {
    const auto space = rtcrm::kafka_topic_problem("crm trigger");
    EXPECT_TRUE(mentions(space, "topic \"crm trigger\": ' ' at position 4 is not allowed")) << space;
    const auto slash = rtcrm::kafka_topic_problem("a/b");
    EXPECT_TRUE(mentions(slash, "'/' at position 2")) << slash;
    const auto control = rtcrm::kafka_topic_problem(std::string("a\nb", 3));
    EXPECT_TRUE(mentions(control, "topic \"a\\x0ab\": byte 0x0a at position 2")) << control;
    const auto utf8 = rtcrm::kafka_topic_problem("caf\xc3\xa9");
    EXPECT_TRUE(mentions(utf8, "byte 0xc3 at position 4")) << utf8;
    const auto nul = rtcrm::kafka_topic_problem(std::string("a\0b", 3));
    EXPECT_TRUE(mentions(nul, "byte 0x00 at position 2")) << nul;
}

TEST(kafka_topic_name, validate_throws_invalid_config_naming_the_component) {
    try {
        rtcrm::validate_kafka_topic("bad topic", "kafka_sink");
        FAIL() << "a bad topic was accepted";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
        EXPECT_TRUE(mentions(e.what(), "kafka_sink: topic \"bad topic\"")) << e.what();
    }
    EXPECT_NO_THROW(rtcrm::validate_kafka_topic("good", "kafka_sink"));
}

// Construction needs no broker: the options are refused before any connection.
TEST(kafka_topic_name, kafka_components_refuse_a_bad_topic_at_construction) {
    const std::string long_name(300, 't');
    auto expect_refused = [&](auto make, std::string_view who) {
        try {
            make();
            ADD_FAILURE() << who << " accepted a 300-character topic";
        } catch (const rtcrm::error& e) {
            EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
            EXPECT_TRUE(mentions(e.what(), who)) << e.what();
            EXPECT_TRUE(mentions(e.what(), "300 characters")) << e.what();
        }
    };
    expect_refused([&] { rtcrm::kafka_source s{{.brokers = "127.0.0.1:1", .topic = long_name}}; }, "kafka_source");
    expect_refused([&] { rtcrm::kafka_sink s{{.brokers = "127.0.0.1:1", .topic = long_name}}; }, "kafka_sink");
    expect_refused([&] { rtcrm::handler_feed_options{.brokers = "127.0.0.1:1", .topic = long_name}.validate(); },
                   "kafka_handler_feed");
    expect_refused([&] { rtcrm::maintenance_options{.brokers = "127.0.0.1:1", .topic = long_name}.validate(); },
                   "maintenance_reporter");
}
