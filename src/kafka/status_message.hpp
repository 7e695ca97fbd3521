// Internal: the JSON of a maintenance status message (maintenance_reporter.hpp shows it).
#pragma once

#include <rtcrm/kafka/maintenance_reporter.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace rtcrm::detail::kafka {

// The status message of `instance` at wall-clock `ts_ms`. `s.campaigns`, a campaign report,
// contributes its "campaigns" array; a report that is not such a document (it never is
// from lua_engine) contributes an empty one, with a warning, so the message stays valid JSON.
std::string status_message(const maintenance_status& s, std::string_view instance, std::int64_t ts_ms,
                           double events_per_s);

}  // namespace rtcrm::detail::kafka
