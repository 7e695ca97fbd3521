// What the Kafka source makes of a message's key and value (src/kafka/message_record.hpp):
// odd keys never become player keys, so routing is by the key field, and nothing a key
// holds can reach JSON outputs as invalid text.
#include "kafka/message_record.hpp"

#include <rtcrm/core/event.hpp>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

using rtcrm::detail::kafka::key_use;
using rtcrm::detail::kafka::max_player_key_size;
using rtcrm::detail::kafka::record_from_message;

namespace {

const std::string event_json = R"({"player_id":42,"type":"fight","ts":1})";

// The player of the event parsed from `key` and `event_json`, or the failure's reason name.
std::string player_of(std::optional<std::string_view> key) {
    auto taken = record_from_message(key, event_json, true);
    auto ev = rtcrm::parse_event(std::move(taken.rec), rtcrm::parse_options{});
    return ev ? std::string{ev->player().text()} : "error";
}

}  // namespace

TEST(kafka_message_record, a_utf8_key_is_the_player_key_and_the_value_is_kept_byte_for_byte) {
    const std::string value = std::string("{\"x\":1}\0\xff", 9);
    const auto m = record_from_message("player-\xc3\xa9", value, true);
    EXPECT_EQ(m.key, key_use::player);
    ASSERT_TRUE(m.rec.key.has_value());
    EXPECT_EQ(*m.rec.key, "player-\xc3\xa9");
    EXPECT_EQ(m.rec.bytes, value);
    EXPECT_EQ(player_of("7"), "7");  // the key wins over the JSON field
}

TEST(kafka_message_record, null_and_empty_keys_leave_the_player_to_the_key_field) {
    for (const auto& key : {std::optional<std::string_view>{}, std::optional<std::string_view>{""}}) {
        const auto m = record_from_message(key, event_json, true);
        EXPECT_EQ(m.key, key_use::absent);
        EXPECT_FALSE(m.rec.key.has_value());
        EXPECT_EQ(player_of(key), "42");
    }
}

TEST(kafka_message_record, keys_are_ignored_when_the_source_does_not_use_them) {
    const auto m = record_from_message("7", event_json, false);
    EXPECT_EQ(m.key, key_use::absent);
    EXPECT_FALSE(m.rec.key.has_value());
}

TEST(kafka_message_record, a_binary_or_invalid_utf8_key_is_not_used) {
    const std::string binary("\x00\x00\x00\x00\x00\x00\x00\x2a", 8);  // a big-endian 42
    for (const std::string& key : {std::string("\xff\xfe"), std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
                                   std::string("abc\xe2\x82")}) {
        const auto m = record_from_message(key, event_json, true);
        EXPECT_EQ(m.key, key_use::not_utf8) << key;
        EXPECT_FALSE(m.rec.key.has_value());
        EXPECT_EQ(player_of(key), "42");
    }
    const auto m = record_from_message(binary, event_json, true);
    EXPECT_EQ(m.key, key_use::control_character);  // NUL bytes are UTF-8, but control characters
    EXPECT_EQ(player_of(binary), "42");
}

TEST(kafka_message_record, a_key_with_control_characters_is_not_used) {
    for (const std::string& key : {std::string("a\nb"), std::string("tab\t"), std::string("\x7f"), std::string("\x1b[31m")}) {
        EXPECT_EQ(record_from_message(key, event_json, true).key, key_use::control_character) << key;
        EXPECT_EQ(player_of(key), "42");
    }
}

TEST(kafka_message_record, a_key_up_to_the_limit_is_used_and_a_longer_one_is_not) {
    const std::string longest(max_player_key_size, 'k');
    EXPECT_EQ(record_from_message(longest, event_json, true).key, key_use::player);
    const std::string too_long(max_player_key_size + 1, 'k');
    const auto m = record_from_message(too_long, event_json, true);
    EXPECT_EQ(m.key, key_use::too_long);
    EXPECT_FALSE(m.rec.key.has_value());
    const std::string huge(5'000'000, 'k');
    EXPECT_EQ(record_from_message(huge, event_json, true).key, key_use::too_long);
    EXPECT_EQ(player_of(huge), "42");
}

TEST(kafka_message_record, a_null_value_is_the_empty_event_and_is_dead_lettered_as_a_parse_error) {
    const auto m = record_from_message("7", std::nullopt, true);
    EXPECT_TRUE(m.rec.bytes.empty());
    auto ev = rtcrm::parse_event(record_from_message("7", std::nullopt, true).rec, rtcrm::parse_options{});
    ASSERT_FALSE(ev);
    EXPECT_EQ(ev.error().code, make_error_code(rtcrm::errc::parse_error));
}

TEST(kafka_message_record, every_used_key_is_text_a_json_string_can_carry) {
    // Any key the function accepts, written as a JSON string by RapidJSON, parses back
    // with UTF-8 validation: bytes 0x00..0xff one by one and a few multi-byte sequences.
    std::vector<std::string> keys;
    for (int b = 0; b < 256; ++b) {
        keys.emplace_back(1, static_cast<char>(b));
    }
    keys.emplace_back("\xf0\x9f\x8e\xae");
    keys.emplace_back("\"quoted\\");
    for (const auto& key : keys) {
        const auto m = record_from_message(key, event_json, true);
        if (m.key != key_use::player) {
            continue;
        }
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.String(m.rec.key->data(), static_cast<rapidjson::SizeType>(m.rec.key->size()));
        rapidjson::Document d;
        d.Parse<rapidjson::kParseValidateEncodingFlag>(buf.GetString(), buf.GetSize());
        EXPECT_FALSE(d.HasParseError()) << buf.GetString();
    }
}
