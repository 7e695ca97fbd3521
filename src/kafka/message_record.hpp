// Internal: what the Kafka source makes of one consumed message, as a pure function of
// the message's key and value, so it can be tested and fuzzed without a broker.
//
// Rules:
// - The value becomes `record::bytes` unchanged (any bytes; a null value, a tombstone,
//   is the empty event, which is then dead-lettered as a parse error with "raw":"").
// - The key names the player (`record::key`) when the source uses keys
//   (`kafka_source_options::key_from_message`) and the key is usable: 1 to
//   `max_player_key_size` bytes of well-formed UTF-8 without control characters (U+0000
//   to U+001F, U+007F). Such a key is what the event's player is and what routes it to a
//   shard (the shard of murmur2 of its bytes, as Kafka's partitioner).
// - Any other key (null, empty, binary, not UTF-8, with control characters, too long)
//   is not used: the record has no transport key, so the player and the shard come from
//   the event's key field (`parse_options::key_field`), exactly as for a message without
//   a key; without that field the event is dead-lettered (`missing_field`). A player key
//   therefore always is text that JSON outputs (triggers, dead letters) can carry.
// - Headers are not read: they never change the record, its player or its shard.
#pragma once

#include <rtcrm/core/event.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rtcrm::detail::kafka {

// The longest message key used as a player key, in bytes.
inline constexpr std::size_t max_player_key_size = 256;

// What happened to a message's key.
enum class key_use : std::uint8_t {
    player,             // the key is the record's player key
    absent,             // no key (null or empty), or keys are not used: nothing to report
    not_utf8,           // not used: not well-formed UTF-8 (e.g. a binary key)
    control_character,  // not used: holds a control character
    too_long,           // not used: longer than max_player_key_size
};

// "not_utf8", ... for logs and tests.
[[nodiscard]] std::string_view key_use_name(key_use use) noexcept;

// The record made of one message and what became of its key (see the rules above).
struct message_record {
    record rec;
    key_use key = key_use::absent;
};

// One message as a record. `key` and `value` are nullopt for Kafka's null key / null
// value; `use_key` is `kafka_source_options::key_from_message`. The caller fills
// `rec.origin` (partition, offset). Pure; never throws but for std::bad_alloc.
[[nodiscard]] message_record record_from_message(std::optional<std::string_view> key,
                                                 std::optional<std::string_view> value, bool use_key);

}  // namespace rtcrm::detail::kafka
