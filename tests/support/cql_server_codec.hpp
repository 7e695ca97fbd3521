/// @file cql_server_codec.hpp
/// The server's side of the CQL v4 codec, for the test peer: requests are decoded and
/// responses encoded, the reverse of the client's side in src/cql/cql_protocol.hpp, over
/// the same message structs and the same frame primitives (cql_frame.hpp). The library
/// never answers requests, so this half lives with the peer.
///
/// Caveats:
/// - Decoders never read past the body they are given: a truncated or malformed body comes
///   back as a failure (`errc::io_error`, reason naming the field), never as UB.
#pragma once

#include "cql/cql_protocol.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::detail::cql {

/// What a response frame may carry in front of its body (§2.2); each one that is set is
/// written and its frame flag raised.
struct response_extras {
    std::optional<std::array<std::uint8_t, 16>> tracing_id;           ///< flag `tracing`
    std::optional<std::vector<std::string>> warnings;                  ///< flag `warning`
    std::optional<std::map<std::string, value>> custom_payload;        ///< flag `custom_payload`
};

/// Appends a response frame. `flags` may announce a tracing id, warnings or a custom
/// payload: they are written empty (a zero id, no warnings, an empty map) so the frame
/// stays well-formed; other flag bits are ignored. Use the `response_extras` overload to
/// send contents.
void encode_response(std::int16_t stream, const response& r, std::string& out, std::uint8_t flags = 0);
/// Appends a response frame with the given tracing id / warnings / custom payload.
void encode_response(std::int16_t stream, const response& r, std::string& out, const response_extras& extras);

/// Decodes a request body. Fails on an opcode that is not a request, a compressed frame,
/// named values (flag 0x40), a "not set" value, a truncated body, or trailing bytes. A
/// custom payload (flag 0x04) in front of the body is skipped.
result<request> decode_request(const frame_header& h, std::string_view body);

}  // namespace rtcrm::detail::cql
