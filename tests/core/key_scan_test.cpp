#include "core/key_scan.hpp"
#include "core/record_routing.hpp"

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/generator_source.hpp>

#include <gtest/gtest.h>

#include <iostream>
#include <random>
#include <string>
#include <vector>

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

// Reading the first key member (the parser) and the last one (a scan) gave two players.
TEST(scan_key, gives_no_key_when_a_key_member_is_escaped_or_given_twice) {
    for (const char* json : {R"({"player\u005fid":"A","player_id":"D","type":"x"})",
                             R"({"player_id":"D","player\u005fid":"A","type":"x"})",
                             R"({"\u0070layer_id":"A","player_id":"D"})",
                             R"({"player_id":1,"type":"x","player_id":2})",
                             R"({"player_id":1,"player_id":1})"}) {
        EXPECT_EQ(scan_key(json, "player_id").what, kind::unknown) << json;
    }
    // An escaped name that is not the key field leaves the key decidable.
    const auto other = scan_key(R"({"pl\u0061yer":"x","n\"ame":1,"player\/id":1,"player_id":"D"})", "player_id");
    EXPECT_EQ(other.what, kind::string);
    EXPECT_EQ(other.text, "D");
}

// Inputs built from pieces that scans get wrong: escaped names, \u escapes in names and
// values, duplicated members, nested key members, whitespace, strings holding the key.
std::vector<std::string> tricky_events(std::size_t n) {
    const std::vector<std::string> names = {
        R"("player_id")",       R"("player\u005fid")",  R"("\u0070layer_id")", R"("player\u005Fid")",
        R"("player_i\u0064")",  R"("player_id ")",      R"("Player_id")",      R"("player\\_id")",
        R"("player\/id")",      R"("player_\u0069d")",  R"("\u0070\u006c\u0061\u0079\u0065\u0072\u005f\u0069\u0064")",
        R"("player_id\u0000")", R"("type")",            R"("note")",           R"("p\ud83d\ude00")",
        R"("player\u005")",     R"("player\q_id")",
    };
    const std::vector<std::string> keys = {
        R"("A")", R"("D")", "42", "-7", "0", R"("a\"b")", R"("\u0041")", R"("bob\u005f")", "4.2", "1e3", "-0", "null",
        R"("")",  "true", R"({"player_id":9})", "[1,2]", "007", "12345678901234567890", R"("\"player_id\":5")", R"("é")",
    };
    const std::vector<std::string> others = {
        R"("type":"fight")",
        R"("ts":1)",
        R"("data":{"player_id":1,"list":[{"a":"}"}]})",
        R"("note":"\"player_id\":2")",
        R"("note":"player_id\":\"3")",
        R"("arr":["player_id",{"player_id":"x"}])",
        R"("x\u0022y":"\u0022player_id\u0022:1")",
        R"("s":"\\")",
        R"("type":"x","ts":5)",
    };
    const std::vector<std::string> spaces = {"", " ", "\n", "\t ", "\r\n"};
    std::mt19937 rng{20261207};
    auto pick = [&](const std::vector<std::string>& from) { return from[rng() % from.size()]; };
    std::vector<std::string> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        std::string json = "{" + pick(spaces);
        const std::size_t members = 1 + rng() % 5;
        bool typed = false;
        for (std::size_t m = 0; m < members; ++m) {
            if (m > 0) {
                json += pick(spaces) + "," + pick(spaces);
            }
            if (rng() % 3 == 0) {
                const auto other = pick(others);
                typed = typed || other.rfind(R"("type")", 0) == 0;
                json += other;
            } else {
                json += (rng() % 2 == 0 ? std::string{R"("player_id")"} : pick(names)) + pick(spaces) + ":" + pick(spaces) +
                        pick(keys);
            }
        }
        if (!typed || rng() % 2 == 0) {
            json += R"(,"type":"t")";
        }
        json += pick(spaces) + "}";
        out.push_back(std::move(json));
    }
    return out;
}

// The property routing relies on: a key the scan gives is the key the parser reads, and
// the record goes to the shard of the key its parse gives, whatever the bytes.
TEST(scan_key, agrees_with_the_parser_on_tricky_inputs) {
    const rtcrm::parse_options opts;
    std::size_t definite = 0;
    std::size_t parsed_ok = 0;
    std::size_t ambiguous = 0;
    for (const auto& json : tricky_events(20000)) {
        const auto scanned = scan_key(json, opts.key_field);
        auto parsed = rtcrm::parse_event(std::string_view{json}, opts);
        definite += scanned.what != kind::unknown ? 1 : 0;
        ambiguous += !parsed && parsed.error().code == rtcrm::errc::ambiguous_key ? 1 : 0;
        if (!parsed) {
            continue;
        }
        ++parsed_ok;
        if (scanned.what != kind::unknown) {
            EXPECT_EQ(scanned.text, parsed->player().text()) << json;
        }
        const rtcrm::record rec{json, std::nullopt, {}};
        for (const std::uint32_t shards : {7U, 16U}) {
            EXPECT_EQ(rtcrm::detail::shard_of_record(rec, opts, shards), parsed->player().shard(shards)) << json;
        }
    }
    // The generator reaches every case: keys the scan decides, events that parse, ambiguous ones.
    EXPECT_GT(definite, 1000U);
    EXPECT_GT(parsed_ok, 1000U);
    EXPECT_GT(ambiguous, 1000U);
    std::cout << definite << " keys scanned, " << parsed_ok << " events parsed, " << ambiguous << " ambiguous\n";
}

// 1,000 events alternating between two spellings of one member: each player gets all of
// its events, none is routed by a key its parse does not read.
TEST(scan_key, routes_alternating_escaped_keys_like_the_parser) {
    const rtcrm::parse_options opts;
    for (int i = 0; i < 1000; ++i) {
        const std::string json = i % 2 == 0 ? R"({"player\u005fid":"A","player_id":"D","type":"x","ts":1})"
                                            : R"({"player_id":"A","type":"x","ts":1})";
        const auto scanned = scan_key(json, opts.key_field);
        auto parsed = rtcrm::parse_event(std::string_view{json}, opts);
        if (i % 2 == 0) {
            EXPECT_EQ(scanned.what, kind::unknown);
            ASSERT_FALSE(parsed);
            EXPECT_EQ(parsed.error().code, rtcrm::errc::ambiguous_key);
        } else {
            ASSERT_TRUE(parsed);
            EXPECT_EQ(scanned.text, "A");
        }
    }
}

}  // namespace
