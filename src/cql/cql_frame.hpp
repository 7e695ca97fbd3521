/// @file cql_frame.hpp
/// The CQL native protocol, version 4, below the messages: the frame header (§2) and the
/// notation's primitive types (§3), with a writer and a reader for them. The messages are
/// in cql_protocol.hpp.
///
/// Spec: doc/native_protocol_v4.spec in apache/cassandra. Section numbers below refer to it.
///
/// Caveats:
/// - Compression is not negotiated (no STARTUP COMPRESSION option), so the compression
///   flag is never set by us and a frame that has it is refused.
/// - The reader never reads past the body it is given: a truncated or malformed body marks
///   it failed, naming the field, never UB.
#pragma once

#include <rtcrm/core/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::detail::cql {

/// The only protocol version spoken (the version byte without its direction bit).
inline constexpr std::uint8_t protocol_version = 4;
/// Bytes of the frame header (§2).
inline constexpr std::size_t header_size = 9;
/// The largest frame body accepted (the spec's limit is 256 MB).
inline constexpr std::uint32_t max_body_size = 256U << 20U;
/// Requests one connection can have in flight: request stream ids are 0..32767 (§2.3).
inline constexpr std::size_t max_streams = 32768;

/// §2.4: the message a frame carries.
enum class opcode : std::uint8_t {
    error = 0x00,
    startup = 0x01,
    ready = 0x02,
    authenticate = 0x03,
    options = 0x05,
    supported = 0x06,
    query = 0x07,
    result = 0x08,
    prepare = 0x09,
    execute = 0x0A,
    register_ = 0x0B,
    event = 0x0C,
    batch = 0x0D,
    auth_challenge = 0x0E,
    auth_response = 0x0F,
    auth_success = 0x10,
};

/// §2.2 frame flags.
namespace frame_flag {
inline constexpr std::uint8_t compression = 0x01;     ///< body compressed (never negotiated: refused)
inline constexpr std::uint8_t tracing = 0x02;         ///< request: trace it; response: a tracing id leads the body
inline constexpr std::uint8_t custom_payload = 0x04;  ///< a [bytes map] leads the body (after tracing id/warnings)
inline constexpr std::uint8_t warning = 0x08;         ///< response: a [string list] of warnings leads the body
}  // namespace frame_flag

/// §2: the 9-byte header in front of every body.
struct frame_header {
    std::uint8_t version = protocol_version;  ///< without the direction bit
    bool response = false;                    ///< the direction bit (0x80) of the version byte
    std::uint8_t flags = 0;                   ///< `frame_flag` bits
    std::int16_t stream = 0;                  ///< request/response pairing; -1 for EVENTs
    cql::opcode opcode = cql::opcode::error;  ///< the message in the body
    std::uint32_t length = 0;  ///< body length in bytes
};

/// Writes the header into 9 bytes at `out` (which must have room for them).
void encode_header(const frame_header& h, char* out) noexcept;
/// Reads a header; fails on a version other than 4, a length over `max_body_size`, or an
/// unknown opcode.
result<frame_header> decode_header(std::string_view nine_bytes);

/// §3 [consistency]: how many replicas must answer.
enum class consistency : std::uint16_t {
    any = 0x0000,
    one = 0x0001,
    two = 0x0002,
    three = 0x0003,
    quorum = 0x0004,
    all = 0x0005,
    local_quorum = 0x0006,
    each_quorum = 0x0007,
    serial = 0x0008,
    local_serial = 0x0009,
    local_one = 0x000A,
};
/// The level's name as CQL spells it ("LOCAL_QUORUM"); "UNKNOWN" out of range.
std::string_view consistency_name(consistency c) noexcept;

/// A bound or returned value: the bytes of its CQL serialisation, or null (nullopt).
/// ([bytes] with a negative length is null; the "not set" value (-2) is not used.)
using value = std::optional<std::string>;

/// §3 [string map] / [string multimap]
using string_map = std::map<std::string, std::string>;  ///< written in key order
/// §3 [string multimap], written in key order.
using string_multimap = std::map<std::string, std::vector<std::string>>;

// --- Primitive notation (§3) ------------------------------------------------------------

