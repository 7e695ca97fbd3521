/// @file submit_status.hpp
/// What `runtime::submit` did with an event a host thread handed in (runtime.hpp): taken,
/// refused because the shard's queue stayed full, or refused because the runtime stops.
///
/// Caveats: `full` and `stopped` leave the record with the caller (it was not moved
/// from); only `accepted` promises that the event will be processed.
///
/// @code
///   if (const auto s = rt.submit(ev, std::chrono::milliseconds(5)); s != rtcrm::submit_status::accepted) {
///       log(rtcrm::submit_status_name(s));  // "full" or "stopped"
///   }
/// @endcode
#pragma once

#include <string_view>

namespace rtcrm {

/// What `runtime::submit` did with an event.
enum class submit_status {
    accepted,  ///< queued: it will be processed, even if `stop()` follows at once
    full,      ///< the queue stayed full for the whole timeout: not taken (drop, retry or wait longer)
    stopped,   ///< the runtime is stopping or stopped: not taken
};

/// "accepted", "full" or "stopped". Any thread.
std::string_view submit_status_name(submit_status s) noexcept;

}  // namespace rtcrm
