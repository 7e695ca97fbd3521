// Internal: which arm of a campaign's experiment a player is in.
//
// A pure function of (campaign id, player key), the same on every shard, instance and
// restart, and simple enough for an analyst to recompute in SQL:
//
//   bucket = (murmur2(campaign_id_text + ":" + player_key_text) & 0x7fffffff) % 10000
//
// with Kafka's murmur2 (seed 0x9747b28c, as the router), `campaign_id_text` the campaign's
// id as text (3 -> "3") and `player_key_text` the key's text (player_key::text()). With
// H = holdout_buckets = floor(holdout * 10000 + 0.5): a bucket below H is "control".
// Otherwise, with W the sum of the variants' weights and x = (bucket - H) * W, the player
// gets the first variant i (in the order listed) with x < (w_1 + ... + w_i) * (10000 - H).
// A campaign without variants has the one arm "treatment". 64-bit arithmetic throughout.
#pragma once

#include "vm.hpp"

#include <rtcrm/core/player_key.hpp>

#include <cstdint>
#include <string_view>

namespace rtcrm::detail::lua {

inline constexpr std::int64_t arm_buckets = 10'000;
inline constexpr std::string_view control_arm = "control";
inline constexpr std::string_view treatment_arm = "treatment";

// The player's bucket in [0, 10000) for the campaign `campaign_id`.
std::int64_t arm_bucket(std::string_view campaign_id, std::string_view player_key_text);

// The arm of a bucket: 0 for control, i + 1 for variant i, or 1 for "treatment" when the
// campaign has no variants.
std::size_t arm_of_bucket(const campaign_spec& spec, std::int64_t bucket) noexcept;

// The arm's name for arm_of_bucket's result.
std::string_view arm_name(const campaign_spec& spec, std::size_t arm) noexcept;

// arm_of_bucket(spec, arm_bucket(spec.id, key.text())).
std::size_t assign_arm(const campaign_spec& spec, const player_key& key);

}  // namespace rtcrm::detail::lua
