#include "gateway_body.hpp"

#include <rtcrm/core/error.hpp>

#include <fmt/format.h>

#include <limits>

namespace rtcrm::detail::http {

namespace {
bool blank(std::string_view text) { return text.find_first_not_of(" \t") == std::string_view::npos; }
}  // namespace

body_intake::body_intake(std::string body, const parse_options& parse, std::size_t line_limit, std::size_t max_listed)
    : body_(std::move(body)), parse_(&parse), line_limit_(line_limit), max_listed_(max_listed) {}

bool body_intake::next_line(std::string_view& text) {
    if (pos_ >= body_.size()) {
        return false;
    }
    auto end = body_.find('\n', pos_);
    if (end == std::string::npos) {
        end = body_.size();
    }
    ++line_;
    text = std::string_view{body_.data() + pos_, end - pos_};
    if (!text.empty() && text.back() == '\r') {
        text.remove_suffix(1);
    }
    pos_ = end + 1;
    return true;
}

body_intake::step body_intake::advance(std::size_t count_lines, std::size_t check_lines, std::size_t check_bytes) {
    std::string_view text;
    if (!counted_) {
        for (std::size_t n = 0; n < count_lines; ++n) {
            if (!next_line(text)) {
                counted_ = true;
                pos_ = 0;
                line_ = 0;
                out_.records.reserve(events_);
                writer_.StartArray();
                return step::more;
            }
            if (!blank(text) && ++events_ > line_limit_) {
                return step::too_many_lines;
            }
        }
        return step::more;
    }
    const auto slice_start = pos_;
    for (std::size_t n = 0; n < check_lines && pos_ - slice_start < check_bytes; ++n) {
        if (!next_line(text)) {
            return step::done;
        }
        if (blank(text)) {
            continue;
        }
        // Checked as the runtime will parse it; a bad line still goes on, to be dead-lettered.
        if (auto parsed = parse_event(text, *parse_); !parsed) {
            if (++out_.bad <= max_listed_) {
                writer_.StartObject();
                writer_.Key("line");
                writer_.Uint64(line_);
                writer_.Key("reason");
                const auto reason = errc_name(static_cast<errc>(parsed.error().code.value()));
                writer_.String(reason.data(), static_cast<rapidjson::SizeType>(reason.size()));
                writer_.Key("detail");
                writer_.String(parsed.error().reason.c_str(), static_cast<rapidjson::SizeType>(parsed.error().reason.size()));
                writer_.EndObject();
            }
        }
        out_.records.push_back(record{std::string{text}, std::nullopt, {}});
    }
    return pos_ >= body_.size() ? step::done : step::more;
}

event_body body_intake::take() {
    std::string{}.swap(body_);  // the records hold their own copies
    writer_.EndArray();
    const auto bad = out_.bad;
    const auto good = out_.records.size() - bad;
    if (bad == 0) {
        out_.answer = {202, fmt::format(R"({{"accepted":{}}})", good)};
    } else {
        const std::string_view listed{rejected_.GetString(), rejected_.GetSize()};
        out_.answer = {400, bad > max_listed_ ? fmt::format(R"({{"accepted":{},"rejected":{},"rejected_not_listed":{}}})",
                                                            good, listed, bad - max_listed_)
                                              : fmt::format(R"({{"accepted":{},"rejected":{}}})", good, listed)};
    }
    rejected_.Clear();
    rejected_.ShrinkToFit();
    return std::move(out_);
}

event_body split_event_body(std::string_view body, const parse_options& parse, std::size_t max_listed) {
    body_intake intake{std::string{body}, parse, std::numeric_limits<std::size_t>::max(), max_listed};
    constexpr auto all = std::numeric_limits<std::size_t>::max();
    while (intake.advance(all, all, all) != body_intake::step::done) {
    }
    return intake.take();
}

}  // namespace rtcrm::detail::http
