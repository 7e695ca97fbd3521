#include "core/dead_letter.hpp"

#include <rtcrm/core/json_text.hpp>

#include <rapidjson/document.h>

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace std::string_literals;

rapidjson::Document parsed(const std::string& json) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
    EXPECT_FALSE(doc.HasParseError()) << json;
    return doc;
}

TEST(dead_letter_body, is_valid_json_whatever_the_bytes_and_the_reason) {
    const rtcrm::origin where{.source = 0, .partition = 3, .offset = 17};
    const auto raw = "{\"name\":\"b\xffo\xc3\"}\0tail"s;
    const auto body = rtcrm::detail::dead_letter_body(rtcrm::errc::handler_failed, "script said \xe2\x82 no", "gate\xc0way",
                                                      where, raw);
    ASSERT_TRUE(rtcrm::is_valid_utf8(body)) << body;
    const auto doc = parsed(body);
    ASSERT_TRUE(doc.IsObject());
    EXPECT_STREQ(doc["reason"].GetString(), "handler_failed");
    EXPECT_EQ(std::string(doc["detail"].GetString()), "script said \xEF\xBF\xBD no");
    EXPECT_EQ(std::string(doc["source"].GetString()), "gate\xEF\xBF\xBDway");
    EXPECT_EQ(doc["partition"].GetInt(), 3);
    EXPECT_EQ(doc["offset"].GetInt64(), 17);
    EXPECT_EQ(std::string(doc["raw"].GetString(), doc["raw"].GetStringLength()),
              "{\"name\":\"b\xEF\xBF\xBDo\xEF\xBF\xBD\"}\0tail"s);
    EXPECT_TRUE(doc["raw_utf8_replaced"].GetBool());
    EXPECT_STREQ(doc["raw_base64"].GetString(), "eyJuYW1lIjoiYv9vwyJ9AHRhaWw=");
}

TEST(dead_letter_body, keeps_valid_bytes_as_text_only) {
    const auto body = rtcrm::detail::dead_letter_body(rtcrm::errc::bad_time, "ts \"far\"", "ndjson", {},
                                                      R"({"player_id":"é","ts":9})");
    const auto doc = parsed(body);
    EXPECT_STREQ(doc["reason"].GetString(), "bad_time");
    EXPECT_STREQ(doc["detail"].GetString(), "ts \"far\"");
    EXPECT_STREQ(doc["raw"].GetString(), R"({"player_id":"é","ts":9})");
    EXPECT_FALSE(doc.HasMember("raw_utf8_replaced"));
    EXPECT_FALSE(doc.HasMember("raw_base64"));
}

}  // namespace