/// Appends the notation's primitives, big-endian, to a string. Never fails; lengths over
/// a field's range ([string] > 65535 bytes) are the caller's bug. Not synchronised.
class writer {
public:
    /// Appends to `out`, which must outlive the writer.
    explicit writer(std::string& out) : out_(out) {}
    void byte(std::uint8_t v);  ///< [byte]
    void short_(std::uint16_t v);  ///< [short]
    void int_(std::int32_t v);     ///< [int]
    void long_(std::int64_t v);    ///< [long]
    void string(std::string_view s);       ///< [string]: [short] length + bytes
    void long_string(std::string_view s);  ///< [long string]: [int] length + bytes
    void bytes(const value& v);            ///< [bytes]: [int] length (-1 = null) + bytes
    void short_bytes(std::string_view s);  ///< [short bytes]
    void string_list(const std::vector<std::string>& l);   ///< [string list]
    void string_map(const cql::string_map& m);              ///< [string map]
    void string_multimap(const cql::string_multimap& m);    ///< [string multimap]
    void uuid(const std::array<std::uint8_t, 16>& u);       ///< [uuid]: 16 bytes
    void consistency(cql::consistency c);                   ///< [consistency]: a [short]
    void raw(std::string_view s);                           ///< bytes as they are
    /// The size of the output string so far (a position for `patch_int`).
    [[nodiscard]] std::size_t size() const noexcept { return out_.size(); }
    /// Overwrites an [int] written earlier at `pos` (for lengths known only later).
    void patch_int(std::size_t pos, std::int32_t v);

private:
    std::string& out_;
};

/// Reads the notation's primitives from a body. A read past the end (or a negative length
/// where none is allowed) marks the reader failed and returns an empty value; the caller
/// checks `ok()` once at the end and reports `failed_at()`.
/// `what` names the field in the failure reason; it must be a string literal (kept as a
/// pointer). Not synchronised; `in` must outlive the reader and the views `raw` returns.
class reader {
public:
    /// Reads `in` from its start.
    explicit reader(std::string_view in) : in_(in) {}
    std::uint8_t byte(const char* what);       ///< [byte]
    std::uint16_t short_(const char* what);    ///< [short]
    std::int32_t int_(const char* what);       ///< [int]
    std::int64_t long_(const char* what);      ///< [long]
    std::string string(const char* what);      ///< [string]
    std::string long_string(const char* what); ///< [long string]; a negative length fails
    value bytes(const char* what);             ///< [bytes]/[value]: -1 is null; -2 and below fail
    std::string short_bytes(const char* what); ///< [short bytes]
    std::vector<std::string> string_list(const char* what);  ///< [string list]
    cql::string_map string_map(const char* what);            ///< [string map]
    cql::string_multimap string_multimap(const char* what);  ///< [string multimap]
    std::array<std::uint8_t, 16> uuid(const char* what);     ///< [uuid]
    cql::consistency consistency(const char* what);          ///< [consistency]; unknown levels fail
    std::string_view raw(std::size_t n, const char* what);   ///< n bytes, viewed in place

    /// True while every read so far succeeded.
    [[nodiscard]] bool ok() const noexcept { return failed_at_ == nullptr; }
    /// The name of the first field that could not be read, or nullptr.
    [[nodiscard]] const char* failed_at() const noexcept { return failed_at_; }
    /// Bytes not read yet.
    [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }
    /// Marks the reader failed (a decoder's own validity check).
    void fail(const char* what) noexcept {
        if (failed_at_ == nullptr) {
            failed_at_ = what;
        }
    }

private:
    bool take(std::size_t n, const char* what);
    std::string_view in_;
    std::size_t pos_ = 0;
    const char* failed_at_ = nullptr;
};

/// True for the opcodes a client sends (STARTUP, OPTIONS, QUERY, ...), false for those a
/// server sends.
bool is_request(opcode o) noexcept;

/// Skips a [bytes map] (a custom payload, §2.2): its contents mean nothing to rtcrm.
void skip_bytes_map(reader& r);

/// Why a decoder that has read a whole body with `r` must refuse it: the first field that
/// could not be read, or bytes that no field claimed (`errc::io_error`, the reason starting
/// "CQL <message>:"); nullopt when the body was read exactly.
std::optional<failure> body_failure(const reader& r, const char* message);

}  // namespace rtcrm::detail::cql
