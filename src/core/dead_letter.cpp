#include "dead_letter.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace rtcrm::detail {
namespace {

bool valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++p;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) < len) {
            return false;
        }
        for (std::size_t i = 1; i < len; ++i) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        p += len;
    }
    return true;
}

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
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto str = [&](std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); };
    w.StartObject();
    w.Key("reason");
    str(errc_name(code));
    w.Key("detail");
    str(reason);
    w.Key("source");
    str(source_name);
    w.Key("partition");
    w.Int(where.partition);
    w.Key("offset");
    w.Int64(where.offset);
    if (valid_utf8(raw)) {
        w.Key("raw");
        str(raw);
    } else {
        w.Key("raw_base64");
        str(base64(raw));
    }
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
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
