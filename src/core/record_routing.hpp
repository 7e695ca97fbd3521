// Internal: which shard a record goes to, decided without parsing it, so the thread that
// routes (a source thread, or a host thread calling runtime::submit) leaves the parse to
// the shards, which run in parallel. Inline: it runs once per record on those threads.
#pragma once

#include "key_scan.hpp"
#include "parsed_key.hpp"

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/player_key.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace rtcrm::detail {

// Where a record goes and its event time, as far as a scan can tell (see scanned_key).
struct record_route {
    std::uint32_t shard = 0;
    std::optional<std::int64_t> ts;
};

// The shard that owns `rec`'s player: a function of the key's text alone (as
// player_key::shard computes it), found by a cheap scan of the bytes, which also reads `ts`.
inline record_route route_record(const record& rec, const parse_options& parse, std::uint32_t shards) {
    auto shard_of_text = [&](std::string_view text) { return (murmur2(text) & 0x7fffffffU) % shards; };
    if (rec.bytes.size() > parse.max_size) {
        // Refused at parse: no time, and any shard (the transport key's, if any) will say why.
        return {shard_of_text(rec.key && !rec.key->empty() ? std::string_view{*rec.key} : std::string_view{rec.bytes}),
                std::nullopt};
    }
    const auto key = scan_key(rec.bytes, parse.key_field);
    if (rec.key && !rec.key->empty()) {
        return {shard_of_text(*rec.key), key.ts};
    }
    if (key.what != scanned_key::kind::unknown) {
        return {shard_of_text(key.text), key.ts};
    }
    // Escaped strings and other rare shapes: the parser's own key lookup, which does
    // not depend on the other fields nor on the clock, so the shard's parse, if it
    // accepts the event, reads this same key.
    if (const auto parsed = parsed_player_key(rec.bytes, parse)) {
        return {parsed->shard(shards), key.ts};
    }
    // Bytes that will not parse: any shard will dead-letter them; spread them out.
    return {shard_of_text(rec.bytes), std::nullopt};
}

inline std::uint32_t shard_of_record(const record& rec, const parse_options& parse, std::uint32_t shards) {
    return route_record(rec, parse, shards).shard;
}

}  // namespace rtcrm::detail
