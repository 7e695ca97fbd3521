// Internal: which handlers of a script set run for an event type, and in which order.
//
// Built once per script set (at a shard's swap), so an event costs one hash lookup. The
// order is part of the contract: updaters in registration order, then the conversions of
// the campaigns whose goal is the type, then the campaigns in evaluation order
// (descending priority, ties in registration order).
#pragma once

#include "vm.hpp"

#include <rtcrm/core/event.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rtcrm::detail::lua {

// Transparent hashing, so looking up an event type needs no std::string.
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// A campaign an event type concerns: as an `on` type, as an `unless` type, or both.
struct campaign_hit {
    std::size_t campaign;  // index among the campaigns
    bool on = false;
    bool unless = false;
};

// The handlers to run for one event type: updaters in registration order (indices into
// the script set's handler list), the campaigns whose goal is the type (their conversions,
// in registration order), then the campaigns in evaluation order: descending priority,
// ties in registration order.
struct dispatch_entry {
    std::vector<std::size_t> updaters;
    std::vector<std::size_t> goals;
    std::vector<campaign_hit> campaigns;
};

// Timer events ("timer:NAME") are the runtime's, not the game's: "*" never matches them.
inline constexpr std::string_view timer_type_prefix = timer_event_prefix;
inline bool is_timer_type(std::string_view type) noexcept { return type.starts_with(timer_type_prefix); }

class dispatch_table {
public:
    // Rebuilds the table for a script set's handlers.
    void build(const std::vector<updater_spec>& updaters, const std::vector<campaign_spec>& campaigns);
    // The handlers of `type`; nullptr if none (a timer type no handler names, or no "*").
    [[nodiscard]] const dispatch_entry* handlers_for(std::string_view type) const;
    // A campaign's place in the evaluation order (0 first).
    [[nodiscard]] std::size_t rank(std::size_t campaign) const { return rank_[campaign]; }

private:
    // The entries "*" joins: every type's but the timer types'.
    std::vector<dispatch_entry*> all_entries();

    std::unordered_map<std::string, dispatch_entry, string_hash, std::equal_to<>> dispatch_;
    dispatch_entry any_;
    std::vector<std::size_t> rank_;  // per campaign: its place in the evaluation order
};

}  // namespace rtcrm::detail::lua
