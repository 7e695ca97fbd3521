#include "dead_letter_fit.hpp"

#include "text.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

namespace rtcrm::detail::kafka {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(writer& w, std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// The byte count base64 text `b64` decodes to.
std::size_t decoded_size(std::string_view b64) noexcept {
    std::size_t pad = 0;
    for (auto it = b64.rbegin(); it != b64.rend() && *it == '=' && pad < 2; ++it) {
        ++pad;
    }
    const auto groups = b64.size() / 4;
    return groups * 3 - std::min(pad, groups * 3);
}

// The bytes RapidJSON's writer spends on `c` inside a string: escapes for '"', '\\' and
// control characters (\b \t \n \f \r, else \u00XX), every other byte as it is.
std::size_t written_size(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\' || c == '\b' || c == '\t' || c == '\n' || c == '\f' || c == '\r') {
        return 2;
    }
    return u < 0x20 ? 6 : 1;
}

// The longest cut of `raw` at or below `n` bytes that keeps it well formed.
std::size_t clean_cut(std::string_view raw, std::size_t n, bool base64_text) noexcept {
    n = std::min(n, raw.size());
    if (base64_text) {
        return n - n % 4;
    }
    // Back off UTF-8 continuation bytes: the cut must not split a character.
    while (n > 0 && n < raw.size() && (static_cast<unsigned char>(raw[n]) & 0xC0) == 0x80) {
        --n;
    }
    return n;
}

}  // namespace

std::optional<fitted_dead_letter> fit_dead_letter(std::string_view body, std::size_t max_size) {
    rapidjson::Document doc;
    doc.Parse(body.data(), body.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return std::nullopt;
    }
    // Bytes that are not UTF-8 come as "raw_base64" (exact) beside "raw" (with U+FFFD in
    // place of the bad sequences): the exact bytes are kept and cut, the lossy text dropped.
    const rapidjson::Value* raw_member = nullptr;
    bool base64_text = false;
    for (const auto& m : doc.GetObject()) {
        const std::string_view name{m.name.GetString(), m.name.GetStringLength()};
        if ((name == "raw" || name == "raw_base64") && m.value.IsString() && !base64_text) {
            raw_member = &m.value;
            base64_text = name == "raw_base64";
        }
    }
    if (raw_member == nullptr) {
        return std::nullopt;
    }
    const std::string_view raw{raw_member->GetString(), raw_member->GetStringLength()};
    std::size_t original = base64_text ? decoded_size(raw) : raw.size();
    // A record cut before keeps the size of the raw event it was cut from.
    const auto was_cut = doc.FindMember("truncated");
    const auto was_size = doc.FindMember("original_size");
    if (was_cut != doc.MemberEnd() && was_cut->value.IsTrue() && was_size != doc.MemberEnd() &&
        was_size->value.IsUint64()) {
        original = std::max<std::size_t>(original, was_size->value.GetUint64());
    }

    auto write = [&](std::size_t keep) {
        rapidjson::StringBuffer buf;
        writer w(buf);
        w.StartObject();
        for (const auto& m : doc.GetObject()) {
            const std::string_view name{m.name.GetString(), m.name.GetStringLength()};
            if (name == "truncated" || name == "original_size" ||
                (base64_text && (name == "raw" || name == "raw_utf8_replaced"))) {
                continue;
            }
            write_string(w, name);
            if (&m.value == raw_member) {
                write_string(w, raw.substr(0, keep));
            } else {
                m.value.Accept(w);
            }
        }
        w.Key("truncated");
        w.Bool(true);
        w.Key("original_size");
        w.Uint64(original);
        w.EndObject();
        return std::string{buf.GetString(), buf.GetSize()};
    };

    const auto empty = write(0);
    if (empty.size() > max_size) {
        return std::nullopt;
    }
    // The longest prefix whose written form fits the room the other members leave.
    const auto room = max_size - empty.size();
    std::size_t keep = 0;
    for (std::size_t used = 0; keep < raw.size(); ++keep) {
        used += written_size(raw[keep]);
        if (used > room) {
            break;
        }
    }
    keep = clean_cut(raw, keep, base64_text);
    // Each raw byte left out shortens the text by at least one byte, so should the
    // estimate above ever be short, cutting the excess off converges.
    for (;;) {
        auto out = write(keep);
        if (out.size() <= max_size) {
            return fitted_dead_letter{std::move(out), original};
        }
        const auto excess = out.size() - max_size;
        keep = clean_cut(raw, keep - std::min(keep, excess), base64_text);
    }
}

failure_kind classify_failure(rd_kafka_resp_err_t err) noexcept {
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: return failure_kind::too_large;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY: return failure_kind::transient;
    default: return failure_kind::permanent;
    }
}

std::string fallback_line(std::int64_t time_ms, std::string_view topic, std::string_view key, std::string_view error,
                          std::string_view body) {
    rapidjson::StringBuffer buf;
    writer w(buf);
    w.StartObject();
    w.Key("time_ms");
    w.Int64(time_ms);
    w.Key("topic");
    write_string(w, valid_utf8(topic) ? topic : base64(topic));
    if (!key.empty()) {
        if (valid_utf8(key)) {
            w.Key("key");
            write_string(w, key);
        } else {
            w.Key("key_base64");
            write_string(w, base64(key));
        }
    }
    w.Key("error");
    write_string(w, valid_utf8(error) ? error : base64(error));
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
    if (!doc.HasParseError()) {
        w.Key("record");
        doc.Accept(w);
    } else if (valid_utf8(body)) {
        w.Key("record_text");
        write_string(w, body);
    } else {
        w.Key("record_base64");
        write_string(w, base64(body));
    }
    w.EndObject();
    std::string line{buf.GetString(), buf.GetSize()};
    line += '\n';
    return line;
}

}  // namespace rtcrm::detail::kafka
