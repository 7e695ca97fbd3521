// Internal: byte-text checks the Kafka component needs where bytes from a message or a
// key may end up in JSON (keys, dead-letter fallback lines).
#pragma once

#include <string>
#include <string_view>

namespace rtcrm::detail::kafka {

// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF). Pure.
[[nodiscard]] bool valid_utf8(std::string_view s) noexcept;

// Standard base64 (RFC 4648, with padding). Pure.
[[nodiscard]] std::string base64(std::string_view bytes);

}  // namespace rtcrm::detail::kafka
