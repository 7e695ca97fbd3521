#include "arm_assignment.hpp"

#include <string>

namespace rtcrm::detail::lua {

std::int64_t arm_bucket(std::string_view campaign_id, std::string_view player_key_text) {
    // A short-string buffer for the usual ids and keys: no allocation.
    thread_local std::string joined;
    joined.assign(campaign_id);
    joined += ':';
    joined += player_key_text;
    return static_cast<std::int64_t>(murmur2(joined) & 0x7fffffffU) % arm_buckets;
}

std::size_t arm_of_bucket(const campaign_spec& spec, std::int64_t bucket) noexcept {
    const std::int64_t h = spec.holdout_buckets;
    if (bucket < h) {
        return 0;
    }
    if (spec.variants.empty()) {
        return 1;
    }
    std::int64_t total = 0;
    for (const auto& v : spec.variants) {
        total += v.weight;
    }
    const std::int64_t x = (bucket - h) * total;
    std::int64_t cumulative = 0;
    for (std::size_t i = 0; i < spec.variants.size(); ++i) {
        cumulative += spec.variants[i].weight;
        if (x < cumulative * (arm_buckets - h)) {
            return i + 1;
        }
    }
    return spec.variants.size();  // not reached: x < W * (10000 - H) for every bucket
}

std::string_view arm_name(const campaign_spec& spec, std::size_t arm) noexcept {
    if (arm == 0) {
        return control_arm;
    }
    if (spec.variants.empty()) {
        return treatment_arm;
    }
    return spec.variants[arm - 1].name;
}

std::size_t assign_arm(const campaign_spec& spec, const player_key& key) {
    return arm_of_bucket(spec, arm_bucket(spec.id, key.text()));
}

}  // namespace rtcrm::detail::lua
