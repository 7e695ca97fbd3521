// Internal: which shard a record goes to, decided without parsing it, so the thread that
// routes (a source thread, or a host thread calling runtime::submit) leaves the parse to
// the shards, which run in parallel. Inline: it runs once per record on those threads.
#pragma once

#include "key_scan.hpp"
#include "parsed_key.hpp"

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/player_key.hpp>

#include <cstdint>
#include <string_view>

namespace rtcrm::detail {

// The shard that owns `rec`'s player: a function of the key's text alone (as
// player_key::shard computes it), found by a cheap scan of the bytes.
inline std::uint32_t shard_of_record(const record& rec, const parse_options& parse, std::uint32_t shards) {
    auto shard_of_text = [&](std::string_view text) { return (murmur2(text) & 0x7fffffffU) % shards; };
    if (rec.key && !rec.key->empty()) {
        return shard_of_text(*rec.key);
    }
    if (rec.bytes.size() <= parse.max_size) {
        const auto key = scan_key(rec.bytes, parse.key_field);
        if (key.what != scanned_key::kind::unknown) {
            return shard_of_text(key.text);
        }
        // Escaped strings and other rare shapes: the parser's own key lookup, which does
        // not depend on the other fields nor on the clock, so the shard's parse, if it
        // accepts the event, reads this same key.
        if (const auto parsed = parsed_player_key(rec.bytes, parse)) {
            return parsed->shard(shards);
        }
    }
    // Bytes that will not parse: any shard will dead-letter them; spread them out.
    return shard_of_text(rec.bytes);
}

}  // namespace rtcrm::detail
