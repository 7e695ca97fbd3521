// Library side of rtcrm/core/log.hpp: messages formatted only when their level is enabled.
#pragma once

#include <rtcrm/core/log.hpp>

#include <fmt/format.h>

#include <string_view>
#include <utility>

namespace rtcrm::detail {

// Formats and logs one message if `level` is enabled; otherwise the arguments are not even
// formatted. Never throws: it is called from catch blocks, destructors and C callbacks, and
// a message that cannot be formatted (no memory) is dropped.
template <typename... A>
void log_fmt(log_level level, std::string_view component, fmt::format_string<A...> format, A&&... args) noexcept {
    if (!log_enabled(level)) {
        return;
    }
    try {
        rtcrm::log(level, component, fmt::format(format, std::forward<A>(args)...));
    } catch (...) {
        // dropped: see above
    }
}

}  // namespace rtcrm::detail
