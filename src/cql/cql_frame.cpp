#include "cql/cql_frame.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace rtcrm::detail::cql {

namespace {

// The "not set" marker of a bound [value] (§3, §4.1.4): refused, see value's comment.
constexpr std::int32_t not_set_length = -2;

failure io_failure(std::string reason) {
    return failure{make_error_code(errc::io_error), std::move(reason)};
}

bool valid_consistency(std::uint16_t v) noexcept { return v <= static_cast<std::uint16_t>(consistency::local_one); }

bool valid_opcode(std::uint8_t v) noexcept {
    // 0x04 (CREDENTIALS) is a v1 message that v4 no longer has.
    return v <= static_cast<std::uint8_t>(opcode::auth_success) && v != 0x04;
}

}  // namespace

// --- Header -------------------------------------------------------------------------------

void encode_header(const frame_header& h, char* out) noexcept {
    out[0] = static_cast<char>(h.version | (h.response ? 0x80U : 0x00U));
    out[1] = static_cast<char>(h.flags);
    const auto stream = static_cast<std::uint16_t>(h.stream);
    out[2] = static_cast<char>(stream >> 8U);
    out[3] = static_cast<char>(stream & 0xFFU);
    out[4] = static_cast<char>(h.opcode);
    out[5] = static_cast<char>(h.length >> 24U);
    out[6] = static_cast<char>((h.length >> 16U) & 0xFFU);
    out[7] = static_cast<char>((h.length >> 8U) & 0xFFU);
    out[8] = static_cast<char>(h.length & 0xFFU);
}

result<frame_header> decode_header(std::string_view nine_bytes) {
    if (nine_bytes.size() < header_size) {
        return io_failure(fmt::format("CQL header: {} bytes, need {}", nine_bytes.size(), header_size));
    }
    const auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(nine_bytes[i]); };
    frame_header h;
    h.version = b(0) & 0x7FU;
    h.response = (b(0) & 0x80U) != 0;
    h.flags = b(1);
    h.stream = static_cast<std::int16_t>(static_cast<std::uint16_t>((b(2) << 8U) | b(3)));
    const std::uint8_t op = b(4);
    h.length = (static_cast<std::uint32_t>(b(5)) << 24U) | (static_cast<std::uint32_t>(b(6)) << 16U) |
               (static_cast<std::uint32_t>(b(7)) << 8U) | b(8);
    if (h.version != protocol_version) {
        return io_failure(fmt::format("CQL header: unsupported protocol version {} (only 4)", h.version));
    }
    if (!valid_opcode(op)) {
        return io_failure(fmt::format("CQL header: unknown opcode 0x{:02X}", op));
    }
    h.opcode = static_cast<cql::opcode>(op);
    if (h.length > max_body_size) {
        return io_failure(fmt::format("CQL header: body length {} over the limit {}", h.length, max_body_size));
    }
    return h;
}

std::string_view consistency_name(consistency c) noexcept {
    switch (c) {
        case consistency::any: return "ANY";
        case consistency::one: return "ONE";
        case consistency::two: return "TWO";
        case consistency::three: return "THREE";
        case consistency::quorum: return "QUORUM";
        case consistency::all: return "ALL";
        case consistency::local_quorum: return "LOCAL_QUORUM";
        case consistency::each_quorum: return "EACH_QUORUM";
        case consistency::serial: return "SERIAL";
        case consistency::local_serial: return "LOCAL_SERIAL";
        case consistency::local_one: return "LOCAL_ONE";
    }
    return "UNKNOWN";
}

// --- writer -------------------------------------------------------------------------------

void writer::byte(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }

void writer::short_(std::uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8U), static_cast<char>(v & 0xFFU)};
    out_.append(b, 2);
}

void writer::int_(std::int32_t v) {
    const auto u = static_cast<std::uint32_t>(v);
    const char b[4] = {static_cast<char>(u >> 24U), static_cast<char>((u >> 16U) & 0xFFU),
                       static_cast<char>((u >> 8U) & 0xFFU), static_cast<char>(u & 0xFFU)};
    out_.append(b, 4);
}

void writer::long_(std::int64_t v) {
    const auto u = static_cast<std::uint64_t>(v);
    char b[8];
    for (int i = 0; i < 8; ++i) {
        b[i] = static_cast<char>((u >> (56U - 8U * static_cast<unsigned>(i))) & 0xFFU);
    }
    out_.append(b, 8);
}

void writer::string(std::string_view s) {
    short_(static_cast<std::uint16_t>(s.size()));
    out_.append(s);
}

void writer::long_string(std::string_view s) {
    int_(static_cast<std::int32_t>(s.size()));
    out_.append(s);
}

void writer::bytes(const value& v) {
    if (!v) {
        int_(-1);
        return;
    }
    int_(static_cast<std::int32_t>(v->size()));
    out_.append(*v);
}

void writer::short_bytes(std::string_view s) { string(s); }

void writer::string_list(const std::vector<std::string>& l) {
    short_(static_cast<std::uint16_t>(l.size()));
    for (const auto& s : l) {
        string(s);
    }
}

void writer::string_map(const cql::string_map& m) {
    short_(static_cast<std::uint16_t>(m.size()));
    for (const auto& [k, v] : m) {
        string(k);
        string(v);
    }
}

void writer::string_multimap(const cql::string_multimap& m) {
    short_(static_cast<std::uint16_t>(m.size()));
    for (const auto& [k, v] : m) {
        string(k);
        string_list(v);
    }
}

