#include <rtcrm/core/json_text.hpp>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace {

using namespace std::string_literals;

const std::string fffd = "\xEF\xBF\xBD";

// Valid JSON text (UTF-8 checked) holding one string; returns the decoded string.
std::string decoded(const std::string& json) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
    EXPECT_FALSE(doc.HasParseError()) << rapidjson::GetParseError_En(doc.GetParseError()) << " in " << json;
    if (doc.HasParseError() || !doc.IsString()) {
        return {};
    }
    return {doc.GetString(), doc.GetStringLength()};
}

TEST(append_json_string, escapes_quotes_backslashes_and_control_characters) {
    std::string out;
    EXPECT_FALSE(rtcrm::append_json_string(out, "a\"b\\c\n\t\x01\x1f/\0z"s));
    EXPECT_EQ(out, R"("a\"b\\c\n\t\u0001\u001f/\u0000z")");
    EXPECT_EQ(decoded(out), "a\"b\\c\n\t\x01\x1f/\0z"s);
}

TEST(append_json_string, copies_valid_utf8_as_it_is) {
    const std::string text = "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf";
    std::string out;
    EXPECT_FALSE(rtcrm::append_json_string(out, text));
    EXPECT_EQ(out, "\"" + text + "\"");
    EXPECT_TRUE(rtcrm::is_valid_utf8(text));
}

// One U+FFFD per maximal ill-formed subpart (Unicode 3.9, the examples of Table 3-8).
TEST(append_json_string, replaces_each_ill_formed_sequence_by_one_replacement_character) {
    struct example {
        std::string in;
        std::string out;
    };
    for (const auto& [in, out] : std::vector<example>{
             {"\xff", fffd},
             {"a\x80z", "a" + fffd + "z"},
             {"\xc0\xaf", fffd + fffd},                   // overlong '/'
             {"\xe0\x80\xaf", fffd + fffd + fffd},        // overlong
             {"\xed\xa0\x80", fffd + fffd + fffd},        // an encoded surrogate
             {"\xf4\x90\x80\x80", fffd + fffd + fffd + fffd},  // past U+10FFFF
             {"\xe2\x82", fffd},                          // truncated at the end
             {"\xe2\x82z", fffd + "z"},                   // truncated before ASCII
             {"\xf0\x9f\x98", fffd},
             {"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
              "a" + fffd + fffd + fffd + "b" + fffd + "c" + fffd + fffd + "d"},
         }) {
        std::string json;
        EXPECT_TRUE(rtcrm::append_json_string(json, in));
        EXPECT_EQ(decoded(json), out);
        EXPECT_FALSE(rtcrm::is_valid_utf8(in));
        EXPECT_EQ(rtcrm::to_valid_utf8(in), out);
    }
    EXPECT_EQ(rtcrm::first_invalid_utf8("ab\xc3\xa9\xff"), 4U);
    EXPECT_EQ(rtcrm::first_invalid_utf8("ok"), 2U);
}

// Whatever the bytes, the output is valid JSON.
TEST(append_json_string, any_bytes_give_valid_json) {
    std::mt19937 rng{7};
    for (int i = 0; i < 2000; ++i) {
        std::string bytes(rng() % 40, '\0');
        for (auto& c : bytes) {
            c = static_cast<char>(rng() % 256);
        }
        std::string json;
        const bool replaced = rtcrm::append_json_string(json, bytes);
        const auto text = decoded(json);
        EXPECT_EQ(replaced, !rtcrm::is_valid_utf8(bytes));
        if (!replaced) {
            EXPECT_EQ(text, bytes);
        }
        EXPECT_TRUE(rtcrm::is_valid_utf8(rtcrm::to_valid_utf8(bytes)));
    }
}

}  // namespace
