#include "dead_letter.hpp"

#include <rtcrm/core/json_text.hpp>

#include <string>

namespace rtcrm::detail {
namespace {

std::string base64(std::string_view in) {
    static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    const auto* d = reinterpret_cast<const unsigned char*>(in.data());
    for (; i + 2 < in.size(); i += 3) {
        const std::uint32_t v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += table[v & 63];
    }
    if (i < in.size()) {
        std::uint32_t v = d[i] << 16;
        if (i + 1 < in.size()) {
            v |= d[i + 1] << 8;
        }
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += i + 1 < in.size() ? table[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

}  // namespace

std::string dead_letter_body(errc code, std::string_view reason, std::string_view source_name, const origin& where,
                             std::string_view raw) {
    std::string out;
    out.reserve(raw.size() + reason.size() + 128);
    out += R"({"reason":)";
    append_json_string(out, errc_name(code));
    out += R"(,"detail":)";
    append_json_string(out, reason);
    out += R"(,"source":)";
    append_json_string(out, source_name);
    out += R"(,"partition":)";
    out += std::to_string(where.partition);
    out += R"(,"offset":)";
    out += std::to_string(where.offset);
    out += R"(,"raw":)";
    // Ill-formed UTF-8 cannot go into JSON text as it is: "raw" shows it with U+FFFD in
    // place of each bad sequence, and "raw_base64" keeps the exact bytes for a replay.
    if (append_json_string(out, raw)) {
        out += R"(,"raw_utf8_replaced":true,"raw_base64":)";
        append_json_string(out, base64(raw));
    }
    out += '}';
    return out;
}

void dead_letter_record(record& rec, const failure& why, ack_token ack, const std::vector<std::string>& source_names,
                        output_buffer& outputs, stage_counters& counters) {
    const auto code = static_cast<errc>(why.code.value());
    const std::string_view source_name =
        rec.origin.source < source_names.size() ? std::string_view{source_names[rec.origin.source]} : "";
    // The transport key (a Kafka message key) still names the player when the bytes do not.
    player_key player = rec.key ? player_key{*rec.key} : player_key{};
    outputs.add(output{stream::dead_letter, std::move(player),
                       dead_letter_body(code, why.reason, source_name, rec.origin, rec.bytes), std::move(ack),
                       steady_now_ns()});
    stage_counters::bump(counters.dead_lettered);
    stage_counters::bump(counters.by_reason[stage_counters::reason_slot(code)]);
    stage_counters::bump(counters.outputs[static_cast<std::size_t>(stream::dead_letter)]);
}

}  // namespace rtcrm::detail
