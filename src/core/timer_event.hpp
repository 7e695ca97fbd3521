// Internal: the event the runtime delivers when a player's pending timer comes due.
#pragma once

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/player_key.hpp>
#include <rtcrm/core/profile.hpp>

namespace rtcrm::detail {

// What only the runtime's own events may do.
enum class maker { source, runtime };

// The runtime's access to an event's private parts.
struct timer_event_access {
    static result<event> parse(record&& rec, const parse_options& options, maker made_by);
    static void set_ref(event& ev, std::string_view ref) { ev.timer_ref_.assign(ref); }
    // The timers' clock when the event's record was read (see shard_stage::process).
    static void set_clock(event& ev, std::int64_t clock) noexcept { ev.clock_ = clock; }
    [[nodiscard]] static std::int64_t clock(const event& ev) noexcept { return ev.clock_; }
};

// The event `timer:<name>` of `player`: `ts` the due time, `id` the arming event's id,
// `data` the stored data, `origin().timer` set, `timer_ref()` the arming reference. Its
// JSON is `{"<key field>":<key>,"type":"timer:<name>","ts":<due>[,"id":..][,"data":..]}`.
// Neither the size limit nor the time window applies: both were checked at arming.
event make_timer_event(const player_key& player, const pending_timer& timer, const parse_options& options);

}  // namespace rtcrm::detail
