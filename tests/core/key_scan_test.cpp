#include "core/key_scan.hpp"

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/generator_source.hpp>

#include <gtest/gtest.h>

namespace {

using rtcrm::detail::scan_key;
using kind = rtcrm::detail::scanned_key::kind;

TEST(scan_key, finds_integer_and_string_keys) {
    EXPECT_EQ(scan_key(R"({"player_id":42,"type":"x"})", "player_id").what, kind::integer);
    EXPECT_EQ(scan_key(R"({"player_id":42,"type":"x"})", "player_id").text, "42");
    EXPECT_EQ(scan_key(R"({"type":"x","player_id":-7})", "player_id").text, "-7");
    const auto s = scan_key(R"({ "type" : "x" , "player_id" : "bob" })", "player_id");
    EXPECT_EQ(s.what, kind::string);
    EXPECT_EQ(s.text, "bob");
}

TEST(scan_key, skips_nested_values_and_strings_that_look_like_the_key) {
    const auto k = scan_key(R"({"data":{"player_id":1,"list":[{"a":"}"}]},"note":"\"player_id\":2","player_id":3})", "player_id");
    EXPECT_EQ(k.what, kind::integer);
    EXPECT_EQ(k.text, "3");
}

TEST(scan_key, leaves_anything_unusual_to_the_full_parser) {
    for (const char* json : {R"({"type":"x"})", R"({"player_id":4.2})", R"({"player_id":1e3})", R"({"player_id":-0})",
                             R"({"player_id":"a\"b"})", R"({"player_id":""})", R"({"player_id":null})", R"({"player_id":)",
                             R"([1,2])", "", "not json", R"({"player_id":007})", R"({"player_id":12345678901234567890})"}) {
        EXPECT_EQ(scan_key(json, "player_id").what, kind::unknown) << json;
    }
}

// The scan must route every event exactly where the full parse's key would.
TEST(scan_key, agrees_with_the_parser_on_generated_traffic) {
    rtcrm::generator_source gen{{.events = 5000, .players = 300, .scenario = "bob"}};
    std::vector<rtcrm::record> records;
    while (gen.poll(records, 256, std::chrono::milliseconds(0)) == rtcrm::poll_status::more) {
    }
    ASSERT_EQ(records.size(), 5000U);
    for (const auto& rec : records) {
        const auto scanned = scan_key(rec.bytes, "player_id");
        auto parsed = rtcrm::parse_event(std::string_view{rec.bytes}, {});
        ASSERT_TRUE(parsed);
        ASSERT_NE(scanned.what, kind::unknown) << rec.bytes;
        EXPECT_EQ(scanned.text, parsed->player().text());
    }
}

}  // namespace
