// The CQL decoders, on what a server (or anything listening at its address) sends. The
// input is a frame: its 9-byte header through decode_header, and when that accepts it,
// the body (as long as the header says, at most what is there) through decode_response;
// a Rows result then through what the session reads of system.local and system.peers (the
// token ring). Every byte of the input also goes through the value decoders, and through
// a reader reading each primitive of the notation in turn. A decoded response must be of
// the kind the header's opcode announced.
#include "cql/cql_frame.hpp"
#include "cql/cql_protocol.hpp"
#include "cql/cql_topology.hpp"
#include "cql/cql_values.hpp"
#include "fuzz_check.hpp"

#include <string>
#include <vector>

namespace {

using rtcrm::fuzz::check;
namespace cql = rtcrm::detail::cql;

void read_topology(const cql::rows_result& rows) {
    std::vector<std::pair<std::int64_t, std::size_t>> ring;
    if (const auto local = cql::local_node(rows)) {
        for (const auto t : local->tokens) {
            ring.emplace_back(t, 0);
        }
    }
    const auto peers = cql::peer_nodes(rows);
    for (std::size_t i = 0; i < peers.size(); ++i) {
        check(peers[i].address.size() == 4 || peers[i].address.size() == 16, "a peer's address is not 4 or 16 bytes");
        for (const auto t : peers[i].tokens) {
            ring.emplace_back(t, i + 1);
        }
    }
    const cql::token_ring tokens{ring};
    if (!tokens.empty()) {
        const auto sorted = tokens.tokens();
        const auto ranges = cql::token_ranges(sorted);
        check(!ranges.empty(), "a ring with tokens has no ranges");
        for (const auto t : sorted) {
            check(tokens.owner(t) <= peers.size(), "a token's owner is not a host of the ring");
        }
    }
}

void read_primitives(std::string_view in) {
    cql::reader r{in};
    (void)r.byte("byte");
    (void)r.short_("short");
    (void)r.int_("int");
    (void)r.long_("long");
    (void)r.string("string");
    (void)r.long_string("long string");
    (void)r.bytes("bytes");
    (void)r.short_bytes("short bytes");
    (void)r.string_list("string list");
    (void)r.string_map("string map");
    (void)r.string_multimap("string multimap");
    (void)r.uuid("uuid");
    (void)r.consistency("consistency");
    cql::skip_bytes_map(r);
    (void)r.raw(r.remaining() / 2, "raw");
    check(r.remaining() <= in.size(), "the reader read past its input");
    (void)cql::body_failure(r, "fuzz");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = rtcrm::fuzz::text_of(data, size);

    const cql::value v{std::string{in}};
    (void)cql::as_int(v);
    (void)cql::as_bigint(v);
    (void)cql::as_boolean(v);
    if (const auto u = cql::as_uuid(v)) {
        (void)cql::timeuuid_generator::unix_ms_of(*u);
    }
    (void)cql::murmur3_token(in);
    read_primitives(in);

    const auto header = cql::decode_header(in.substr(0, cql::header_size));
    if (!header) {
        return 0;
    }
    const auto rest = in.substr(std::min(in.size(), cql::header_size));
    const auto body = rest.substr(0, std::min<std::size_t>(header->length, rest.size()));
    std::vector<std::string> warnings;
    const auto response = cql::decode_response(header.value(), body, &warnings);
    if (!response) {
        check(!response.error().reason.empty(), "decode_response failed without a reason");
        return 0;
    }
    check(cql::opcode_of(response.value()) == header->opcode, "the decoded response is not of the header's opcode");
    if (const auto* rows = cql::rows_in(response)) {
        for (const auto& row : rows->rows) {
            check(row.size() == static_cast<std::size_t>(rows->metadata.column_count), "a row has another width than column_count");
        }
        read_topology(*rows);
    }
    return 0;
}
