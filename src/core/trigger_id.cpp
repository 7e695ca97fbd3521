#include <rtcrm/core/trigger_id.hpp>

#include <charconv>

namespace rtcrm {

namespace {

constexpr std::string_view dry_run_suffix = ":dry_run";
constexpr std::string_view id_member = R"(,"trigger_id":")";

// RFC 3986 unreserved characters: the bytes a part keeps as they are.
constexpr bool unreserved(unsigned char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

// The bytes a trigger id can hold: a part's, the escape sign and the separator.
constexpr bool id_byte(unsigned char c) noexcept { return unreserved(c) || c == '%' || c == ':'; }

template <typename Integer>
void append_decimal(std::string& out, Integer value) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    (void)ec;  // 24 bytes hold any 64-bit integer
    out.append(buf, end);
}

}  // namespace

void append_trigger_id_part(std::string& out, std::string_view text) {
    constexpr std::string_view hex = "0123456789ABCDEF";
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (unreserved(c)) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xF];
        }
    }
}

std::uint64_t fnv1a_64(std::string_view bytes) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char ch : bytes) {
        h ^= static_cast<unsigned char>(ch);
        h *= 0x100000001b3ULL;
    }
    return h;
}

void append_event_ref(std::string& out, const event& ev) {
    const auto& o = ev.origin();
    // A timer event carries its arming event's id: its own reference comes first, so the
    // firing and the arming event's triggers never share an id.
    if (o.timer) {
        auto name = ev.type();
        if (name.starts_with(timer_event_prefix)) {
            name.remove_prefix(timer_event_prefix.size());
        }
        out += "t:";
        append_decimal(out, ev.ts());
        out += ':';
        append_trigger_id_part(out, name);
        out += ':';
        if (ev.timer_ref().empty()) {
            out += '-';
            return;
        }
        // An event_ref as this file writes it: kept as it is. Bytes no reference holds
        // (a store written by other means) are encoded, so the id stays in its alphabet.
        for (const char ch : ev.timer_ref()) {
            if (id_byte(static_cast<unsigned char>(ch))) {
                out += ch;
            } else {
                append_trigger_id_part(out, std::string_view{&ch, 1});
            }
        }
        return;
    }
    if (!ev.id().empty()) {
        out += "e:";
        append_trigger_id_part(out, ev.id());
        return;
    }
    if (o.offset >= 0 && !o.sequenced) {
        out += "o:";
        append_decimal(out, o.source);
        out += ':';
        append_decimal(out, o.partition);
        out += ':';
        append_decimal(out, o.offset);
        return;
    }
    constexpr std::string_view hex = "0123456789abcdef";
    const auto h = fnv1a_64(ev.raw());
    out += "h:";
    for (int shift = 60; shift >= 0; shift -= 4) {
        out += hex[(h >> shift) & 0xF];
    }
}

void append_trigger_id(std::string& out, std::string_view campaign, const event& ev, bool dry_run) {
    append_trigger_id_part(out, campaign);
    out += ':';
    append_trigger_id_part(out, ev.player().text());
    out += ':';
    append_event_ref(out, ev);
    if (dry_run) {
        out += dry_run_suffix;
    }
}

std::string trigger_id(std::string_view campaign, const event& ev, bool dry_run) {
    std::string out;
    append_trigger_id(out, campaign, ev, dry_run);
    return out;
}

std::string_view trigger_id_of(std::string_view body) noexcept {
    if (!body.ends_with("\"}")) {
        return {};
    }
    const auto at = body.rfind(id_member);
    if (at == std::string_view::npos) {
        return {};
    }
    const auto begin = at + id_member.size();
    if (begin > body.size() - 2) {
        return {};  // the member's opening quote is the body's closing one
    }
    const auto id = body.substr(begin, body.size() - 2 - begin);
    for (const char ch : id) {
        if (!id_byte(static_cast<unsigned char>(ch))) {
            return {};
        }
    }
    return id;
}

}  // namespace rtcrm
