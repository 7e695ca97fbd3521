// Internal: the player key the full parse reads from an event's bytes, for routing the
// events the key scan cannot decide (see key_scan.hpp).
#pragma once

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/player_key.hpp>

#include <optional>
#include <string_view>

namespace rtcrm::detail {

// The key `parse_event` reads from `bytes` when the record has no transport key, or
// std::nullopt when it would refuse the bytes before or at the key (too large, not one
// JSON object, the key member missing, ambiguous or of the wrong type). Unlike
// parse_event it does not depend on the clock (the `ts` window) nor on the other
// fields, so a record routed by it goes to the shard of the key its parse will give.
std::optional<player_key> parsed_player_key(std::string_view bytes, const parse_options& options);

}  // namespace rtcrm::detail