void writer::uuid(const std::array<std::uint8_t, 16>& u) {
    out_.append(reinterpret_cast<const char*>(u.data()), u.size());
}

void writer::consistency(cql::consistency c) { short_(static_cast<std::uint16_t>(c)); }

void writer::raw(std::string_view s) { out_.append(s); }

void writer::patch_int(std::size_t pos, std::int32_t v) {
    const auto u = static_cast<std::uint32_t>(v);
    out_[pos] = static_cast<char>(u >> 24U);
    out_[pos + 1] = static_cast<char>((u >> 16U) & 0xFFU);
    out_[pos + 2] = static_cast<char>((u >> 8U) & 0xFFU);
    out_[pos + 3] = static_cast<char>(u & 0xFFU);
}

// --- reader -------------------------------------------------------------------------------

bool reader::take(std::size_t n, const char* what) {
    if (failed_at_ != nullptr) {
        return false;
    }
    if (n > in_.size() - pos_) {
        failed_at_ = what;
        return false;
    }
    return true;
}

std::uint8_t reader::byte(const char* what) {
    if (!take(1, what)) {
        return 0;
    }
    return static_cast<std::uint8_t>(in_[pos_++]);
}

std::uint16_t reader::short_(const char* what) {
    if (!take(2, what)) {
        return 0;
    }
    const auto v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(in_[pos_]) << 8U) |
                                              static_cast<std::uint8_t>(in_[pos_ + 1]));
    pos_ += 2;
    return v;
}

std::int32_t reader::int_(const char* what) {
    if (!take(4, what)) {
        return 0;
    }
    std::uint32_t u = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        u = (u << 8U) | static_cast<std::uint8_t>(in_[pos_ + i]);
    }
    pos_ += 4;
    return static_cast<std::int32_t>(u);
}

std::int64_t reader::long_(const char* what) {
    if (!take(8, what)) {
        return 0;
    }
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        u = (u << 8U) | static_cast<std::uint8_t>(in_[pos_ + i]);
    }
    pos_ += 8;
    return static_cast<std::int64_t>(u);
}

std::string reader::string(const char* what) {
    const std::uint16_t n = short_(what);
    return std::string(raw(n, what));
}

std::string reader::long_string(const char* what) {
    const std::int32_t n = int_(what);
    if (n < 0) {
        fail(what);
        return {};
    }
    return std::string(raw(static_cast<std::size_t>(n), what));
}

value reader::bytes(const char* what) {
    const std::int32_t n = int_(what);
    if (!ok()) {
        return std::nullopt;
    }
    if (n == -1) {
        return std::nullopt;
    }
    if (n < 0) {
        // -2 ("not set") and other negatives: see the comment on `value`.
        fail(n == not_set_length ? "value (\"not set\" is not supported)" : what);
        return std::nullopt;
    }
    return std::string(raw(static_cast<std::size_t>(n), what));
}

std::string reader::short_bytes(const char* what) { return string(what); }

std::vector<std::string> reader::string_list(const char* what) {
    std::vector<std::string> l;
    const std::uint16_t n = short_(what);
    for (std::uint16_t i = 0; i < n && ok(); ++i) {
        l.push_back(string(what));
    }
    return l;
}

cql::string_map reader::string_map(const char* what) {
    cql::string_map m;
    const std::uint16_t n = short_(what);
    for (std::uint16_t i = 0; i < n && ok(); ++i) {
        std::string k = string(what);
        std::string v = string(what);
        m.insert_or_assign(std::move(k), std::move(v));
    }
    return m;
}

cql::string_multimap reader::string_multimap(const char* what) {
    cql::string_multimap m;
    const std::uint16_t n = short_(what);
    for (std::uint16_t i = 0; i < n && ok(); ++i) {
        std::string k = string(what);
        m.insert_or_assign(std::move(k), string_list(what));
    }
    return m;
}

std::array<std::uint8_t, 16> reader::uuid(const char* what) {
    std::array<std::uint8_t, 16> u{};
    const std::string_view s = raw(16, what);
    std::copy(s.begin(), s.end(), u.begin());
    return u;
}

cql::consistency reader::consistency(const char* what) {
    const std::uint16_t v = short_(what);
    if (ok() && !valid_consistency(v)) {
        fail(what);
    }
    return static_cast<cql::consistency>(v);
}

std::string_view reader::raw(std::size_t n, const char* what) {
    if (!take(n, what)) {
        return {};
    }
    const std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
}

// --- Shared by both directions of the codec ---------------------------------------------------

bool is_request(opcode o) noexcept {
    switch (o) {
        case opcode::startup:
        case opcode::options:
        case opcode::query:
        case opcode::prepare:
        case opcode::execute:
        case opcode::register_:
        case opcode::batch:
        case opcode::auth_response:
            return true;
        default:
            return false;
    }
}

// Skips a [bytes map] (custom payload, §2.2): its contents mean nothing to rtcrm.
void skip_bytes_map(reader& r) {
    const std::uint16_t n = r.short_("custom payload count");
    for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
        (void)r.string("custom payload key");
        (void)r.bytes("custom payload value");
    }
}

std::optional<failure> body_failure(const reader& r, const char* message) {
    if (!r.ok()) {
        return io_failure(fmt::format("CQL {}: truncated or malformed field '{}'", message, r.failed_at()));
    }
    if (r.remaining() != 0) {
        return io_failure(fmt::format("CQL {}: {} trailing bytes after the body", message, r.remaining()));
    }
    return std::nullopt;
}

}  // namespace rtcrm::detail::cql
