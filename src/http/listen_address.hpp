// Internal: "HOST:PORT" as given to --listen / --admin.
#pragma once

#include <rtcrm/core/error.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace rtcrm::detail::http {

// "HOST:PORT" → (host, port); throws invalid_config naming `what`.
inline std::pair<std::string, std::uint16_t> split_listen(std::string_view what, const std::string& listen) {
    const auto colon = listen.rfind(':');
    std::uint16_t port = 0;
    if (colon == std::string::npos || colon == 0 ||
        std::from_chars(listen.data() + colon + 1, listen.data() + listen.size(), port).ec != std::errc{}) {
        throw error(errc::invalid_config, fmt::format("{}: '{}' is not HOST:PORT", what, listen));
    }
    return {listen.substr(0, colon), port};
}

}  // namespace rtcrm::detail::http
