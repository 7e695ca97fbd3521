// The gateway's body handling: detail::http::split_event_body (the gateway's body_intake run
// to its end), which cuts a `POST /events` body into records and writes the answer. The
// input is the body. Every line that is not blank becomes one record, in order, with its bytes unchanged (but a trailing '\r'); the
// answer is 202 when every line parses and 400 otherwise, and is a JSON object whose
// "accepted" counts the lines that parse and whose "rejected" lists the others, in order.
#include "fuzz_check.hpp"
#include "http/gateway_body.hpp"

#include <rtcrm/core/event.hpp>

#include <rapidjson/document.h>

#include <limits>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using rtcrm::fuzz::check;
    const auto body = rtcrm::fuzz::text_of(data, size);
    const rtcrm::parse_options parse;
    const auto split = rtcrm::detail::http::split_event_body(body, parse, std::numeric_limits<std::size_t>::max());

    std::vector<std::string> lines;
    std::vector<std::size_t> bad_lines;  // 1-based line numbers
    std::size_t number = 0;
    for (std::size_t start = 0; start < body.size();) {
        const auto end = std::min(body.find('\n', start), body.size());
        auto line = body.substr(start, end - start);
        start = end + 1;
        ++number;
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        if (line.find_first_not_of(" \t") == std::string_view::npos) {
            continue;
        }
        lines.emplace_back(line);
        if (!rtcrm::parse_event(line, parse)) {
            bad_lines.push_back(number);
        }
    }
    check(split.records.size() == lines.size(), "the body gave another number of records than non-blank lines");
    for (std::size_t i = 0; i < lines.size(); ++i) {
        check(split.records[i].bytes == lines[i] && !split.records[i].key, "a record differs from its line");
    }
    check(split.bad == bad_lines.size(), "the count of refused lines is wrong");
    check(split.answer.status == (bad_lines.empty() ? 202U : 400U), "the answer's status does not match the lines");

    rapidjson::Document answer;
    answer.Parse(split.answer.body.data(), split.answer.body.size());
    check(!answer.HasParseError() && answer.IsObject(), "the answer is not a JSON object");
    check(answer.HasMember("accepted") && answer["accepted"].IsUint64() &&
              answer["accepted"].GetUint64() == lines.size() - bad_lines.size(),
          "the answer's \"accepted\" is not the count of lines that parse");
    if (bad_lines.empty()) {
        check(!answer.HasMember("rejected"), "a 202 answer lists rejected lines");
        return 0;
    }
    check(answer.HasMember("rejected") && answer["rejected"].IsArray() && answer["rejected"].Size() == bad_lines.size(),
          "the answer's \"rejected\" does not list every refused line");
    for (rapidjson::SizeType i = 0; i < answer["rejected"].Size(); ++i) {
        const auto& r = answer["rejected"][i];
        check(r.IsObject() && r.HasMember("line") && r["line"].IsUint64() && r["line"].GetUint64() == bad_lines[i] &&
                  r.HasMember("reason") && r["reason"].IsString() && r.HasMember("detail") && r["detail"].IsString(),
              "a rejected line is not {line, reason, detail} with its line number");
    }
    return 0;
}
