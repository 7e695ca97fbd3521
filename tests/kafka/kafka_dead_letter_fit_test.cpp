// The rules that make a dead letter deliverable (src/kafka/dead_letter_fit.hpp): the
// cut that fits a size, which errors retry, fall back or nack, the fallback file's lines.
#include "kafka/dead_letter_fit.hpp"
#include "kafka/fallback_file.hpp"
#include "kafka/text.hpp"

#include "core/dead_letter.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using rtcrm::detail::kafka::classify_failure;
using rtcrm::detail::kafka::failure_kind;
using rtcrm::detail::kafka::fallback_line;
using rtcrm::detail::kafka::fit_dead_letter;

namespace {

std::string record_of(std::string_view raw) {
    return rtcrm::detail::dead_letter_body(rtcrm::errc::too_large, "event is too large", "kafka:raw",
                                           rtcrm::origin{.partition = 3, .offset = 1234}, raw);
}

rapidjson::Document parse_valid(const std::string& json) {
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(json.c_str(), json.size());
    return d;
}

}  // namespace

TEST(kafka_dead_letter_fit, a_text_raw_is_cut_to_the_longest_prefix_that_fits_and_says_so) {
    const std::string raw(50'000, 'x');
    const auto body = record_of(raw);
    const auto fitted = fit_dead_letter(body, 10'000);
    ASSERT_TRUE(fitted.has_value());
    EXPECT_LE(fitted->body.size(), 10'000U);
    EXPECT_GE(fitted->body.size(), 9'990U);  // the longest prefix: plain ASCII leaves no gap
    EXPECT_EQ(fitted->original_size, raw.size());
    const auto d = parse_valid(fitted->body);
    ASSERT_TRUE(d.IsObject()) << fitted->body;
    EXPECT_TRUE(d["truncated"].GetBool());
    EXPECT_EQ(d["original_size"].GetUint64(), raw.size());
    EXPECT_EQ(std::string{d["reason"].GetString()}, "too_large");
    EXPECT_EQ(std::string{d["source"].GetString()}, "kafka:raw");
    EXPECT_EQ(d["partition"].GetInt(), 3);
    EXPECT_EQ(d["offset"].GetInt64(), 1234);
    const std::string cut{d["raw"].GetString(), d["raw"].GetStringLength()};
    EXPECT_EQ(raw.substr(0, cut.size()), cut);
}

TEST(kafka_dead_letter_fit, the_cut_never_splits_a_utf8_character) {
    std::string raw;
    for (int i = 0; i < 10'000; ++i) {
        raw += "\xe2\x82\xac";  // €, three bytes
    }
    const auto body = record_of(raw);
    for (std::size_t limit = 1'000; limit < 1'010; ++limit) {
        const auto fitted = fit_dead_letter(body, limit);
        ASSERT_TRUE(fitted.has_value());
        EXPECT_LE(fitted->body.size(), limit);
        const auto d = parse_valid(fitted->body);
        ASSERT_FALSE(d.HasParseError()) << "limit " << limit;  // valid UTF-8
        EXPECT_EQ(d["raw"].GetStringLength() % 3, 0U);
    }
}

TEST(kafka_dead_letter_fit, escaped_characters_count_at_their_escaped_size) {
    const std::string raw(20'000, '\x01');  // each one is written \u0001: six bytes
    const auto fitted = fit_dead_letter(record_of(raw), 6'000);
    ASSERT_TRUE(fitted.has_value());
    EXPECT_LE(fitted->body.size(), 6'000U);
    const auto d = parse_valid(fitted->body);
    ASSERT_TRUE(d.IsObject());
    EXPECT_GT(d["raw"].GetStringLength(), 900U);
    EXPECT_EQ(d["original_size"].GetUint64(), raw.size());
}

TEST(kafka_dead_letter_fit, a_base64_raw_is_cut_at_whole_groups_and_counts_the_decoded_size) {
    std::string raw(30'001, '\xff');  // not UTF-8: the record carries raw_base64
    const auto body = record_of(raw);
    ASSERT_NE(body.find("raw_base64"), std::string::npos);
    const auto fitted = fit_dead_letter(body, 5'000);
    ASSERT_TRUE(fitted.has_value());
    EXPECT_LE(fitted->body.size(), 5'000U);
    EXPECT_EQ(fitted->original_size, raw.size());
    const auto d = parse_valid(fitted->body);
    const std::string b64{d["raw_base64"].GetString(), d["raw_base64"].GetStringLength()};
    EXPECT_EQ(b64.size() % 4, 0U);
    EXPECT_EQ(rtcrm::detail::kafka::base64(raw.substr(0, b64.size() / 4 * 3)), b64);
    EXPECT_FALSE(d.HasMember("raw"));  // the lossy text beside the exact bytes is dropped
    EXPECT_FALSE(d.HasMember("raw_utf8_replaced"));
}

TEST(kafka_dead_letter_fit, a_record_that_cannot_fit_gives_nothing) {
    EXPECT_FALSE(fit_dead_letter(record_of(std::string(1'000, 'x')), 50));      // not even with an empty raw
    EXPECT_FALSE(fit_dead_letter(R"({"reason":"x","detail":"no raw here"})", 10));  // no raw member
    EXPECT_FALSE(fit_dead_letter("not json at all", 5));
    EXPECT_FALSE(fit_dead_letter(R"(["raw","array"])", 5));
    EXPECT_FALSE(fit_dead_letter("", 5));
}

TEST(kafka_dead_letter_fit, a_record_cut_twice_keeps_one_truncated_and_original_size) {
    const auto once = fit_dead_letter(record_of(std::string(10'000, 'x')), 5'000);
    ASSERT_TRUE(once);
    const auto twice = fit_dead_letter(once->body, 2'000);
    ASSERT_TRUE(twice);
    EXPECT_LE(twice->body.size(), 2'000U);
    EXPECT_EQ(twice->original_size, 10'000U);  // the raw event's, not the first cut's
    EXPECT_EQ(twice->body.find("\"truncated\""), twice->body.rfind("\"truncated\""));
    EXPECT_EQ(twice->body.find("\"original_size\""), twice->body.rfind("\"original_size\""));
}

TEST(kafka_dead_letter_fit, size_errors_retry_permanent_errors_fall_back_transient_errors_nack) {
    EXPECT_EQ(classify_failure(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), failure_kind::too_large);
    EXPECT_EQ(classify_failure(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE), failure_kind::too_large);
    for (const auto err : {RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                           RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                           RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR__FATAL, RD_KAFKA_RESP_ERR_POLICY_VIOLATION}) {
        EXPECT_EQ(classify_failure(err), failure_kind::permanent) << rd_kafka_err2name(err);
    }
    for (const auto err : {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
                           RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                           RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                           RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT}) {
        EXPECT_EQ(classify_failure(err), failure_kind::transient) << rd_kafka_err2name(err);
    }
}

TEST(kafka_dead_letter_fit, a_fallback_line_is_one_valid_json_line_whatever_the_key_and_record) {
    const auto record = record_of("{not json");
    const auto line = fallback_line(1'700'000'000'000, "dead", "7", "Broker: Topic authorization failed", record);
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    auto d = parse_valid(line);
    ASSERT_TRUE(d.IsObject()) << line;
    EXPECT_EQ(d["time_ms"].GetInt64(), 1'700'000'000'000);
    EXPECT_EQ(std::string{d["topic"].GetString()}, "dead");
    EXPECT_EQ(std::string{d["key"].GetString()}, "7");
    EXPECT_EQ(std::string{d["record"]["raw"].GetString()}, "{not json");

    // A binary key, and a record that is not JSON (with a newline in it): still one line.
    const auto odd = fallback_line(1, "dead", std::string("\xff\x00", 2), "e", "line one\nline two\xff");
    EXPECT_EQ(odd.find('\n'), odd.size() - 1);
    d = parse_valid(odd);
    ASSERT_TRUE(d.IsObject()) << odd;
    EXPECT_EQ(std::string{d["key_base64"].GetString()}, "/wA=");
    EXPECT_TRUE(d.HasMember("record_base64"));
    const auto text = parse_valid(fallback_line(1, "dead", "", "e", "plain\ntext"));
    EXPECT_FALSE(text.HasMember("key"));
    EXPECT_EQ(std::string{text["record_text"].GetString()}, "plain\ntext");
    // A JSON record with a trailing newline is re-written on the line, not copied.
    const auto trailing = fallback_line(1, "dead", "k", "e", "{\"a\":1}\n");
    EXPECT_EQ(trailing.find('\n'), trailing.size() - 1);
}

TEST(kafka_dead_letter_fit, the_fallback_file_appends_lines_and_reports_a_path_it_cannot_open) {
    const auto path = std::filesystem::temp_directory_path() / fmt::format("rtcrm-fallback-unit-{}.ndjson", ::getpid());
    std::filesystem::remove(path);
    {
        rtcrm::detail::kafka::fallback_file file{path.string()};
        EXPECT_EQ(file.append("{\"n\":1}\n"), "");
        EXPECT_EQ(file.append("{\"n\":2}\n"), "");
    }
    {
        rtcrm::detail::kafka::fallback_file again{path.string()};  // appends, never truncates
        EXPECT_EQ(again.append("{\"n\":3}\n"), "");
    }
    std::ifstream in(path);
    std::string all{std::istreambuf_iterator<char>(in), {}};
    EXPECT_EQ(all, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    std::filesystem::remove(path);

    rtcrm::detail::kafka::fallback_file nowhere{"/nonexistent-dir/x.ndjson"};
    const auto why = nowhere.append("{}\n");
    EXPECT_NE(why.find("/nonexistent-dir/x.ndjson: open: No such file or directory"), std::string::npos) << why;
}
