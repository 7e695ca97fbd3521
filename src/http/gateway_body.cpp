#include "gateway_body.hpp"

#include <rtcrm/core/error.hpp>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace rtcrm::detail::http {

event_body split_event_body(std::string_view body, const parse_options& parse) {
    event_body out;
    rapidjson::StringBuffer rejected;
    rapidjson::Writer<rapidjson::StringBuffer> w(rejected);
    w.StartArray();
    std::size_t line = 0;
    std::size_t start = 0;
    while (start < body.size()) {
        auto end = body.find('\n', start);
        if (end == std::string_view::npos) {
            end = body.size();
        }
        ++line;
        std::string_view text{body.data() + start, end - start};
        if (!text.empty() && text.back() == '\r') {
            text.remove_suffix(1);
        }
        start = end + 1;
        if (text.find_first_not_of(" \t") == std::string_view::npos) {
            continue;  // blank lines are no events
        }
        // Checked as the runtime will parse it; a bad line still goes on, to be dead-lettered.
        if (auto parsed = parse_event(text, parse); !parsed) {
            ++out.bad;
            w.StartObject();
            w.Key("line");
            w.Uint64(line);
            w.Key("reason");
            const auto reason = errc_name(static_cast<errc>(parsed.error().code.value()));
            w.String(reason.data(), static_cast<rapidjson::SizeType>(reason.size()));
            w.Key("detail");
            w.String(parsed.error().reason.c_str(), static_cast<rapidjson::SizeType>(parsed.error().reason.size()));
            w.EndObject();
        }
        out.records.push_back(record{std::string{text}, std::nullopt, {}});
    }
    w.EndArray();
    const auto good = out.records.size() - out.bad;
    if (out.bad == 0) {
        out.answer = {202, fmt::format(R"({{"accepted":{}}})", good)};
    } else {
        out.answer = {400, fmt::format(R"({{"accepted":{},"rejected":{}}})", good,
                                       std::string_view{rejected.GetString(), rejected.GetSize()})};
    }
    return out;
}

}  // namespace rtcrm::detail::http
